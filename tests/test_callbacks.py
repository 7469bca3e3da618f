"""Early stopping (patience, min_delta), restore_best and best_epoch, and fit's
callbacks: what stops training, which parameters it ends with, what History says."""
import math
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from helpers import build  # noqa: E402

SPEC = {"name": "cb_net", "inputs": 4, "dtype": "float64",
        "layers": [{"units": 8, "activation": "tanh"}, {"units": 3, "activation": "softmax"}],
        "loss": {"kind": "cross_entropy"},
        "optimizer": {"kind": "sgd", "learning_rate": 0.5, "momentum": 0.9},
        "training": {"batch_size": 8, "epochs": 12, "shuffle": True}}


@pytest.fixture(scope="module")
def module():
    return build(SPEC)


def _data(seed=0):
    """A small noisy problem the net overfits: the validation loss turns up."""
    rng = np.random.default_rng(seed)
    X, Xv = rng.normal(size=(24, 4)), rng.normal(size=(60, 4))
    y, yv = rng.integers(0, 3, 24), (Xv[:, 0] > 0).astype(int) + (Xv[:, 1] > 1)
    return X, y, Xv, yv


def _snapshots(trainer, epoch, logs, into):
    into.append(([p.copy() for p in trainer.params], logs))


def test_restore_best_without_patience_ends_at_the_lowest_validation_loss(module):
    X, y, Xv, yv = _data()
    seen = []
    trainer = module.Trainer(seed=4, restore_best=True)
    history = trainer.fit(X, y, validation_data=(Xv, yv), progress=False,
                          callbacks=[lambda t, e, logs: _snapshots(t, e, logs, seen)])
    assert history.epochs_run == 12 and not history.stopped_early          # patience never ran out
    best = int(np.argmin(history.val_loss)) + 1
    assert history.best_epoch == best and best != 12, "the validation loss must turn up for this test"
    assert history.restored
    for ours, kept in zip(trainer.params, seen[best - 1][0]):
        assert np.array_equal(ours, kept)
    assert math.isclose(module.loss(trainer.params, Xv, yv), min(history.val_loss), rel_tol=1e-12)


def test_without_restore_best_the_last_epoch_stays(module):
    X, y, Xv, yv = _data()
    seen = []
    trainer = module.Trainer(seed=4)
    history = trainer.fit(X, y, validation_data=(Xv, yv), progress=False,
                          callbacks=[lambda t, e, logs: _snapshots(t, e, logs, seen)])
    assert history.best_epoch == int(np.argmin(history.val_loss)) + 1 and not history.restored
    for ours, last in zip(trainer.params, seen[-1][0]):
        assert np.array_equal(ours, last)


def test_restore_best_with_patience(module):
    X, y, Xv, yv = _data()
    trainer = module.Trainer(seed=4, restore_best=True, patience=2)
    history = trainer.fit(X, y, validation_data=(Xv, yv), progress=False)
    assert history.stopped_early and "did not improve" in history.stop_reason
    assert history.epochs_run == history.best_epoch + 2
    assert math.isclose(module.loss(trainer.params, Xv, yv), min(history.val_loss), rel_tol=1e-12)


def test_min_delta_counts_only_improvements_larger_than_it(module):
    X, y, Xv, yv = _data()
    plain = module.Trainer(seed=4).fit(X, y, validation_data=(Xv, yv), progress=False)
    losses = plain.val_loss
    for min_delta in (0.0, 0.01, 0.05, 1.0):
        patience = 2
        best, since, stop = math.inf, 0, None      # Keras's EarlyStopping, by hand
        for n, v in enumerate(losses, start=1):
            best, since = (v, 0) if v < best - min_delta else (best, since + 1)
            if since >= patience:
                stop = n
                break
        history = module.Trainer(seed=4, patience=patience, min_delta=min_delta).fit(
            X, y, validation_data=(Xv, yv), progress=False)
        assert history.epochs_run == (stop or len(losses)), min_delta
        assert history.val_loss == losses[:history.epochs_run]


def test_best_epoch_watches_the_training_loss_without_validation_data(module):
    X, y, _, _ = _data()
    history = module.Trainer(seed=4).fit(X, y, epochs=5, progress=False)
    assert history.best_epoch == int(np.argmin(history.loss)) + 1


def test_callbacks_get_the_epoch_and_its_metrics_and_can_stop(module):
    X, y, Xv, yv = _data()
    calls = []

    def record(trainer, epoch, logs):
        calls.append((epoch, logs))

    def stop_at_three(trainer, epoch, logs):
        return epoch == 3
    trainer = module.Trainer(seed=4)
    history = trainer.fit(X, y, validation_data=(Xv, yv), progress=False, callbacks=[record, stop_at_three])
    assert [e for e, _ in calls] == [1, 2, 3] and history.epochs_run == 3
    assert history.stopped_early and "stop_at_three" in history.stop_reason
    epoch, logs = calls[1]
    assert logs["loss"] == history.loss[1] and logs["val_loss"] == history.val_loss[1]
    assert logs["accuracy"] == history.accuracy[1] and logs["val_accuracy"] == history.val_accuracy[1]
    assert logs["learning_rate"] == 0.5 and logs["learning_rates"] == [0.5, 0.5]
    assert history.learning_rate == [[0.5, 0.5]] * 3


def test_a_callback_returning_a_truthy_non_true_value_does_not_stop(module):
    X, y, _, _ = _data()
    history = module.Trainer(seed=4).fit(X, y, epochs=3, progress=False, callbacks=[lambda t, e, l: 1])
    assert history.epochs_run == 3 and not history.stopped_early


def test_a_callback_that_raises_leaves_the_trainer_at_that_epoch(module):
    X, y, _, _ = _data()
    reference = module.Trainer(seed=4)
    reference.fit(X, y, epochs=2, progress=False)

    def boom(trainer, epoch, logs):
        if epoch == 2:
            raise RuntimeError("stop here")
    trainer = module.Trainer(seed=4, restore_best=True)
    with pytest.raises(RuntimeError, match="stop here"):
        trainer.fit(X, y, epochs=5, progress=False, callbacks=[boom])
    assert trainer.t == reference.t and trainer.history.epochs_run == 2
    assert trainer.history.stopped_early and "raised RuntimeError" in trainer.history.stop_reason
    for a, b in zip(trainer.params, reference.params):
        assert np.array_equal(a, b)
    # and training goes on from there as the uninterrupted run does
    trainer.fit(X, y, epochs=1, progress=False)
    reference.fit(X, y, epochs=1, progress=False)
    for a, b in zip(trainer.params, reference.params):
        assert np.array_equal(a, b)


def test_callbacks_that_are_not_callables_are_refused(module):
    X, y, _, _ = _data()
    with pytest.raises(TypeError, match=r"callbacks\[1\]"):
        module.Trainer().fit(X, y, epochs=1, progress=False, callbacks=[print, "not me"])


@pytest.mark.parametrize("key, value", [("min_delta", -0.1), ("restore_best", "yes"), ("min_delta", "0")])
def test_bad_early_stopping_settings_are_refused(module, key, value):
    with pytest.raises(ValueError, match=key):
        module.Trainer(**{key: value})
