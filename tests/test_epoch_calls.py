"""An epoch runs as compiled calls of about trainer.CALL_SECONDS each, sized from the
last call's time per batch: however the batches are split into calls, training is
bit for bit the same; between two calls the progress bar says how far the epoch
is and Ctrl-C stops it, the epoch under way dropped and the trainer left exactly at
the last completed epoch."""
import signal

import numpy as np
import pytest

from gradgen.runtime import threads as rt_threads
from gradgen.runtime import trainer as rt_trainer
from helpers import build

SPEC = {"name": "calls_f64", "inputs": 6, "dtype": "float64",
        "layers": [{"units": 9, "activation": "tanh"}, {"units": 3, "activation": "softmax"}],
        "loss": {"kind": "cross_entropy"}, "optimizer": {"kind": "adam", "learning_rate": 0.01},
        "training": {"batch_size": 8, "epochs": 3, "shuffle": True, "seed": 1}}


def _data(n=203):
    rng = np.random.default_rng(4)
    return rng.normal(size=(n, 6)), rng.integers(0, 3, n)


def _calls(monkeypatch, module, then=None):
    """The rows of every compiled call from now on, in order, on one thread (the
    module's _epoch) or several (runtime.threads.run_threads); then(calls so far)
    runs before each call."""
    import dataclasses
    rows, run, kernels = [], rt_threads.run_threads, module.MODEL.kernels

    def one(X, *args):
        rows.append(X.shape[0])
        then and then(rows)
        return kernels.epoch(X, *args)

    def several(epoch, nth, settings, *args):
        rows.append(settings[0].shape[0])
        then and then(rows)
        return run(epoch, nth, settings, *args)
    monkeypatch.setitem(module.MODEL.__dict__, "kernels", dataclasses.replace(kernels, epoch=one))
    monkeypatch.setattr(rt_threads, "run_threads", several)
    return rows


def _state(trainer):
    return ([p.copy() for p in trainer.params], {k: [s.copy() for s in v] for k, v in trainer.state.items()},
            trainer.t, trainer._rng.bit_generator.state)


def _same(a, b):
    assert all(x.tobytes() == y.tobytes() for x, y in zip(a[0], b[0]))
    assert all(x.tobytes() == y.tobytes() for k in a[1] for x, y in zip(a[1][k], b[1][k]))
    assert a[2:] == b[2:]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shuffle", [False, True])
def test_calls_of_any_size_train_bit_for_bit(threads, shuffle, monkeypatch):
    module = build(SPEC)
    X, y = _data()
    monkeypatch.setattr(rt_threads, "PARALLEL_MACS", 0)
    monkeypatch.setattr(rt_threads, "THREADS", threads)
    whole = module.Trainer(seed=3)
    whole.fit(X, y, shuffle=shuffle, progress=False)
    calls = _calls(monkeypatch, module)
    monkeypatch.setattr(rt_trainer, "CALL_SECONDS", 0.0)          # one batch per call
    split = module.Trainer(seed=3)
    history = split.fit(X, y, shuffle=shuffle, progress=False)
    assert calls == [8] * 25 + [3] + [8] * 25 + [3] + [8] * 25 + [3]
    _same(_state(whole), _state(split))
    assert history.loss == whole.history.loss and history.accuracy == whole.history.accuracy


def test_calls_are_sized_from_the_last_ones_pace(monkeypatch):
    module = build(SPEC)
    X, y = _data()
    trainer = module.Trainer(seed=3)
    calls = _calls(monkeypatch, module)
    trainer.fit(X, y, epochs=1, shuffle=False, progress=False)
    assert calls[0] == 8                        # no pace yet: one batch, timed
    assert len(calls) <= 3 and sum(calls) == 203
    calls.clear()
    trainer._pace[8, 1] = rt_trainer.CALL_SECONDS / 5           # 5 batches per call
    trainer.fit(X, y, epochs=1, shuffle=False, progress=False)
    assert calls[0] == 40


def test_ctrl_c_between_calls_drops_the_epoch_under_way(monkeypatch):
    """SIGINT during the 4th call of epoch 2: no call after it; the trainer's
    parameters, optimizer state, step count and random generator are those of a
    trainer that ran exactly one epoch, and a fit after it goes on as that one's."""
    module = build(SPEC)
    X, y = _data()
    once = module.Trainer(seed=3)
    once.fit(X, y, epochs=1, progress=False)
    monkeypatch.setattr(rt_trainer, "CALL_SECONDS", 0.0)

    def interrupt(rows):
        if len(rows) == 26 + 4:                  # epoch 1 was 26 calls
            signal.raise_signal(signal.SIGINT)   # handled as Ctrl-C by fit, after this call
    rows = _calls(monkeypatch, module, interrupt)
    stopped = module.Trainer(seed=3)
    with pytest.raises(KeyboardInterrupt):
        stopped.fit(X, y, epochs=3, progress=False)
    assert len(rows) == 30
    assert stopped.history.epochs_run == 1 and stopped.history.stop_reason == "interrupted (Ctrl-C)"
    _same(_state(stopped), _state(once))
    stopped.fit(X, y, epochs=1, progress=False)
    once.fit(X, y, epochs=1, progress=False)
    _same(_state(stopped), _state(once))


def test_the_bar_says_how_far_the_epoch_is(monkeypatch):
    shown = []

    class Bar:
        def set_postfix_str(self, text):
            shown.append(text)

        def set_postfix(self, **values):
            shown.append(values)

        def update(self, n):
            shown.append(("epoch", n))

        def close(self):
            pass
    module = build(SPEC)
    X, y = _data()
    monkeypatch.setattr(rt_trainer, "progress_bar", lambda *a: Bar())
    monkeypatch.setattr(rt_trainer, "CALL_SECONDS", 0.0)
    module.Trainer(seed=3).fit(X, y, epochs=2, progress=True)
    first = shown[:shown.index(("epoch", 1))]
    assert first[:2] == ["batch 1/26", "batch 2/26"] and first[-2] == "batch 25/26"
    assert set(first[-1]) == {"loss"}
    assert shown[shown.index(("epoch", 1)) + 1].startswith("batch 1/26, loss ")
