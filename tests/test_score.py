"""Trainer.score and Estimator.score of a regression module are scikit-learn's
r2_score (the independent oracle here), averaged over outputs, with sample weights,
and with its convention for a constant target: 1.0 when predicted exactly, else 0.0."""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gradgen.runtime.validation import r2  # noqa: E402
from helpers import build  # noqa: E402

metrics = pytest.importorskip("sklearn.metrics")

SPEC = dict(name="score_regression", inputs=3, dtype="float64",
            layers=[dict(units=5, activation="tanh"), dict(units=2, activation="identity")],
            loss=dict(kind="mse"), optimizer=dict(kind="adam", learning_rate=0.01))


@pytest.fixture(scope="module")
def fitted():
    mod = build(SPEC)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    Y = np.column_stack([X @ [1.0, -2.0, 0.5], np.sin(X[:, 0])])
    trainer = mod.Trainer(seed=0)
    trainer.fit(X, Y, epochs=5, progress=False)
    return mod, trainer, X, Y


def test_trainer_score_is_r2_score(fitted):
    mod, trainer, X, Y = fitted
    want = metrics.r2_score(Y, trainer.predict(X))
    assert trainer.score(X, Y) == pytest.approx(want, rel=1e-12)


def test_weighted_and_constant_targets_follow_r2_score(fitted):
    mod, trainer, X, Y = fitted
    pred = trainer.predict(X)
    w = np.linspace(0.5, 2.0, len(X))
    assert r2(Y, pred, w) == pytest.approx(metrics.r2_score(Y, pred, sample_weight=w), rel=1e-12)
    constant = np.column_stack([np.full(len(X), 3.0), Y[:, 1]])
    exact = np.column_stack([np.full(len(X), 3.0), pred[:, 1]])
    for P in (pred, exact):                  # a constant column, missed and hit exactly
        assert r2(constant, P) == pytest.approx(metrics.r2_score(constant, P), rel=1e-12)


def test_estimator_score_is_r2_score():
    mod = build(SPEC)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 3))
    Y = np.column_stack([X[:, 0] - X[:, 2], X[:, 1] ** 2])
    est = mod.Estimator(hidden_units=(5,), epochs=5, seed=0).fit(X, Y)
    assert est.score(X, Y) == pytest.approx(metrics.r2_score(Y, est.predict(X)), rel=1e-12)
