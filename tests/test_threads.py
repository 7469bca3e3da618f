"""The threaded epoch (a module's _epoch_threads on several threads, run by
gradgen.runtime.threads, each with a block of every
batch's rows, or of a wide layer's columns, and of every gradient's rows, meeting at
two barriers per batch and after each layer split by columns): it
must train exactly as the single-threaded _epoch does, in every case that one
handles (a last smaller batch, shuffling, a thread with no rows, a last batch of one
row, per-layer learning rates, the general optimizer loop, divergence), and hold
SciPy's OpenBLAS to one thread while it runs. The single-threaded epoch is checked against PyTorch elsewhere
(test_parity, test_optimizers); equality with it carries that over."""
import sys

import numpy as np
import pytest

from gradgen.runtime import threads as rt_threads
from helpers import build

SPEC = {"name": "threads_f64", "inputs": 7, "dtype": "float64",
        "layers": [{"units": 9, "activation": "tanh", "learning_rate": 0.02},
                   {"units": 5, "activation": "relu"},
                   {"units": 3, "activation": "softmax"}],
        "loss": {"kind": "cross_entropy"}, "optimizer": {"kind": "adam", "learning_rate": 0.01},
        "training": {"batch_size": 16, "epochs": 3, "shuffle": True, "seed": 0}}


def _data(n=50, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, SPEC["inputs"]))
    return X, rng.integers(0, 3, n)


def _train(module, threads, monkeypatch, X, y, **fit):
    """(params, history losses, accuracy, thread counts _epoch_threads ran with)
    after fitting with `threads` threads."""
    monkeypatch.setattr(rt_threads, "PARALLEL_MACS", 0)
    monkeypatch.setattr(rt_threads, "THREADS", threads)
    counts, run = set(), rt_threads.run_threads
    monkeypatch.setattr(rt_threads, "run_threads", lambda kernel, nth, *args: counts.add(nth) or run(kernel, nth, *args))
    trainer = module.Trainer(**fit.pop("overrides", {}))
    history = trainer.fit(X, y, progress=False, **fit)
    monkeypatch.setattr(rt_threads, "run_threads", run)
    return trainer.params, np.asarray(history.loss), np.asarray(history.accuracy), counts


@pytest.mark.parametrize("threads", [2, 3, 5])
@pytest.mark.parametrize("shuffle,rows", [(False, 50), (True, 50), (False, 49)])
def test_threaded_epochs_train_as_one_thread(threads, shuffle, rows, monkeypatch):
    """50 rows in batches of 16: a last batch of 2 rows, so with 3 or 5 threads some
    have no rows of it; the W blocks are uneven too (7, 9 and 5 rows over 3 or 5).
    49 rows: a last batch of one row, which _epoch_threads runs on one thread."""
    module = build(SPEC)
    X, y = _data(rows)
    one = _train(module, 1, monkeypatch, X, y, shuffle=shuffle)
    many = _train(module, threads, monkeypatch, X, y, shuffle=shuffle)
    for a, b in zip(one[0], many[0]):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(many[1], one[1], rtol=1e-12)
    np.testing.assert_array_equal(many[2], one[2])
    assert one[1][-1] < one[1][0]           # it trained
    assert not one[3] and max(many[3]) == threads        # _epoch, then _epoch_threads
    assert (1 in many[3]) == (rows == 49)


WIDE = SPEC | {"name": "threads_wide_f64",
               "layers": [{"units": 20, "activation": "tanh"}, {"units": 64, "activation": "relu"},
                          {"units": 40, "activation": "sigmoid"}, {"units": 3, "activation": "softmax"}]}


@pytest.mark.parametrize("threads", [2, 3])
def test_layers_split_by_columns_train_as_one_thread(threads, monkeypatch):
    """Hidden layers wider than the batch take their forward product by columns
    (_forward_blocks; COLUMN_SPLIT_SAVES = 0 lets these small ones): with 2 threads
    layer 1 (20 units, under 16 columns a thread) by rows, then layers 2 and 3 by
    columns, so the threads meet before layer 2 and after each; with 3 threads only
    layer 2. The last batch of 2 rows takes every layer it can by columns, through
    the small-product loops. Training equals one thread's."""
    module = build(WIDE)
    monkeypatch.setattr(rt_threads, "COLUMN_SPLIT_SAVES", 0)
    shapes = [p.shape for p in module.init_params()]
    blocks = rt_threads.forward_blocks(shapes, 16, threads)
    by_columns = {2: [False, True, True], 3: [False, True, False]}[threads]
    assert [bool(f[4]) for f in blocks[0]] == [False, True, False]
    assert [bool(f[5]) for f in blocks[0]] == by_columns
    X, y = _data(50, seed=4)
    one = _train(module, 1, monkeypatch, X, y, shuffle=True)
    many = _train(module, threads, monkeypatch, X, y, shuffle=True)
    assert max(many[3]) == threads
    for a, b in zip(one[0], many[0]):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(many[1], one[1], rtol=1e-12)
    np.testing.assert_array_equal(many[2], one[2])


def test_forward_blocks_cover_each_layer_once():
    """W2's network (784 -> 256 -> 128 -> 10) on 2 threads: layer 1 (wider than a
    128-row batch, and 784 * 64 floats less to pack per thread) by columns, 128
    each, aligned; layer 2 (as wide as the batch) by rows. Batches of 256 rows
    split every layer by rows; one thread takes everything. For each split, the
    threads' blocks of every layer tile it exactly once."""
    shapes = [(784, 256), (256,), (256, 128), (128,), (128, 10), (10,)]
    blocks = rt_threads.forward_blocks(shapes, 128, 2)
    assert [f.tolist() for f in blocks] == [[[0, 128, 0, 128, 0, 1], [0, 64, 0, 128, 0, 0]],
                                         [[0, 128, 128, 256, 0, 1], [64, 128, 0, 128, 0, 0]]]
    assert all(f.dtype == np.uint64 for f in blocks)
    assert not any(f[:, 5].any() for f in rt_threads.forward_blocks(shapes, 256, 2))
    assert rt_threads.forward_blocks(shapes, 128, 1)[0].tolist() == [[0, 128, 0, 256, 0, 0],
                                                                  [0, 128, 0, 128, 0, 0]]
    for rows in (1, 3, 64, 100, 128, 200, 256):
        for nth in (1, 2, 3, 5):
            blocks = rt_threads.forward_blocks(shapes, rows, nth)
            for l, width in enumerate((256, 128)):
                cover = np.zeros((rows, width), int)
                for f in blocks:
                    r0, r1, c0, c1 = (int(v) for v in f[l, :4])
                    cover[r0:r1, c0:c1] += 1
                    if f[l, 5]:
                        assert c0 % rt_threads.COLUMN_ALIGN == 0
                assert (cover == 1).all(), (rows, nth, l)
                assert len({tuple(f[l, 4:]) for f in blocks}) == 1     # the same waits for every thread


def test_general_optimizer_loop_threaded(monkeypatch):
    """Hyper-parameters outside the spec's case (weight decay, amsgrad) step through
    _update_any: threaded as well."""
    module = build(SPEC)
    X, y = _data(40, seed=5)
    overrides = {"weight_decay": 0.01, "amsgrad": True}
    one = _train(module, 1, monkeypatch, X, y, overrides=overrides, epochs=2)
    two = _train(module, 2, monkeypatch, X, y, overrides=overrides, epochs=2)
    assert two[3] == {2}
    for a, b in zip(one[0], two[0]):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("lr,scale,status", [(1e100, 1.0, "the loss became nan"),
                                             (1e307, 1e3, "made the parameters non-finite")])
def test_divergence_stops_every_thread_at_the_same_step(lr, scale, status, monkeypatch):
    """Learning rates that blow up (the loss, or first a parameter, becomes
    non-finite): one thread and three raise the same error at the same step and keep
    the same last finite parameters (the threads decide together, from all their
    losses and all their blocks' steps)."""
    module = build(SPEC | {"name": "threads_sgd_f64", "optimizer": {"kind": "sgd", "learning_rate": 0.1},
                           "layers": [{"units": 9, "activation": "relu"}, {"units": 3, "activation": "softmax"}]})
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 7)) * scale, rng.integers(0, 3, size=40)
    found = []
    for threads in (1, 3):
        monkeypatch.setattr(rt_threads, "PARALLEL_MACS", 0)
        monkeypatch.setattr(rt_threads, "THREADS", threads)
        trainer = module.Trainer(seed=0, learning_rate=lr)
        with pytest.raises(module.DivergenceError, match=status) as err:
            trainer.fit(X, y, epochs=3, batch_size=4, shuffle=False, progress=False)
        found.append((str(err.value), trainer.t, trainer.params))
    assert found[0][:2] == found[1][:2]
    for a, b in zip(found[0][2], found[1][2]):
        assert np.all(np.isfinite(b))
        np.testing.assert_array_equal(a, b)


def test_thread_count(monkeypatch):
    """One thread for small batches (the barriers would cost more than they save);
    more for the others, however many rows: one per 2**20 multiply-adds of the
    batch's forward products,
    up to NUMBA_NUM_THREADS (here set to 4) and never more than the rows. The
    network below does 784*256 + 256*10 = 203,264 multiply-adds per row."""
    import numba
    module = build(SPEC)
    assert rt_threads.PARALLEL_MACS == 2 ** 20
    assert rt_threads.thread_count(16, module.init_params()) == 1
    big = [np.zeros((784, 256)), np.zeros(256), np.zeros((256, 10)), np.zeros(10)]
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 4)
    threaded = bool(rt_threads.BlasThreads.found())       # else everything stays on one thread
    for rows, want in [(1, 1), (5, 1), (10, 1), (11, 2), (15, 2), (16, 3), (128, 4), (512, 4), (513, 4),
                       (1024, 4)]:
        assert rt_threads.thread_count(rows, big) == (want if threaded else 1), rows
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 1)
    assert rt_threads.thread_count(128, big) == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="found through /proc/self/maps")
def test_blas_held_to_one_thread_and_restored():
    """SciPy's OpenBLAS (the products' BLAS) is found; hold() sets every OpenBLAS
    found to one thread, and the counts come back when the last of overlapping holds
    (trainers in several threads) is released, not before."""
    found = rt_threads.BlasThreads.found()
    assert found, "no OpenBLAS found in this process"
    before = [get() for _, get in found]
    if max(before) == 1:
        for set_threads, _ in found:
            set_threads(2)
        before = [get() for _, get in found]
    try:
        rt_threads.BlasThreads.hold()
        rt_threads.BlasThreads.hold()
        assert [get() for _, get in found] == [1] * len(found)
        rt_threads.BlasThreads.release()
        assert [get() for _, get in found] == [1] * len(found)
        rt_threads.BlasThreads.release()
        assert [get() for _, get in found] == before
    finally:
        while rt_threads.BlasThreads._holders:
            rt_threads.BlasThreads.release()


def test_trainers_in_two_threads_train_as_alone(monkeypatch):
    """Two threaded trainers at once, each from its own Python thread: each trains as
    it does alone, and BLAS's thread counts are back afterwards."""
    import threading
    module = build(SPEC)
    X, y = _data(64, seed=9)
    monkeypatch.setattr(rt_threads, "PARALLEL_MACS", 0)
    monkeypatch.setattr(rt_threads, "THREADS", 2)
    found = rt_threads.BlasThreads.found()
    before = [get() for _, get in found]
    alone = module.Trainer(seed=1)
    alone.fit(X, y, epochs=3, progress=False)
    trainers = [module.Trainer(seed=1), module.Trainer(seed=1)]
    runs = [threading.Thread(target=t.fit, args=(X, y), kwargs={"epochs": 3, "progress": False}) for t in trainers]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    for trainer in trainers:
        assert trainer.t == alone.t
        for a, b in zip(alone.params, trainer.params):
            np.testing.assert_array_equal(a, b)
    assert [get() for _, get in found] == before


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("failing_batch", [0, 2])
def test_an_undone_step_leaves_the_optimizer_state_of_the_last_finite_step(threads, failing_batch,
                                                                              monkeypatch):
    """A step that makes a parameter non-finite is undone: the parameters, the step
    count and the optimizer's states (here SGD's momentum buffers, stepped in place)
    are exactly those after the batches before it, as a trainer that trained only
    those batches has them. Hidden unit 0 carries W1[0, 0] = 1e308 but reaches
    nothing (its other weights are 0, X's column 0 is 0) until the failing batch sets
    X[:, 0] = 1: then dL/dW2[0] is about 1e308 and a step of learning rate 10
    overflows, while the loss stays finite (W2[0] is still 0)."""
    module = build(SPEC | {"name": "threads_momentum_f64",
                           "optimizer": {"kind": "sgd", "learning_rate": 10.0, "momentum": 0.9},
                           "layers": [{"units": 9, "activation": "relu"}, {"units": 3, "activation": "softmax"}]})
    monkeypatch.setattr(rt_threads, "PARALLEL_MACS", 0)
    monkeypatch.setattr(rt_threads, "THREADS", threads)
    params = module.init_params(0)
    params[0][:, 0], params[1][0], params[2][0, :] = 0, 0, 0
    params[0][0, 0] = 1e308
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(24, 7)), rng.integers(0, 3, size=24)
    X[:, 0] = 0
    X[4 * failing_batch:4 * failing_batch + 4, 0] = 1
    warm = rng.normal(size=(8, 7))
    warm[:, 0] = 0
    diverged, reference = module.Trainer(params=params), module.Trainer(params=params)
    for trainer in (diverged, reference):      # a non-zero momentum to start from
        trainer.fit(warm, y[:8], epochs=1, batch_size=4, shuffle=False, progress=False)
    with pytest.raises(module.DivergenceError, match=rf"batch {failing_batch + 1} of the epoch\) made"):
        diverged.fit(X, y, epochs=1, batch_size=4, shuffle=False, progress=False)
    if failing_batch:
        reference.fit(X[:4 * failing_batch], y[:4 * failing_batch], epochs=1, batch_size=4,
                      shuffle=False, progress=False)
    assert diverged.t == reference.t == 2 + failing_batch
    for a, b in zip(diverged.params, reference.params):
        np.testing.assert_array_equal(a, b)
    assert list(diverged.state) == ["momentum_buffer"]
    for a, b in zip(diverged.state["momentum_buffer"], reference.state["momentum_buffer"]):
        assert np.all(np.isfinite(a)) and np.any(a != 0)
        np.testing.assert_array_equal(a, b)


def test_gradient_blocks_are_unsigned_so_the_bias_sums_vectorize():
    """A thread's blocks of the gradients (and its ranges of the step) are unsigned:
    colsum, the bias gradients' column sums, indexed by an int64 bound would check
    each index for a negative one, and its accumulating loop would not vectorize
    (measured: W2's epoch 3 % slower on 2 threads). The compiled loop is read here
    from a fresh, uncached compile (Numba keeps no IR for cached code)."""
    import re

    import numba
    from numba import types as nb

    from gradgen.runtime.kernels import colsum
    shapes = [(7, 40), (40,), (40, 3), (3,)]
    offsets = np.concatenate([[0], np.cumsum([np.prod(s) for s in shapes])])
    for blocks, ranges in rt_threads.shares(shapes, offsets, 2):
        assert blocks.dtype == np.uint64 and ranges.dtype == np.uint64
    options = {k: v for k, v in colsum.targetoptions.items() if k not in ("nopython", "cache")}
    fresh = numba.njit(**options)(colsum.py_func)
    adds = {}
    for index in (nb.uint64, nb.int64):
        sig = (nb.float32[:, ::1], nb.float32[::1], index, index)
        fresh.compile(sig)
        adds[str(index)] = len(re.findall(r"fadd <\d+ x float>", fresh.inspect_llvm(sig)))
    assert adds["uint64"] > 0 and adds["int64"] == 0, adds


@pytest.mark.parametrize("threads", [2, 3])
def test_clipping_and_one_cycle_train_as_one_thread(threads, monkeypatch):
    """The norm for clip_grad_norm is each thread's share of ||g||**2 summed after a
    barrier; one_cycle gives every batch its own rates and momentum."""
    spec = SPEC | {"name": "threads_clip_cycle",
                   "optimizer": {"kind": "sgd", "learning_rate": 0.1, "momentum": 0.9, "clip_grad_norm": 0.05},
                   "schedule": {"kind": "one_cycle", "max_lr": 0.3}}
    module = build(spec)
    X, y = _data()
    one = _train(module, 1, monkeypatch, X, y, epochs=3)
    many = _train(module, threads, monkeypatch, X, y, epochs=3)
    for a, b in zip(one[0], many[0]):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(many[1], one[1], rtol=1e-12)
    assert max(many[3]) == threads
    unclipped = _train(module, threads, monkeypatch, X, y, epochs=3, overrides={"clip_grad_norm": None})
    assert not np.allclose(unclipped[0][0], many[0][0])      # the clipping acted
