"""Numerical stability of the printed kernels: finite, and equal to PyTorch's, for
pre-activations over [-1000, 1000] in float32 and float64.

- The printer's rewrites (codegen/printer.py: stable softplus, the logistic
  quotient, expm1) are identities: the rewritten and the original SymPy
  expressions agree at moderate points, where both are well conditioned.
- Each elementwise activation's forward and backward kernel code, exactly as
  printed for the generated module, compiled with Numba and evaluated on a grid
  of z through [-1000, 1000] (past the exp overflow of float32 and float64).
- A generated module (float64 and float32) with every elementwise activation as
  a hidden layer, each layer's pre-activations spread over [-1000, 1000]: loss
  and gradients finite and equal to torch autograd's.

Everything is parametrised over the registries: a new entry is tested here
without writing a test.
"""
import functools
import math
import os
import sys

import numba
import numpy as np
import pytest
import sympy as sp
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from helpers import (  # noqa: E402
    TORCH_ACTIVATION_FN as TORCH_ACTIVATION, build, max_rel_err, param_shapes, rel_err_scalar,
    torch_forward, torch_grads,
)
from codegen.printer import (  # noqa: E402
    helper_sources, kernel_code, stable_form, stable_logistic, use_erfc, use_expm1,
)
from derive.activations import ACTIVATIONS  # noqa: E402
from derive.losses import LOSSES  # noqa: E402
from derive.model import activation_ir, loss_ir  # noqa: E402
from derive.symbols import z  # noqa: E402

ELEMENTWISE = [n for n, act in ACTIVATIONS.items() if not act.vector]
DTYPES = ["float64", "float32"]
F64_RTOL = 1e-9       # float64 against torch float64: per element in the kernel test,
                      # max-scaled (helpers.max_rel_err) in the module test
F64_ATOL = 1e-15      # kernel test: absolute floor, |err| <= max(rtol |want|, atol)
F32_RTOL = 1e-5       # float32 kernels against torch float64 at the same float32 inputs
F32_ATOL = 1e-6


# ---------------------------------------------------------------------------
# the printing rewrites are identities
# ---------------------------------------------------------------------------

u = sp.Symbol("u", real=True)
HANDMADE = {   # expression -> the rewrite that must fire on it
    "sigmoid'": (sp.exp(-u) / (1 + sp.exp(-u)) ** 2, stable_logistic),
    "softplus'": (sp.exp(u) / (sp.exp(u) + 1), stable_logistic),
    "p=2,q=3": (u * sp.exp(2 * u) / (1 + sp.exp(u)) ** 3 + 1, stable_logistic),
    "two quotients": (sp.exp(u) / (1 + sp.exp(u)) * sp.exp(-2 * u) / (1 + sp.exp(-u)) ** 2, stable_logistic),
    "elu": (sp.exp(u) - 1, use_expm1),
    "selu": (sp.Float(1.758) * sp.exp(u) - sp.Float(1.758), use_expm1),
    "1 - exp(-u)": (1 - sp.exp(-u), use_expm1),
    "gelu": (u / 2 * (1 + sp.erf(u / sp.sqrt(2))), use_erfc),
    "1 - erf(u)": (1 - sp.erf(u), use_erfc),
    "kept: exp(u) - 2": (sp.exp(u) - 2, None),
    "kept: erf(u) + 2": (sp.erf(u) + 2, None),
    "kept: exp(3u)/(1+exp(u))": (sp.exp(3 * u) / (1 + sp.exp(u)), None),
}
MODERATE = [-4.3, -1.7, -0.2, 0.0, 0.35, 1.9, 3.6]


@functools.cache
def _registry_expressions():
    out = {}
    for name in ELEMENTWISE:
        ir = activation_ir(name)
        out[f"{name}: forward"] = ir.definition
        out[f"{name}: backward"] = ir.backward
        out[f"{name}: dz"] = ir.dz
    for lname, loss in LOSSES.items():
        for out_name in ([loss.requires_output] if loss.requires_output else ["identity", "sigmoid", "softmax"]):
            ir = loss_ir(lname, activation_ir(out_name))
            out[f"{lname} on {out_name}: value"] = ir.value
            out[f"{lname} on {out_name}: delta"] = ir.delta
    return out


def _agree(e1, e2, symbol):
    """e1 == e2 at moderate values of `symbol`, the other symbols (a, y, s, ...) fixed:
    a rewrite must be an identity for all real values, so any fixed values do."""
    others = sorted((e1.free_symbols | e2.free_symbols) - {symbol}, key=str)
    for v in MODERATE:
        point = {symbol: sp.Rational(str(v))}
        point.update({s: sp.Rational(37 + 11 * i, 100) for i, s in enumerate(others)})
        want, got = e1.subs(point).evalf(40), e2.subs(point).evalf(40)
        assert abs(got - want) <= sp.Float("1e-25") * max(1, abs(want)), (e1, e2, v, want, got)


@pytest.mark.parametrize("key", list(HANDMADE))
def test_rewrite_is_an_identity_and_fires(key):
    expr, rewrite = HANDMADE[key]
    printed = stable_form(expr)
    _agree(expr, printed, u)
    if rewrite is None:
        assert printed == expr
    else:
        assert rewrite(expr) != expr
        assert printed != expr      # and stable_form, which the printer calls, applied it


@functools.cache
def _rewritten_registry_keys():
    """The registry expressions that stable_form changes: an unchanged one would only
    be compared with itself."""
    return tuple(k for k, e in _registry_expressions().items() if stable_form(e) != e)


def test_some_registry_expressions_are_rewritten():
    assert _rewritten_registry_keys(), "stable_form rewrites no registry expression"


@pytest.mark.parametrize("key", _rewritten_registry_keys())
def test_rewrites_of_registry_expressions_are_identities(key):
    expr = _registry_expressions()[key]
    printed = stable_form(expr)
    assert printed != expr
    _agree(expr, printed, z)


# ---------------------------------------------------------------------------
# the printed activation kernels, compiled, over [-1000, 1000]
# ---------------------------------------------------------------------------

GRID = np.unique(np.concatenate([
    np.linspace(-1000.0, 1000.0, 81),
    [-745.5, -709.9, -100.0, -88.8, -88.5, -30.0, -20.5, -1e-7, 0.0, 1e-7, 19.999, 20.0,
     20.001, 20.5, 88.5, 88.8, 100.0, 709.9, 745.5],
    np.linspace(-6.0, 6.0, 49),
]))


def _compiled(name, dtype):
    """The activation's forward and backward code, as printed, in jitted loops over z."""
    ir = activation_ir(name)
    forward, backward = (kernel_code(e, dtype=dtype) for e in (ir.definition, ir.backward))
    src = ("".join(helper_sources([forward, backward], "@njit"))
           + f"@njit\ndef forward(z):\n    return {forward}\n"
           f"@njit\ndef backward(z, a):\n    return {backward}\n"
           "@njit\ndef run(zs, fo, bo):\n"
           "    for i in range(zs.shape[0]):\n"
           "        fo[i] = forward(zs[i])\n"
           "        bo[i] = backward(zs[i], fo[i])\n")
    ns = {"math": math, "DT": getattr(np, dtype), "njit": numba.njit}
    exec(compile(src, f"<{name} kernels>", "exec"), ns)
    return ns


def _torch_value_and_grad(name, zs):
    t = torch.tensor(zs, dtype=torch.float64, requires_grad=True)
    out = TORCH_ACTIVATION[name](t)
    out.sum().backward()
    return out.detach().numpy(), t.grad.numpy()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_activation_kernels_finite_and_match_torch(name, dtype):
    ns = _compiled(name, dtype)
    DT = getattr(np, dtype)
    zs = GRID.astype(DT)
    fwd, bwd = np.empty_like(zs), np.empty_like(zs)
    ns["run"](zs, fwd, bwd)
    # computed in the module's dtype: no float64 constant upcasts a float32 kernel
    for fn in (ns["forward"], ns["backward"]):
        (sig,) = fn.nopython_signatures
        assert sig.return_type == numba.from_dtype(DT), (fn.__name__, sig)
    bad = zs[~(np.isfinite(fwd) & np.isfinite(bwd))]
    assert bad.size == 0, f"non-finite at z = {bad}"
    ref_f, ref_b = _torch_value_and_grad(name, zs.astype(np.float64))
    assert np.all(np.isfinite(ref_f)) and np.all(np.isfinite(ref_b))
    # per element: |got - want| <= max(rtol * |want|, atol), i.e. relative to the
    # value, with an absolute floor atol where the value is tiny. float64: rtol 1e-9,
    # atol F64_ATOL = 1e-15 (so below |want| = atol / rtol = 1e-6 the bound is the
    # absolute 1e-15): below it only the order of a sum shows (gelu'(-30) = 0.5 +
    # 0.5 erf(..) + (-4e-195): ours adds the halves first, torch the tiny term).
    # float32: rtol 1e-5, atol 1e-6 (relative below |want| = 0.1), since a
    # derivative in the output form loses what float32's rounding of a = f(z) loses
    # (sigmoid'(20) = a(1 - a) = 0 for a = 1; torch float32 gives 0 too).
    rtol = F64_RTOL if dtype == "float64" else F32_RTOL
    atol = F64_ATOL if dtype == "float64" else F32_ATOL
    for what, got, want in (("forward", fwd, ref_f), ("backward", bwd, ref_b)):
        err = np.abs(got.astype(np.float64) - want) / np.maximum(np.abs(want), atol / rtol)
        worst = int(np.argmax(err))
        assert err[worst] <= rtol, (f"{what} at z = {zs[worst]}: {got[worst]!r} vs torch "
                                    f"{want[worst]!r} (rel err {err[worst]:.2e})")


# ---------------------------------------------------------------------------
# a generated module, every activation hidden, pre-activations over [-1000, 1000]
# ---------------------------------------------------------------------------

UNITS = 8
INPUTS = 4
BIASES = np.array([-1000.0, -300.0, -25.0, -0.6, 0.4, 20.5, 300.0, 1000.0])


def _stack_spec(dtype):
    return {
        "name": f"stab_all_{dtype}",
        "inputs": INPUTS,
        "dtype": dtype,
        "layers": [{"units": UNITS, "activation": n} for n in ELEMENTWISE]
                  + [{"units": 2, "activation": "identity"}],
        "loss": {"kind": "mse"},
        "optimizer": {"kind": "sgd", "learning_rate": 0.1},
    }


def _extreme_params(spec, X, rng):
    """Weights such that every hidden layer's pre-activations spread over [-1000, 1000]:
    a bias per unit from BIASES plus A_prev @ W varying by about +-2 over the batch."""
    params = []
    shapes = param_shapes(spec)
    A = X
    for l, layer in enumerate(spec["layers"]):
        W = rng.normal(size=shapes[2 * l])
        W *= 1.0 / max(1.0, float(np.abs(A @ W).max()) / 2.0)
        last = l == len(spec["layers"]) - 1
        b = np.zeros(shapes[2 * l + 1]) if last else BIASES.copy()
        params += [W, b]
        sub = dict(spec, layers=spec["layers"][:l + 1])
        _, A = torch_forward(params, X, sub)
    return params


@pytest.fixture(scope="module")
def extreme_case():
    """(spec, params, X, y, hidden pre-activations) per dtype, built once."""
    out = {}
    for dtype in DTYPES:
        spec = _stack_spec(dtype)
        rng = np.random.default_rng(2024)
        X = rng.normal(size=(12, INPUTS))
        params = _extreme_params(spec, X, rng)
        if dtype == "float32":   # the torch reference sees the same float32 numbers
            params = [p.astype(np.float32).astype(np.float64) for p in params]
            X = X.astype(np.float32).astype(np.float64)
        y = rng.normal(size=(12, 2))
        out[dtype] = (spec, params, X, y)
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_extreme_preactivations_hidden(name, dtype, extreme_case):
    spec, params, X, y = extreme_case[dtype]
    layer = ELEMENTWISE.index(name)      # 0-based layer of this activation
    mod = build(spec)
    DT = getattr(np, dtype)
    # this layer's pre-activations do reach +-1000 (torch's forward of the prefix)
    Z, _ = torch_forward(params[:2 * layer + 2], X, dict(spec, layers=spec["layers"][:layer + 1]))
    assert Z.min() < -990 and Z.max() > 990

    L, grads = mod.loss_and_grad([p.astype(DT) for p in params], X.astype(DT), y)
    L_ref, g_ref = torch_grads(params, X, y, spec)
    assert np.isfinite(L), L
    for pname, g in zip(mod.PARAM_NAMES, grads):
        assert g.dtype == DT and np.all(np.isfinite(g)), f"{pname} not finite"
    rtol = F64_RTOL if dtype == "float64" else 1e-4   # float32: measured ~1e-6
    assert rel_err_scalar(L, L_ref) <= rtol, (L, L_ref)
    # this layer's W and b, and every gradient downstream of it (through it)
    mine = {p: max_rel_err(g, r) for p, g, r in zip(mod.PARAM_NAMES, grads, g_ref)}
    own = {p: e for p, e in mine.items() if p in (f"W{layer + 1}", f"b{layer + 1}")}
    assert max(own.values()) <= rtol, f"{name} layer gradients vs torch: {own}"
    assert max(mine.values()) <= rtol, f"all gradients vs torch: {mine}"


# ---------------------------------------------------------------------------
# every elementwise activation as the OUTPUT layer, with every elementwise loss:
# the derived delta, as printed, stays finite over z in [-1000, 1000]
# (simplify once turned silu + mse into a cosh form: inf/inf at z > 710)
# ---------------------------------------------------------------------------
ELEMENTWISE_LOSSES = [n for n, l in LOSSES.items() if l.requires_output is None]


@pytest.mark.parametrize("loss", ELEMENTWISE_LOSSES)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_output_delta_finite_at_extreme_logits(name, loss):
    ir = activation_ir(name)
    delta = loss_ir(loss, ir).delta
    src = (f"@njit\ndef forward(z):\n    return {kernel_code(ir.definition)}\n"
           f"@njit\ndef delta(z, a, y):\n    return {kernel_code(delta)}\n")
    ns = {"math": math, "DT": np.float64, "njit": numba.njit}
    exec(compile(src, f"<{name} {loss} delta>", "exec"), ns)
    for zv in GRID:
        for yv in (-1.0, 0.0, 0.5, 2.0):
            out = ns["delta"](zv, ns["forward"](zv), yv)
            assert math.isfinite(out), (name, loss, zv, yv, out)
