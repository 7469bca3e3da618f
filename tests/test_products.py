"""The generated modules' matrix products (_mm: BLAS ?gemm called directly, not
through np.dot) against NumPy's matmul in float64: each transpose combination, both
dtypes, empty and degenerate shapes, and the refusals (shapes that do not match
raise ValueError, and so do operands whose rows are not contiguous; F-ordered
arrays, a non-C output, mixed dtypes and non-constant flags are refused when
compiling). Operands may be blocks of columns of a larger array (a threaded epoch
reads X[:, i0:i1]): they go to BLAS with their leading dimension, not copied."""
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
    with pytest.raises(TypingError, match="contiguous rows"):
        nn(np.asfortranarray(a), b, out)
    with pytest.raises(TypingError, match="C-contiguous output"):
        nn(a, b, np.empty((5, 8))[:, :4])
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


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_column_blocks_go_to_blas_with_their_leading_dimension(dtype):
    """op(a) and op(b) read from blocks of columns (rows contiguous, row stride wider
    than the block), as a threaded epoch's gradient rows do: the same values as the
    copied blocks give, and the parent arrays untouched."""
    rng = np.random.default_rng(7)
    tol = 1e-5 if dtype == "float32" else 1e-13
    for (ta, tb), caller in _callers(_module(dtype)._mm).items():
        for m, k, n in [(6, 5, 4), (1, 5, 3), (6, 1, 4), (3, 4, 1)]:
            big_a = rng.standard_normal((k + 3, m + 7) if ta else (m + 3, k + 7)).astype(dtype)
            big_b = rng.standard_normal((n + 2, k + 9) if tb else (k + 2, n + 9)).astype(dtype)
            a = big_a[1:1 + k, 2:2 + m] if ta else big_a[1:1 + m, 2:2 + k]
            b = big_b[2:2 + n, 3:3 + k] if tb else big_b[2:2 + k, 3:3 + n]
            kept_a, kept_b = big_a.copy(), big_b.copy()
            out = np.full((m, n), np.nan, dtype)
            caller(a, b, out)
            want = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)
            np.testing.assert_allclose(out, want, rtol=tol, atol=tol * k, err_msg=f"ta={ta} tb={tb} {m, k, n}")
            np.testing.assert_array_equal(big_a, kept_a)
            np.testing.assert_array_equal(big_b, kept_b)


def test_rows_that_are_not_contiguous_raise():
    """A view whose elements within a row are not adjacent (every other column), or
    whose rows overlap, cannot be handed to BLAS: ValueError, nothing written."""
    nn = _callers(_module("float64")._mm)[False, False]
    a, b = np.ones((5, 3)), np.ones((3, 4))
    out = np.full((5, 4), 7.0)
    with pytest.raises(ValueError, match="rows are not contiguous"):
        nn(a, np.ones((3, 8))[:, ::2], out)
    with pytest.raises(ValueError, match="rows are not contiguous"):
        nn(np.lib.stride_tricks.as_strided(np.ones(20), (5, 3), (8, 8)), b, out)
    np.testing.assert_array_equal(out, 7.0)
    nn(np.ones((5, 1))[:, :1], np.ones((1, 4)), out)      # a single column: any row stride serves
    np.testing.assert_array_equal(out, 1.0)
