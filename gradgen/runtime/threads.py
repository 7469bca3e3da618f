"""How a big enough epoch runs on several threads, and how BLAS is held to one
thread meanwhile.

Each thread takes a block of every batch's rows for the forward and delta passes
(or, for a hidden layer wider than the batch, a block of its columns:
forward_blocks), and a block of every gradient's rows for the gradient products
and the optimizer step (shares). BLAS is held to one thread meanwhile
(BlasThreads): its own threads, spinning on the other cores between products,
would take the cores from these. The threads meet twice per batch at
kernels.barrier, and after each layer split by columns.

The settings below are module attributes so that a test or a benchmark can set
them for the whole process.
"""
import ctypes
import os
import threading

import numba
import numpy as np

from .intrinsics import ensure_blas

PARALLEL_MACS = 1 << 20   # multiply-adds per batch a thread needs before one more is started
THREADS = None            # None: as many as NUMBA_NUM_THREADS allows, where BLAS can be held to one
COLUMN_SPLIT_SAVES = 4096  # floats of packing per thread a column split must save (it costs a barrier)
COLUMN_ALIGN = 16         # column blocks start at multiples of this many columns (64 bytes of float32)


def part(n, tid, nth):
    """Thread tid's block [lo, hi) of range(n), split in nth near-equal blocks."""
    return n * tid // nth, n * (tid + 1) // nth


def forward_blocks(shapes, rows, nth):
    """Per thread tid: blocks[l-1] = (r0, r1, c0, c1, wait_before, wait_after), its
    block of hidden layer l's forward product Z_l[r0:r1, c0:c1] for batches of `rows`
    rows. By rows (its block of the batch's rows, every column) as a rule: then
    every thread packs all of W_l for BLAS, and its rows of A_{l-1}. By columns
    (every row, its block of the columns, aligned) where the layer is wider than the
    batch (fan_out > rows) and that saves at least COLUMN_SPLIT_SAVES floats of
    packing per thread: each thread packs its columns of W_l and all of A_{l-1}
    instead, which is less; but the next layer needs whole rows of A_l, so the
    threads meet after it (wait_after), and before it where its input is a
    row-split layer's (wait_before; never for layer 1, whose input X is whole).
    Every thread gets the same waits, so they meet alike."""
    hidden = list(shapes[::2])[:-1]
    by_columns = [nth > 1 and fan_out > rows and fan_out >= COLUMN_ALIGN * nth
                  and fan_in * (fan_out - rows) * (nth - 1) // nth >= COLUMN_SPLIT_SAVES
                  for fan_in, fan_out in hidden]
    out = []
    for tid in range(nth):
        r0, r1 = part(rows, tid, nth)
        blocks = []
        for l, ((fan_in, fan_out), columns) in enumerate(zip(hidden, by_columns)):
            if columns:
                u0, u1 = part(-(-fan_out // COLUMN_ALIGN), tid, nth)
                c0, c1 = min(u0 * COLUMN_ALIGN, fan_out), min(u1 * COLUMN_ALIGN, fan_out)
                blocks.append((0, rows, c0, c1, l > 0 and not by_columns[l - 1], True))
            else:
                blocks.append((r0, r1, 0, fan_out, False, False))
        out.append(np.array(blocks, np.uint64).reshape(len(hidden), 6))    # unsigned: the loops vectorize
    return out


def shares(shapes, offsets, nth):
    """Per thread tid: (blocks, ranges) of its share of the gradients and the step.
    blocks[l-1] = (i0, i1, c0, c1): its rows i0:i1 of dL/dW_l and entries c0:c1 of
    dL/db_l; ranges = the same as (lo, hi, group) ranges of the packed parameters
    (W_l's rows, then b_l's entries, layer by layer; group l-1). Both unsigned, as
    forward_blocks: with a signed index Numba checks for a negative one, and the
    loops over it (kernels.colsum's, the optimizer's) do not vectorize."""
    out = []
    for tid in range(nth):
        blocks, ranges = [], []
        for l, (rows, cols) in enumerate(shapes[::2]):
            (i0, i1), (c0, c1) = part(rows, tid, nth), part(cols, tid, nth)
            blocks.append((i0, i1, c0, c1))
            w0, b0 = offsets[2 * l], offsets[2 * l + 1]
            ranges += [(w0 + i0 * cols, w0 + i1 * cols, l), (b0 + c0, b0 + c1, l)]
        out.append((np.array(blocks, np.uint64), np.array(ranges, np.uint64)))
    return out


class BlasThreads:
    """The thread counts of the OpenBLAS libraries loaded in this process (SciPy's,
    which the products call, and NumPy's), through their exported
    *openblas_set/get_num_threads functions, found as threadpoolctl finds them: by
    the loaded libraries' paths (here from /proc/self/maps, so on Linux only).
    hold() sets them to one thread for a threaded epoch; release() puts back the
    counts once no threaded epoch runs (trainers may run in several threads)."""
    NAMES = [(prefix + "openblas_set_num_threads" + suffix, prefix + "openblas_get_num_threads" + suffix)
             for prefix in ("", "scipy_") for suffix in ("", "64_")]
    _found = None
    _lock = threading.Lock()
    _holders = 0            # threaded epochs running now
    _saved = []             # the counts the first of them found, restored when the last ends

    @classmethod
    def found(cls):
        """[(set, get)] for each OpenBLAS loaded; [] where none is (or none can be found)."""
        if cls._found is None:
            ensure_blas()       # SciPy's BLAS, the one the products call, is loaded
            cls._found = []
            try:
                with open("/proc/self/maps") as maps:
                    paths = sorted({line.split(None, 5)[5].strip() for line in maps
                                    if "openblas" in line.lower() and len(line.split(None, 5)) == 6})
            except OSError:
                paths = []
            for path in paths:
                try:
                    lib = ctypes.CDLL(path, mode=getattr(os, "RTLD_NOLOAD", 0) | ctypes.RTLD_LOCAL)
                except OSError:
                    continue
                for set_name, get_name in cls.NAMES:
                    if hasattr(lib, set_name) and hasattr(lib, get_name):
                        cls._found.append((getattr(lib, set_name), getattr(lib, get_name)))
                        break
        return cls._found

    @classmethod
    def hold(cls):
        """Hold every OpenBLAS found to one thread until the matching release()."""
        with cls._lock:
            if cls._holders == 0:
                cls._saved = [(set_threads, get_threads()) for set_threads, get_threads in cls.found()]
                for set_threads, _ in cls._saved:
                    set_threads(1)
            cls._holders += 1

    @classmethod
    def release(cls):
        with cls._lock:
            cls._holders -= 1
            if cls._holders == 0:
                for set_threads, count in cls._saved:
                    set_threads(count)


def thread_count(rows, params):
    """How many threads run an epoch of batches of `rows` rows: one per PARALLEL_MACS
    multiply-adds of a batch's forward products, at most one per row, and no more
    than NUMBA_NUM_THREADS (the cores this process may use, unless set lower) or
    THREADS; more than one only where BLAS can be held to one thread. Big batches
    thread too: W3's 1024 rows train 4 % faster on two threads than on one with BLAS
    splitting the products (docs/performance.md §14)."""
    macs = rows * sum(w.size for w in params[::2])
    count = max(1, min(rows, macs // PARALLEL_MACS if PARALLEL_MACS else rows))
    if THREADS is not None:
        return min(count, THREADS)
    count = min(count, numba.config.NUMBA_NUM_THREADS)
    return count if count > 1 and BlasThreads.found() else 1


def run_threads(epoch_threads, nth, settings, work, rows, swapped):
    """epoch_threads(*settings, ...) on nth threads at once, with batches of `rows`
    rows: this thread is thread 0, the others are started for the call (a thread
    costs about 0.1 ms to start, a threaded epoch call tens of ms). Every thread
    returns the same result; an exception in any is re-raised here."""
    args, split, blocks = work.args(rows, swapped), work.shares(nth), work.forward_blocks(rows, nth)
    sync = np.zeros(16 * nth, np.int64)        # kernels.barrier's counters, 128 bytes apart
    shared = np.zeros((nth, 8))                # each thread's loss, hits and finiteness, a 64-byte line each
    results, errors = [None] * nth, []

    def run(tid):
        gradient_blocks, ranges = split[tid]
        try:
            results[tid] = epoch_threads(*settings, ranges, tid, nth, *part(rows, tid, nth), gradient_blocks,
                                         blocks[tid], sync, shared, *args)
        except BaseException as err:        # re-raised in the caller's thread
            errors.append(err)

    others = [threading.Thread(target=run, args=(tid,), daemon=True) for tid in range(1, nth)]
    for thread in others:
        thread.start()
    run(0)
    for thread in others:
        thread.join()
    if errors:
        raise errors[0]
    return results[0]
