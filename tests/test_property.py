"""Property test: random MLPs, generated loss_and_grad vs PyTorch autograd (float64).

A network STRUCTURE (hidden activations, output activation, loss) is drawn from
the registries and a small grammar of formula activations and losses
(tests/property_space.py); each structure compiles one module. Widths are runtime
(the kernels take them from the arrays), so every structure is checked on several
random width vectors, batch sizes, parameters and targets.

The oracle is built from the SAME spec, independently of the generator
(tests/property_oracle.py): torch functions for the built-ins, a walk of the SymPy
expression for a formula; a name or node without a torch counterpart fails loudly.

Explicit @example cases, computed from the registries, make sure every built-in
activation, every built-in loss, every formula template and formula loss is
exercised on every run (depths 1 to 5); Hypothesis adds random structures on top
(derandomized, no example database, so CI is reproducible). Weights are normal
with std scale/sqrt(fan_in), scale in {0.5, 1, 1.5}; biases normal with std 0.5.
"""
from __future__ import annotations

import contextlib
import os
import sys
import time

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import HealthCheck, example, given, settings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import helpers  # noqa: E402
from helpers import build, max_rel_err, rel_err_scalar  # noqa: E402
from property_oracle import (TORCH_ACTIVATIONS, TORCH_LOSSES, sympy_to_torch, torch_activation,  # noqa: E402
                             torch_reference)
from property_space import ELEMENTWISE, _coverage_examples, cases, make_spec, structures  # noqa: E402

from derive.activations import ACTIVATIONS  # noqa: E402
from derive.formula import FUNCTIONS, parse_formula  # noqa: E402
from derive.losses import LOSSES  # noqa: E402
from derive import symbols as S  # noqa: E402

RTOL = 1e-8
DERIVE_SECONDS = 120      # derive + generate one structure: a few s; a slow derivation fails
MAX_EXAMPLES = int(os.environ.get("GRADGEN_PROPERTY_EXAMPLES", "10"))


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
