"""The compiled kernels every generated epoch calls that do not depend on the spec:
a threaded epoch's bias sums and barrier, and the gather of shuffled rows. They
are compiled once per dtype and cached by Numba once per machine, not once per
generated module."""
from numba import njit

from .intrinsics import EPOCH, INNER, load_acquire, spin_pause, store_release

__all__ = ["colsum", "gather", "barrier"]


@njit(**INNER)
def colsum(D, gb, c0, c1):
    """gb[c] = sum over the rows of D[:, c], for c in [c0, c1): a threaded epoch's
    bias gradient, a thread's block of it. Row by row, in row order, so every split
    of the columns gives the same sums."""
    for c in range(c0, c1):
        gb[c] = 0.0
    for r in range(D.shape[0]):
        for c in range(c0, c1):
            gb[c] += D[r, c]


@njit(**INNER)
def barrier(sync, tid, nth, phase):
    """Thread tid has reached its phase-th barrier of the call; wait until all nth
    have. sync holds one counter per thread, 128 bytes (16 int64) apart so that no
    two threads write the same cache line."""
    store_release(sync, tid * 16, phase)
    for other in range(nth):
        while load_acquire(sync, other * 16) < phase:
            spin_pause()


@njit(**EPOCH)
def gather(X, rows, out):
    """out[r] = X[rows[r]]: the rows of a shuffled chunk, contiguous."""
    for r in range(rows.shape[0]):
        src = rows[r]
        for c in range(X.shape[1]):
            out[r, c] = X[src, c]
