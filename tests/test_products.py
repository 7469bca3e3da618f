"""The generated modules' matrix products (_mm: BLAS ?gemm called directly, not
through np.dot) against NumPy's matmul in float64: each transpose combination, both
dtypes, empty and degenerate shapes, and the refusals (shapes that do not match
raise ValueError; non-contiguous arrays, mixed dtypes and non-constant flags are
refused when compiling)."""
import pathlib

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from helpers import build


def _module(dtype):
    return build({"name": f"products_{dtype}", "inputs": 3, "dtype": dtype,
                  "layers": [{"units": 4, "activation": "tanh"}, {"units": 2, "activation": "softmax"}],
                  "loss": {"kind": "cross_entropy"}, "optimizer": {"kind": "sgd", "learning_rate": 0.1}})


def _caller(mm, trans_a, trans_b):
    """A compiled caller of mm with these flags: Numba freezes the closure's booleans
    as constants, which mm's flags must be."""
    @njit
    def call(a, b, out):
        mm(a, trans_a, b, trans_b, out)
    return call


def _callers(mm):
    """One compiled caller per transpose combination."""
    return {(ta, tb): _caller(mm, ta, tb) for ta in (False, True) for tb in (False, True)}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("m,k,n", [(5, 3, 4), (1, 1, 1), (7, 1, 2), (1, 9, 1), (0, 3, 4), (5, 0, 4),
                                   (64, 33, 17)])
def test_products_match_numpy(dtype, m, k, n):
    mm = _module(dtype)._mm
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    tol = 1e-5 if dtype == "float32" else 1e-13
    for (ta, tb), caller in _callers(mm).items():
        a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
        b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
        out = np.full((m, n), np.nan, dtype)
        caller(a, b, out)
        want = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)
        assert out.dtype == np.dtype(dtype)
        np.testing.assert_allclose(out, want, rtol=tol, atol=tol * max(k, 1), err_msg=f"ta={ta} tb={tb}")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_mismatched_shapes_raise(dtype):
    callers = _callers(_module(dtype)._mm)
    a, b, out = np.ones((5, 3), dtype), np.ones((3, 4), dtype), np.empty((5, 4), dtype)
    callers[False, False](a, b, out)     # the matching call works
    np.testing.assert_array_equal(out, 3.0)
    for bad in [(np.ones((5, 2), dtype), b, out), (a, np.ones((2, 4), dtype), out),
                (a, b, np.empty((4, 4), dtype)), (a, b, np.empty((5, 5), dtype))]:
        with pytest.raises(ValueError, match="shapes do not match"):
            callers[False, False](*bad)
    with pytest.raises(ValueError, match="shapes do not match"):
        callers[True, False](a, b, out)   # a.T is 3 x 5


def test_refused_when_compiling():
    mm = _module("float64")._mm
    nn = _callers(mm)[False, False]
    a, b, out = np.ones((5, 3)), np.ones((3, 4)), np.empty((5, 4))
    with pytest.raises(TypingError, match="C-contiguous"):
        nn(np.asfortranarray(a), b, out)
    with pytest.raises(TypingError, match="C-contiguous"):
        nn(a, np.ones((3, 8))[:, ::2], out)
    with pytest.raises(TypingError, match="one dtype"):
        nn(a, b.astype(np.float32), out)
    with pytest.raises(TypingError, match="one dtype"):
        nn(a.astype(np.int64), b.astype(np.int64), out.astype(np.int64))

    @njit
    def runtime_flag(a, flag, b, out):
        mm(a, flag, b, False, out)

    with pytest.raises(TypingError, match="constants True or False"):
        runtime_flag(a, False, b, out)


def test_generated_module_has_no_np_dot():
    """Every product in a generated module goes through _mm (np.dot's layouts would
    each cost compilation time); the generator's own examples included."""
    source = (pathlib.Path(__file__).resolve().parent.parent / "generated" / "digits_mlp.py").read_text()
    kernels = source[:source.index("class _EpochWork")]
    assert "np.dot(" not in kernels
    assert kernels.count("_mm(") >= 10
