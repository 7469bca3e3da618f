"""The Estimator's incremental API (issue 21), as scikit-learn's MLPClassifier has it:
partial_fit (one epoch per call, continuing the same Trainer) and warm_start
(fit continues the fitted Trainer), each bit for bit the same training as one fit."""
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.utils.estimator_checks import check_estimator  # noqa: E402

from codegen import generate  # noqa: E402
from test_estimator import EXPECTED_FAILED_CHECKS  # noqa: E402
from gradgen.loader import import_generated  # noqa: E402

_TRAINING = dict(batch_size=16, epochs=4)
SPECS = {
    "multiclass": dict(
        name="pf_multiclass", inputs=4,
        layers=[dict(units=8, activation="tanh"), dict(units=3, activation="softmax")],
        loss=dict(kind="cross_entropy"), optimizer=dict(kind="adam", learning_rate=0.02),
        training=_TRAINING),
    "binary": dict(
        name="pf_binary", inputs=4,
        layers=[dict(units=8, activation="tanh"), dict(units=1, activation="sigmoid")],
        loss=dict(kind="binary_cross_entropy"), optimizer=dict(kind="adam", learning_rate=0.02),
        training=_TRAINING),
    # momentum (optimizer state) and an epoch schedule (schedule state) to carry over
    "regression": dict(
        name="pf_regression", inputs=4, dtype="float64",
        layers=[dict(units=8, activation="tanh"), dict(units=1, activation="identity")],
        loss=dict(kind="mse"), optimizer=dict(kind="sgd", learning_rate=0.05, momentum=0.9),
        schedule=dict(kind="exponential", gamma=0.7),
        training=_TRAINING),
}


@pytest.fixture(scope="module")
def modules(tmp_path_factory):
    out = tmp_path_factory.mktemp("partial_fit_modules")
    return {kind: import_generated(generate(spec, out_dir=out)) for kind, spec in SPECS.items()}


def _blobs(n=120, k=3, d=4, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(k, d))
    y = np.arange(n) % k
    return centres[y] + rng.normal(size=(n, d)), y


def _regression(n=100, d=4, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return X, np.sin(X[:, 0]) + 0.5 * X[:, 1] - 0.25 * X[:, 2] * X[:, 3]


def _data(kind):
    return _regression() if kind == "regression" else _blobs(k=2 if kind == "binary" else 3)


def _same_params(a, b):
    return len(a.trainer_.params) == len(b.trainer_.params) and all(
        np.array_equal(p, q) for p, q in zip(a.trainer_.params, b.trainer_.params))


def _partial(est, X, y, **kw):
    if est._estimator_type == "classifier":
        kw.setdefault("classes", np.unique(y))
    return est.partial_fit(X, y, **kw)


# ---------------------------------------------------------------- partial_fit = fit, epoch by epoch
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("kind", ["multiclass", "binary", "regression"])
def test_partial_fit_n_times_equals_fit_of_n_epochs(modules, kind, shuffle):
    mod, (X, y), n = modules[kind], _data(kind), 4
    whole = mod.Estimator(epochs=n, shuffle=shuffle).fit(X, y)
    steps = mod.Estimator(epochs=n, shuffle=shuffle)
    for i in range(n):
        assert _partial(steps, X, y) is steps
        assert steps.n_iter_ == i + 1 and steps.history_.epochs_run == 1
    assert _same_params(steps, whole)
    assert steps.trainer_.t == whole.trainer_.t
    assert steps.n_iter_ == whole.n_iter_ == n
    assert (steps.n_features_in_, steps.n_outputs_) == (whole.n_features_in_, whole.n_outputs_)
    np.testing.assert_array_equal(steps.predict(X), whole.predict(X))
    assert steps.history_.loss == whole.history_.loss[-1:]


def test_partial_fit_continues_a_fit(modules):
    mod, (X, y) = modules["multiclass"], _blobs()
    est = mod.Estimator(epochs=2).fit(X, y)
    trainer = est.trainer_
    est.partial_fit(X, y)                       # classes_ known from fit
    assert est.trainer_ is trainer and est.n_iter_ == 3
    assert _same_params(est, mod.Estimator(epochs=3).fit(X, y))     # the same three epochs


# ---------------------------------------------------------------- classes
def test_classes_are_required_on_the_first_call(modules):
    mod, (X, y) = modules["multiclass"], _blobs()
    est = mod.Estimator()
    with pytest.raises(ValueError, match="classes must be passed on the first call to partial_fit"):
        est.partial_fit(X, y)
    assert not hasattr(est, "trainer_") and not hasattr(est, "classes_")
    est.partial_fit(X, y, classes=[2, 0, 1, 1])
    np.testing.assert_array_equal(est.classes_, [0, 1, 2])
    est.partial_fit(X, y)                                   # later calls may omit them
    est.partial_fit(X, y, classes=np.array([1, 2, 0]))      # or repeat them
    assert est.n_iter_ == 3


def test_other_classes_later_are_refused(modules):
    mod, (X, y) = modules["multiclass"], _blobs()
    est = mod.Estimator().partial_fit(X, y, classes=[0, 1, 2])
    params = [p.copy() for p in est.trainer_.params]
    with pytest.raises(ValueError, match="is not the same as on last call to partial_fit"):
        est.partial_fit(X, y, classes=[0, 1, 2, 3])
    with pytest.raises(ValueError, match="not in classes_"):
        est.partial_fit(X, np.where(y == 2, 7, y))           # an unseen label
    with pytest.raises(ValueError, match="not in classes_"):
        mod.Estimator().partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="only one class"):
        mod.Estimator().partial_fit(X, y, classes=[0])
    # a refused call leaves the estimator as it was
    assert est.n_iter_ == 1 and all(np.array_equal(p, q) for p, q in zip(params, est.trainer_.params))


def test_a_batch_missing_a_class_still_trains(modules):
    mod, (X, y) = modules["multiclass"], _blobs()
    labels = np.array(["cat", "dog", "emu"])[y]
    est = mod.Estimator()
    est.partial_fit(X[y != 2], labels[y != 2], classes=["emu", "dog", "cat"])
    assert est.n_outputs_ == 3 and est.trainer_.params[-1].shape == (3,)
    np.testing.assert_array_equal(est.classes_, ["cat", "dog", "emu"])
    est.partial_fit(X[y == 2], labels[y == 2])              # a batch of one class
    for _ in range(10):
        est.partial_fit(X, labels)
    pred = est.predict(X)
    assert pred.dtype == est.classes_.dtype and set(pred) <= set(est.classes_)
    assert est.score(X, labels) > 0.9
    assert est.predict_proba(X).shape == (len(X), 3)


def test_binary_and_one_vs_rest_partial_fit(modules):
    mod = modules["binary"]
    X, y = _blobs(k=2)
    est = mod.Estimator().partial_fit(X[y == 1], y[y == 1], classes=[0, 1])   # one class in the batch
    assert est.n_outputs_ == 1 and est._mode == "binary"
    assert est.predict_proba(X).shape == (len(X), 2)
    X3, y3 = _blobs(k=3)
    est = mod.Estimator(shuffle=False)
    for _ in range(3):
        est.partial_fit(X3, y3 + 10, classes=[10, 11, 12])
    ref = mod.Estimator(epochs=3, shuffle=False).fit(X3, y3 + 10)
    assert est.n_outputs_ == 3 and est._mode == "ovr" and _same_params(est, ref)
    assert set(est.predict(X3)) <= {10, 11, 12}


def test_multilabel_partial_fit(modules):
    mod = modules["binary"]
    X, y = _blobs(k=3)
    Y = np.stack([y == 0, y != 1, y == 2], axis=1).astype(int)
    with pytest.raises(ValueError, match="column"):
        mod.Estimator().partial_fit(X, Y, classes=["a", "b", "c"])
    est = mod.Estimator(epochs=2, shuffle=False)
    est.partial_fit(X, Y, classes=[0, 1, 2]).partial_fit(X, Y)
    ref = mod.Estimator(epochs=2, shuffle=False).fit(X, Y)
    assert _same_params(est, ref) and est.predict(X).shape == Y.shape
    with pytest.raises(ValueError, match="multilabel"):
        est.partial_fit(X, y)


def test_regressor_partial_fit_refusals(modules):
    mod, (X, y) = modules["regression"], _regression()
    with pytest.raises(ValueError, match="classes"):
        mod.Estimator().partial_fit(X, y, classes=[0, 1])
    est = mod.Estimator().partial_fit(X, y)
    with pytest.raises(ValueError, match="output"):
        est.partial_fit(X, np.stack([y, y], axis=1))
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(X[:, :3], y)
    assert est.n_iter_ == 1 and est.predict(X).shape == (len(X),)


def test_partial_fit_with_sample_weight_is_fit_with_it(modules):
    """Weighted partial_fit N times equals a weighted fit of N epochs, bit for bit; a bad
    weight is refused before anything trains."""
    mod, (X, y) = modules["multiclass"], _blobs()
    w = np.random.default_rng(3).uniform(0.0, 2.0, len(y))
    est = mod.Estimator(shuffle=False)
    for _ in range(3):
        est.partial_fit(X, y, classes=[0, 1, 2], sample_weight=w)
    whole = mod.Estimator(shuffle=False, epochs=3).fit(X, y, sample_weight=w)
    for a, b in zip(est.trainer_.params, whole.trainer_.params):
        assert np.array_equal(a, b)
    fresh = mod.Estimator()
    with pytest.raises(ValueError, match="sample_weight"):
        fresh.partial_fit(X, y, classes=[0, 1, 2], sample_weight=-w)
    assert not hasattr(fresh, "trainer_")


# ---------------------------------------------------------------- warm_start
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("kind", ["multiclass", "regression"])
def test_warm_start_continues_the_fit(modules, kind, shuffle):
    mod, (X, y) = modules[kind], _data(kind)
    assert mod.Estimator().get_params()["warm_start"] is False
    est = mod.Estimator(warm_start=True, shuffle=shuffle, epochs=2).fit(X, y)
    trainer = est.trainer_
    est.set_params(epochs=3).fit(X, y)
    assert est.trainer_ is trainer and est.n_iter_ == 5 and est.history_.epochs_run == 3
    whole = mod.Estimator(shuffle=shuffle, epochs=5).fit(X, y)
    assert _same_params(est, whole) and est.trainer_.t == whole.trainer_.t
    assert est.history_.loss == whole.history_.loss[2:]


@pytest.mark.parametrize("kind", ["multiclass", "regression"])
def test_without_warm_start_a_second_fit_starts_afresh(modules, kind):
    mod, (X, y) = modules[kind], _data(kind)
    est = mod.Estimator(epochs=2).fit(X, y)
    first = est.trainer_
    est.set_params(epochs=3).fit(X, y)
    fresh = mod.Estimator(epochs=3).fit(X, y)
    assert est.trainer_ is not first and est.n_iter_ == 3
    assert _same_params(est, fresh)


def test_warm_start_needs_the_same_classes_and_widths(modules):
    mod, (X, y) = modules["multiclass"], _blobs()
    est = mod.Estimator(warm_start=True, epochs=2).fit(X, y)
    with pytest.raises(ValueError, match="warm_start can only be used where `y` has the same classes"):
        est.fit(X, y + 1)
    assert est.n_iter_ == 2 and list(est.classes_) == [0, 1, 2]
    est.set_params(hidden_units=(5,)).fit(X, y)        # other widths: a fresh network
    assert est.n_iter_ == 2 and est.trainer_.params[0].shape == (4, 5)
    assert _same_params(est, mod.Estimator(hidden_units=(5,), epochs=2).fit(X, y))
    est.fit(X[:, :3], y)                               # another input width, too
    assert est.n_features_in_ == 3 and est.n_iter_ == 2
    assert clone(est).get_params()["warm_start"] is True


def test_warm_start_takes_the_new_settings(modules):
    mod, (X, y) = modules["multiclass"], _blobs()
    est = mod.Estimator(warm_start=True, epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="learning_rate"):
        est.set_params(learning_rate=-1.0).fit(X, y)
    assert est.trainer_.hyper["learning_rate"] == 0.02
    est.set_params(learning_rate=0.001, batch_size=32).fit(X, y)
    assert est.trainer_.hyper["learning_rate"] == 0.001 and est.trainer_.training["batch_size"] == 32
    assert est.n_iter_ == 2


# ---------------------------------------------------------------- scikit-learn's checks
@pytest.mark.parametrize("kind", sorted(SPECS))
def test_check_estimator_with_partial_fit(modules, kind):
    # 20 epochs: check_class_weight_classifiers wants the weights to have shaped the fit
    estimator = modules[kind].Estimator(epochs=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(estimator, on_fail=None, expected_failed_checks=EXPECTED_FAILED_CHECKS)
    names = {r["check_name"] for r in results}
    failed = [f"{r['check_name']}: {r['exception']!r}" for r in results if r["status"] == "failed"]
    assert not failed, "\n".join(failed)
    assert "check_estimators_partial_fit_n_features" in names
