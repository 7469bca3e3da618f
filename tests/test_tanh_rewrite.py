"""Printing tanh through exp (codegen/printer.py) is a printing decision for speed:
libm's tanh is several times slower than its exp. The rewrite must be an identity,
must fire, and the printed kernel must stay finite and accurate over [-1000, 1000]
in float64 and float32 (the registry-wide identity check is in test_stability.py)."""
import math

import numba
import numpy as np
import pytest
import sympy as sp

from codegen.printer import exp_tanh, kernel_code, stable_form

u = sp.Symbol("u", real=True)
MODERATE = [-4.3, -1.7, -0.2, 0.0, 0.35, 1.9, 3.6]


def _agree(e1, e2):
    for v in MODERATE:
        point = {u: sp.Rational(str(v))}
        want, got = e1.subs(point).evalf(40), e2.subs(point).evalf(40)
        assert abs(got - want) <= sp.Float("1e-25") * max(1, abs(want)), (e1, e2, v)


@pytest.mark.parametrize("expr", [sp.tanh(u), sp.tanh(2 * u - 1) + u, sp.log(sp.cosh(u)) * sp.tanh(u) ** 2],
                         ids=["tanh", "shifted", "product"])
def test_tanh_rewrite_is_an_identity_and_fires(expr):
    printed = stable_form(expr)
    assert not printed.has(sp.tanh) and exp_tanh(expr) != expr
    _agree(expr, printed)


GRID = np.unique(np.concatenate([np.linspace(-1000, 1000, 81), np.linspace(-6, 6, 97),
                                 [-1e-7, -1e-12, 0.0, 1e-12, 1e-7, 19.06, 354.9, 710.0]]))


@pytest.mark.parametrize("dtype,abs_tol", [("float64", 4.5e-16), ("float32", 2.5e-7)])
def test_printed_tanh_is_finite_and_accurate(dtype, abs_tol):
    src = (f"@njit\ndef f(zs, out):\n    for i in range(zs.shape[0]):\n        z = zs[i]\n"
           f"        out[i] = {kernel_code(sp.tanh(sp.Symbol('z', real=True)))}\n")
    DT = getattr(np, dtype)
    ns = {"math": math, "DT": DT, "njit": numba.njit}
    exec(compile(src, "<tanh kernel>", "exec"), ns)
    zs = GRID.astype(DT)
    out = np.empty_like(zs)
    ns["f"](zs, out)
    assert np.all(np.isfinite(out))
    want = np.tanh(zs.astype(np.float64))
    assert np.max(np.abs(out - want)) <= abs_tol
    assert np.all(np.sign(out) * np.sign(want) >= 0) and np.all(np.abs(out) <= 1)
