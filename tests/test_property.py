"""Property test: random MLPs, generated loss_and_grad vs PyTorch autograd (float64).

A network STRUCTURE (hidden activations, output activation, loss) is drawn from
the registries (`derive.activations.ACTIVATIONS`, `derive.losses.LOSSES`, iterated,
so new entries are picked up as they land) and from a small grammar of formula
activations / losses; each structure compiles one module. Widths are runtime (the
kernels take them from the arrays), so every structure is checked on several
random width vectors, batch sizes, parameters and targets.

The oracle is built from the SAME spec, independently of the generator:
built-in names map to torch functions (TORCH_ACTIVATIONS / TORCH_LOSSES below:
tests/helpers.py's shared tables, plus the two classification losses), and a formula is evaluated in torch by
walking the SymPy expression that `derive.formula.parse_formula` returns
(`sympy_to_torch`, no lambdify, no generated code). A registry name or a SymPy
node without a torch counterpart fails the test loudly; it is never skipped.

Explicit @example cases, computed from the registries, make sure every built-in
activation, every built-in loss, every formula template and formula loss is
exercised on every run (depths 1 to 5); Hypothesis adds random structures on top
(derandomized, no example database, so CI is reproducible). Weights are normal
with std scale/sqrt(fan_in), scale in {0.5, 1, 1.5}; biases normal with std 0.5.
"""
from __future__ import annotations

import contextlib
import functools
import operator
import os
import sys
import time

import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, example, given, settings, strategies as st

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import helpers  # noqa: E402
from helpers import build, max_rel_err, rel_err_scalar  # noqa: E402

from derive.activations import ACTIVATIONS  # noqa: E402
from derive.formula import FUNCTIONS, parse_formula  # noqa: E402
from derive.losses import LOSSES  # noqa: E402
from derive import symbols as S  # noqa: E402

RTOL = 1e-8
DERIVE_SECONDS = 120      # derive + generate one structure: a few s; a slow derivation fails
MAX_EXAMPLES = int(os.environ.get("GRADGEN_PROPERTY_EXAMPLES", "10"))

# ---------------------------------------------------------------------------
# the oracle: built-in names -> torch
# ---------------------------------------------------------------------------

TORCH_ACTIVATIONS = helpers.TORCH_ACTIVATION_FN   # the shared oracle table

# loss(Z_last, A_last, target) -> scalar; PyTorch's own losses, reduction="mean":
# the elementwise ones (on the outputs A) from tests/helpers.py's shared table, the
# two classification losses from the logits Z
TORCH_LOSSES = {
    **{name: (lambda fn: lambda Z, A, Y: fn(A, Y))(fn) for name, fn in helpers._ELEMENT_LOSSES.items()},
    "binary_cross_entropy":
        lambda Z, A, Y: F.binary_cross_entropy_with_logits(Z, Y, reduction="mean"),
    "cross_entropy": lambda Z, A, Y: F.cross_entropy(Z, Y, reduction="mean"),
}


def torch_activation(name):
    try:
        return TORCH_ACTIVATIONS[name]
    except KeyError:
        raise AssertionError(
            f"activation {name!r} is in derive.activations.ACTIVATIONS but has no torch "
            f"oracle: add it to TORCH_ACTIVATION_FN in tests/helpers.py") from None


def torch_loss(name):
    try:
        return TORCH_LOSSES[name]
    except KeyError:
        raise AssertionError(
            f"loss {name!r} is in derive.losses.LOSSES but has no torch oracle: "
            f"add it to TORCH_LOSSES in tests/test_property.py") from None


# ---------------------------------------------------------------------------
# the oracle: a SymPy expression -> torch, by walking the tree
# ---------------------------------------------------------------------------

_SYMPY_UNARY = {
    sp.exp: torch.exp, sp.log: torch.log, sp.Abs: torch.abs,
    sp.sin: torch.sin, sp.cos: torch.cos, sp.tan: torch.tan,
    sp.sinh: torch.sinh, sp.cosh: torch.cosh, sp.tanh: torch.tanh,
    sp.asinh: torch.asinh, sp.atan: torch.atan, sp.erf: torch.erf,
}


def _tensor(v):
    return v if isinstance(v, torch.Tensor) else torch.tensor(float(v), dtype=torch.float64)


def sympy_to_torch(expr, env):
    """Evaluate a SymPy expression with torch ops; env maps symbol names to tensors.

    Raises NotImplementedError (failing the test, loudly) on any node it does
    not know, so a new formula function cannot slip through untested."""
    if expr.is_Symbol:
        if expr.name not in env:
            raise NotImplementedError(f"symbol {expr.name!r} has no value in the torch oracle")
        return env[expr.name]
    if expr.is_number:                      # 2, 1/2, 0.25, pi, E, sqrt(2), log(3), ...
        value = complex(expr.evalf(30))
        if value.imag != 0:
            raise NotImplementedError(f"non-real constant {expr}")
        return value.real
    if isinstance(expr, sp.Add):
        return functools.reduce(operator.add, [sympy_to_torch(a, env) for a in expr.args])
    if isinstance(expr, sp.Mul):
        return functools.reduce(operator.mul, [sympy_to_torch(a, env) for a in expr.args])
    if isinstance(expr, sp.Pow):
        base = sympy_to_torch(expr.base, env)
        if expr.exp.is_Integer:
            return base ** int(expr.exp)
        if expr.exp == sp.Rational(1, 2):
            return torch.sqrt(_tensor(base))
        return _tensor(base) ** sympy_to_torch(expr.exp, env)
    if isinstance(expr, (sp.Max, sp.Min)):
        op = torch.maximum if isinstance(expr, sp.Max) else torch.minimum
        return functools.reduce(op, [_tensor(sympy_to_torch(a, env)) for a in expr.args])
    fn = _SYMPY_UNARY.get(expr.func)
    if fn is not None and len(expr.args) == 1:
        return fn(_tensor(sympy_to_torch(expr.args[0], env)))
    raise NotImplementedError(
        f"the torch oracle has no mapping for SymPy {expr.func.__name__} (in {expr}); "
        f"extend sympy_to_torch in tests/test_property.py")


def formula_activation(text):
    expr = parse_formula(text, ("x",))
    return lambda z: sympy_to_torch(expr, {"x": z}) + 0 * z     # + 0*z: a constant broadcasts


def formula_loss(text):
    expr = parse_formula(text, ("yhat", "y"))
    return lambda A, Y: (sympy_to_torch(expr, {"yhat": A, "y": Y}) + 0 * A).mean()


# ---------------------------------------------------------------------------
# the structure space
# ---------------------------------------------------------------------------

ELEMENTWISE = [name for name, act in ACTIVATIONS.items() if not act.vector]
VECTOR = [name for name, act in ACTIVATIONS.items() if act.vector]

# formula activations: templates in {x} (the argument) and {a} (a small constant);
# every one is defined (and, but for measure-zero kinks, smooth) on all of R, and
# grows at most linearly, so five stacked layers stay finite
ACT_TEMPLATES = [
    "{x}*sigmoid({a}*{x})",
    "{x}/({a} + abs({x}))",
    "tanh({a}*{x})*{x}",
    "log(1 + exp({a}*{x}))",
    "sin({a}*{x}) + {x}",
    "cos({a}*{x})*{a} + {x}",
    "2*atan({a}*{x})/pi",
    "asinh({x}) + {a}*{x}",
    "{x}*erf({a}*{x})",
    "0.5*{x}*(1 + erf({x}/sqrt(2)))",
    "max({x}, {a}*{x})",
    "min(max({x}, -{a}), {a}) + {x}/4",
    "sqrt({x}**2 + {a}) - sqrt({a})",
    "{x}*E**(-{a}*{x}**2) + {x}",
    "softplus({x}) - {a}",
    "tan({x}/(1 + abs({x})))",
    "sinh({a}*{x}/(1 + abs({x})))",
    "log(cosh({x}))/{a}",
    "{x}**3/(1 + {x}**2)",                  # its inverse is a cubic (once hung the derivation)
    "{x}**3/(1 + {x}**2 + {a}*abs({x}))",
    "exp(-{x}**2)*{a}",
]
CONSTANTS = [0.25, 0.5, 0.75, 1, 1.5, 2, 3]

LOSS_FORMULAS = [
    "(yhat - y)**2/2",
    "log(cosh(yhat - y))",
    "abs(yhat - y)**3",
    "sqrt(1 + (yhat - y)**2) - 1",
    "softplus(-y*yhat)",
    "0.5*(yhat - y)**2 + abs(yhat - y)",
]


def _render(template, a, inner="x"):
    return template.format(x=f"({inner})" if inner != "x" else "x", a=a)


@st.composite
def formula_activations(draw):
    outer = draw(st.sampled_from(ACT_TEMPLATES))
    a = draw(st.sampled_from(CONSTANTS))
    if draw(st.integers(0, 3)):           # 3 in 4: one template; else a composition
        return _render(outer, a)
    inner = _render(draw(st.sampled_from(ACT_TEMPLATES)), draw(st.sampled_from(CONSTANTS)))
    return _render(outer, a, inner)       # a composition: outer(inner(x))


def hidden_activations():
    return st.one_of(st.sampled_from(ELEMENTWISE), formula_activations())


@st.composite
def structures(draw):
    """(hidden activations, output activation, loss) with loss = ("kind"|"formula", text)."""
    hidden = tuple(draw(st.lists(hidden_activations(), min_size=0, max_size=4)))
    loss = draw(st.one_of(
        st.sampled_from(list(LOSSES)).map(lambda k: ("kind", k)),
        st.sampled_from(LOSS_FORMULAS).map(lambda f: ("formula", f)),
    ))
    required = LOSSES[loss[1]].requires_output if loss[0] == "kind" else None
    if required is not None:
        out = required
    else:
        out = draw(st.one_of(st.sampled_from(ELEMENTWISE + VECTOR), formula_activations()))
    return hidden, out, loss


# one runtime case: widths (inputs, then each layer; the first depth+1 are used),
# batch size, seed for params / data / targets, weight scale
cases = st.lists(
    st.tuples(st.lists(st.integers(1, 16), min_size=6, max_size=6),
              st.integers(1, 12),
              st.integers(0, 2 ** 32 - 1),
              st.sampled_from([0.5, 1.0, 1.5])),
    min_size=2, max_size=3)


def make_spec(structure):
    hidden, out, loss = structure
    layers = [{"units": 4, "activation": act} for act in hidden]
    layers.append({"units": 3, "activation": out})
    return {
        "name": "prop_mlp",
        "inputs": 3,
        "dtype": "float64",
        "layers": layers,
        "loss": {loss[0]: loss[1]},
        "optimizer": {"kind": "sgd", "learning_rate": 0.1},
    }


def _coverage_examples():
    """Structures that together use every built-in activation (hidden and output),
    every built-in loss, every formula template and every formula loss."""
    hidden_pool = list(ELEMENTWISE) + [
        _render(t, CONSTANTS[(i + 1) % len(CONSTANTS)]) for i, t in enumerate(ACT_TEMPLATES)]
    free_losses = [("kind", k) for k, v in LOSSES.items() if v.requires_output is None]
    free_losses += [("formula", f) for f in LOSS_FORMULAS]
    fixed_losses = [("kind", k) for k, v in LOSSES.items() if v.requires_output is not None]
    # outputs: the vector ones, a formula, then elementwise built-ins (those left over
    # are covered as hidden layers here, and as outputs by the random structures)
    outputs = list(VECTOR) + [_render(ACT_TEMPLATES[0], 1.5)] + list(ELEMENTWISE)[::-1]
    pairs = [(loss, outputs[i % len(outputs)]) for i, loss in enumerate(free_losses)]
    pairs += [(loss, LOSSES[loss[1]].requires_output) for loss in fixed_losses]
    sizes = [4, 3, 4, 2, 4, 1]                 # hidden layers per structure: depths 2..5
    out, start = [], 0
    for i, (loss, act) in enumerate(pairs):
        size = sizes[i % len(sizes)]
        hidden = tuple(hidden_pool[start:start + size])    # () once the pool is used: depth 1
        start += size
        case_list = [([3, 5, 7, 2, 4, 6], 1 + (3 * i) % 12, 1000 + i, 1.0),
                     ([1, 16, 1, 9, 16, 1], 12, 2000 + i, 0.5)]
        out.append(((hidden, act, loss), case_list))
    covered = {a for (h, o, _), _ in out for a in (*h, o)}
    assert covered >= set(ACTIVATIONS) | set(hidden_pool), "some activation is in no coverage example"
    assert {l for (_, _, l), _ in out} >= {("kind", k) for k in LOSSES} | {
        ("formula", f) for f in LOSS_FORMULAS}
    return out


# ---------------------------------------------------------------------------
# one check: generated vs torch
# ---------------------------------------------------------------------------

@contextlib.contextmanager
def time_limit(seconds, what):
    """Fail when the block took longer than `seconds`. It measures rather than
    interrupts: an interrupt from a watchdog thread can land anywhere (once, in a
    garbage-collector callback); derive/derivative_forms.py bounds its optional searches
    by the size of their input."""
    start = time.perf_counter()
    yield
    elapsed = time.perf_counter() - start
    if elapsed > seconds:
        raise TimeoutError(f"{what} took {elapsed:.0f} s, more than {seconds} s")


# ---------------------------------------------------------------------------
# ---------------------------------------------------------------------------

def _targets(structure, n, k, rng):
    _, out, loss = structure
    entry = LOSSES.get(loss[1]) if loss[0] == "kind" else None
    if entry is not None and entry.classification and out == "softmax":
        labels = rng.integers(0, k, size=n)
        return np.eye(k)[labels] if rng.random() < 0.3 else labels.astype(np.int64)
    if entry is not None and entry.classification:
        y = rng.integers(0, 2, size=(n, k)).astype(np.float64)
        if rng.random() < 0.3:
            y = rng.uniform(size=(n, k))      # soft targets in [0, 1]
    else:
        y = rng.normal(size=(n, k))
    if k == 1 and rng.random() < 0.5:
        y = y[:, 0]                           # (n,) targets for a one-unit output
    return y


def torch_reference(structure, params, X, y):
    hidden, out, loss = structure
    tparams = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in params]
    A = torch.tensor(X, dtype=torch.float64)
    Z = None
    for l, act in enumerate((*hidden, out)):
        Z = A @ tparams[2 * l] + tparams[2 * l + 1]
        fn = torch_activation(act) if act in ACTIVATIONS else formula_activation(act)
        A = fn(Z)
    y = np.asarray(y)
    if loss[0] == "kind":
        if np.issubdtype(y.dtype, np.integer):
            Y = torch.tensor(y, dtype=torch.int64)
        else:
            Y = torch.tensor(y.reshape(len(y), -1), dtype=torch.float64)
        L = torch_loss(loss[1])(Z, A, Y)
    else:
        Y = torch.tensor(y.reshape(len(y), -1), dtype=torch.float64)
        L = formula_loss(loss[1])(A, Y)
    grads = torch.autograd.grad(L, tparams, allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(tparams, grads)]
    return float(L.detach()), [g.detach().numpy().copy() for g in grads]


def check(structure, case):
    widths, n, seed, scale = case
    hidden, _, _ = structure
    depth = len(hidden) + 1
    widths = list(widths[:depth + 1])
    spec = make_spec(structure)
    with time_limit(DERIVE_SECONDS, f"deriving and generating {spec!r}"):
        mod = build(spec)
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(widths[:-1], widths[1:]):
        params.append(rng.normal(0.0, scale / np.sqrt(fan_in), size=(fan_in, fan_out)))
        params.append(rng.normal(0.0, 0.5, size=(fan_out,)))
    X = rng.normal(size=(n, widths[0]))
    y = _targets(structure, n, widths[-1], rng)

    L, grads = mod.loss_and_grad(params, X, y)
    L_ref, g_ref = torch_reference(structure, params, X, y)

    where = f"spec={spec!r} widths={widths} n={n} seed={seed} scale={scale}"
    assert np.isfinite(L_ref) and all(np.all(np.isfinite(g)) for g in g_ref), \
        f"the torch reference is not finite (test data too extreme): {where}"
    assert isinstance(L, float), f"loss is {type(L).__name__}, not float: {where}"
    assert [g.shape for g in grads] == [p.shape for p in params], where
    # floors: a loss or a gradient array that is ~0 only by cancellation (a one-unit
    # softmax is constant: every gradient is exactly 0 in torch, rounding noise of
    # ~1e-18 here) is measured against 1e-6 of the loss / the largest gradient instead
    err_L = rel_err_scalar(L, L_ref, floor=1e-6)
    assert err_L <= RTOL, f"loss {L!r} vs torch {L_ref!r} (rel err {err_L:.3e}): {where}"
    g_scale = max([abs(L_ref)] + [float(np.max(np.abs(g))) for g in g_ref])
    g_floor = max(1e-6 * g_scale, helpers.TINY)
    errs = {name: max_rel_err(g, r, floor=g_floor)
            for name, g, r in zip(mod.PARAM_NAMES, grads, g_ref)}
    assert max(errs.values()) <= RTOL, f"gradient rel errors {errs}: {where}"


# ---------------------------------------------------------------------------
# the tests
# ---------------------------------------------------------------------------

def test_every_registry_entry_has_a_torch_oracle():
    missing_act = sorted(set(ACTIVATIONS) - set(TORCH_ACTIVATIONS))
    missing_loss = sorted(set(LOSSES) - set(TORCH_LOSSES))
    assert not missing_act, f"activations without a torch oracle: {missing_act}"
    assert not missing_loss, f"losses without a torch oracle: {missing_loss}"


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_torch_oracle_matches_the_registry_definition(name):
    """Each elementwise built-in's torch function agrees with the registry's SymPy
    expression at a few points (catches e.g. a slope or alpha that differ)."""
    expr = ACTIVATIONS[name].expr
    (sym,) = expr.free_symbols
    points = [-3.1, -1.2, -0.4, 0.3, 0.9, 2.7]
    got = torch_activation(name)(torch.tensor(points, dtype=torch.float64)).numpy()
    want = [float(expr.subs(sym, v).evalf(30)) for v in points]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14, err_msg=name)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_sympy_to_torch_covers_every_formula_function(name):
    """Every function a formula may use evaluates in the torch oracle, to SymPy's value."""
    fn = FUNCTIONS[name]
    args = ", ".join(["x", "2*x + 1", "x/3"][:fn.min_args])
    expr = parse_formula(f"{name}({args})", ("x",))
    points = [0.2, 0.7, 1.9]                            # inside every function's domain
    got = sympy_to_torch(expr, {"x": torch.tensor(points, dtype=torch.float64)})
    got = (got + torch.zeros(len(points), dtype=torch.float64)).numpy()
    want = [float(expr.subs(S.x, v).evalf(30)) for v in points]
    np.testing.assert_allclose(got, want, rtol=1e-13, err_msg=name)


def test_sympy_to_torch_refuses_unknown_nodes():
    with pytest.raises(NotImplementedError):
        sympy_to_torch(sp.gamma(sp.Symbol("x")), {"x": torch.ones(2, dtype=torch.float64)})


def _with_coverage_examples(test):
    for structure, case_list in reversed(_coverage_examples()):
        test = example(structure=structure, case_list=case_list)(test)
    return test


@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@_with_coverage_examples
@given(structure=structures(), case_list=cases)
def test_random_mlp_loss_and_grad_match_torch(structure, case_list):
    for case in case_list:
        check(structure, case)



def test_kinked_formula_gradient_between_the_probe_points():
    """f(x) = min(x, 2) + x/4 has f' = 1.25 for x < 2 and 0.25 above; the derivative
    must hold at every point, not only where derive/calculus.py probes it (it once
    took f'(z) = H(2 - a) + 1/4, in the output a = f(z), which is wrong on (1.6, 2))."""
    structure = (("min(x, 2) + x/4",), "identity", ("kind", "mse"))
    mod = build(make_spec(structure))
    z = np.array([[-3.0], [0.3], [1.7], [1.8], [1.95], [2.2], [3.0]])
    params = [np.array([[1.0, -1.0]]), np.array([0.0, 0.0]),          # unit 2 sees -z
              np.array([[1.0], [0.5]]), np.array([0.1])]
    y = np.zeros((len(z), 1))
    L, grads = mod.loss_and_grad(params, z, y)
    L_ref, g_ref = torch_reference(structure, params, z, y)
    assert rel_err_scalar(L, L_ref) <= RTOL
    errs = {name: max_rel_err(g, r) for name, g, r in zip(mod.PARAM_NAMES, grads, g_ref)}
    assert max(errs.values()) <= RTOL, f"gradient rel errors {errs}"
