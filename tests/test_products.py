"""The runtime's matrix products (gradgen.runtime.intrinsics: mm, mm_rows, mm_block,
BLAS ?gemm called directly, not through np.dot) against NumPy's matmul in float64: each transpose
combination, both dtypes, empty and degenerate shapes, blocks of rows, and the
refusals (shapes that do not match and blocks outside the array raise ValueError;
non-contiguous arrays, mixed dtypes and non-constant flags are refused when
compiling)."""
import pathlib

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from gradgen.runtime import intrinsics


def _caller(mm, trans_a, trans_b):
    """A compiled caller of mm with these flags: Numba freezes the closure's booleans
    as constants, which mm's flags must be."""
    @njit
    def call(a, b, out):
        mm(a, trans_a, b, trans_b, out)
    return call


_TOL = {"float32": 1e-5, "float64": 1e-13}


def _operands(rng, dtype, a_shape, b_shape, a_transposed):
    """Random a and b of dtype, and the oracle a.T @ b (a_transposed) or a @ b in float64."""
    a = rng.standard_normal(a_shape).astype(dtype)
    b = rng.standard_normal(b_shape).astype(dtype)
    a64 = a.astype(np.float64)
    return a, b, (a64.T if a_transposed else a64) @ b.astype(np.float64)


def _assert_block(out, want, rows, cols, k, dtype, what):
    """out[rows, cols] equals want's block; every entry of out outside it is still NaN."""
    tol = _TOL[dtype]
    np.testing.assert_allclose(out[rows, cols], want[rows, cols], rtol=tol, atol=tol * max(k, 1), err_msg=what)
    outside = np.ones(out.shape, bool)
    outside[rows, cols] = False
    assert np.isnan(out[outside]).all(), what


def _callers(mm):
    """One compiled caller per transpose combination."""
    return {(ta, tb): _caller(mm, ta, tb) for ta in (False, True) for tb in (False, True)}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("m,k,n", [(5, 3, 4), (1, 1, 1), (7, 1, 2), (1, 9, 1), (0, 3, 4), (5, 0, 4),
                                   (64, 33, 17)])
def test_products_match_numpy(dtype, m, k, n):
    mm = intrinsics.mm
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    tol = _TOL[dtype]
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
    callers = _callers(intrinsics.mm)
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
    mm = intrinsics.mm
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
    """Every product in a generated module goes through mm (np.dot's layouts would
    each cost compilation time); the generator's own examples included."""
    source = (pathlib.Path(__file__).resolve().parent.parent / "generated" / "digits_mlp.py").read_text()
    kernels = source[:source.index("# ------------------------------------------------- bound to gradgen's runtime")]
    assert "np.dot(" not in kernels and "@" not in kernels.replace("@njit", "")
    assert kernels.count(" mm(") >= 10


def _compiled(kernel):
    """A compiled caller of kernel (an intrinsic: it is called from compiled code only)."""
    @njit
    def call(*args):
        kernel(*args)
    return call


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_row_blocks_match_numpy(dtype):
    """mm_rows writes rows i0:i1 of a.T @ b, read from a's columns i0:i1 in place (a
    threaded epoch's share of a gradient), and leaves the other rows of out alone;
    every split of the rows into blocks gives the whole product."""
    call = _compiled(intrinsics.mm_rows)
    rng = np.random.default_rng(11)
    for k, width, n in [(6, 9, 4), (1, 5, 3), (7, 1, 2), (0, 4, 3), (33, 17, 5)]:
        a, b, want = _operands(rng, dtype, (k, width), (k, n), True)
        for i0, i1 in [(0, width), (1, width), (0, width - 1), (width // 2, width // 2 + 1), (2, 2)]:
            if not 0 <= i0 <= i1 <= width:
                continue
            out = np.full((width, n), np.nan, dtype)
            call(a, b, out, i0, i1)
            _assert_block(out, want, slice(i0, i1), slice(None), k, dtype, f"{k, width, n} rows {i0}:{i1}")
        out = np.full((width, n), np.nan, dtype)
        for i0, i1 in [(0, width // 3), (width // 3, width // 2), (width // 2, width)]:
            call(a, b, out, i0, i1)
        _assert_block(out, want, slice(None), slice(None), k, dtype, f"{k, width, n} tiled")


def test_row_blocks_refuse_bad_shapes_and_blocks():
    call = _compiled(intrinsics.mm_rows)
    a, b, out = np.ones((5, 3)), np.ones((5, 4)), np.full((3, 4), 7.0)
    for bad in [(np.ones((4, 3)), b, out), (a, b, np.ones((2, 4))), (a, b, np.ones((3, 5)))]:
        with pytest.raises(ValueError, match="shapes do not match"):
            call(*bad, 0, 3)
    for i0, i1 in [(-1, 2), (2, 1), (0, 4)]:
        with pytest.raises(ValueError, match="outside the array"):
            call(a, b, out, i0, i1)
    np.testing.assert_array_equal(out, 7.0)
    with pytest.raises(TypingError, match="C-contiguous"):
        call(np.asfortranarray(a), b, out, 0, 3)
    with pytest.raises(TypingError, match="one dtype"):
        call(a, b.astype(np.float32), out, 0, 3)
    with pytest.raises(TypingError, match="block bounds must be integers"):
        call(a, b, out, 0.0, 3)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_blocks_match_numpy(dtype):
    """mm_block writes out[r0:r1, c0:c1] of a @ b, read from a's rows and b's columns
    in place (a thread's block of a forward product), and leaves the rest of out
    alone; blocks of rows, of columns, of both, empty ones, and a sum over nothing (k
    = 0, which zeroes the block only); blocks that tile out give the whole product."""
    call = _compiled(intrinsics.mm_block)
    rng = np.random.default_rng(12)
    for m, k, n in [(6, 9, 40), (1, 5, 3), (7, 1, 2), (5, 0, 4), (33, 17, 50)]:
        a, b, want = _operands(rng, dtype, (m, k), (k, n), False)
        for r0, r1, c0, c1 in [(0, m, 0, n), (1, m, 0, n), (0, m, 1, n - 1), (0, m, n // 2, n),
                               (m // 2, m, 0, n // 2), (0, m, 2, 2), (m, m, 0, n)]:
            if not (0 <= r0 <= r1 <= m and 0 <= c0 <= c1 <= n):
                continue
            out = np.full((m, n), np.nan, dtype)
            call(a, b, out, r0, r1, c0, c1)
            _assert_block(out, want, slice(r0, r1), slice(c0, c1), k, dtype, f"{m, k, n} block {r0, r1, c0, c1}")
        out = np.full((m, n), np.nan, dtype)
        for r0, r1, c0, c1 in [(0, m // 2, 0, n), (m // 2, m, 0, n // 3), (m // 2, m, n // 3, n)]:
            call(a, b, out, r0, r1, c0, c1)
        _assert_block(out, want, slice(None), slice(None), k, dtype, f"{m, k, n} tiled")


def test_blocks_refuse_bad_shapes_and_blocks():
    call = _compiled(intrinsics.mm_block)
    a, b, out = np.ones((5, 3)), np.ones((3, 4)), np.full((5, 4), 7.0)
    for bad in [(np.ones((4, 3)), b, out), (a, np.ones((2, 4)), out), (a, b, np.ones((5, 5)))]:
        with pytest.raises(ValueError, match="shapes do not match"):
            call(*bad, 0, 5, 0, 4)
    for block in [(-1, 2, 0, 4), (3, 2, 0, 4), (0, 6, 0, 4), (0, 5, -1, 4), (0, 5, 3, 2), (0, 5, 0, 5)]:
        with pytest.raises(ValueError, match="outside the array"):
            call(a, b, out, *block)
    np.testing.assert_array_equal(out, 7.0)
    with pytest.raises(TypingError, match="block bounds must be integers"):
        call(a, b, out, 0, 5, 0, 4.0)
