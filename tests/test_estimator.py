"""The generated module's scikit-learn Estimator: scikit-learn's own check_estimator
suite, the parameter protocol, widths taken from the data at fit time, Pipeline /
cross_val_score / GridSearchCV, and errors a scikit-learn user expects."""
import inspect
import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone, is_classifier, is_regressor  # noqa: E402
from sklearn.exceptions import NotFittedError as SklearnNotFittedError  # noqa: E402
from sklearn.utils.estimator_checks import check_estimator  # noqa: E402

from codegen import generate  # noqa: E402
from gradgen.runtime.validation import TRAINING_TYPES  # noqa: E402
from gradgen.loader import import_generated  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

# Small networks and few epochs: check_estimator fits ~50 times per estimator.
_TRAINING = dict(batch_size=16, epochs=20)
SPECS = {
    "multiclass": dict(
        name="sk_multiclass", inputs=4,
        layers=[dict(units=8, activation="tanh"), dict(units=3, activation="softmax")],
        loss=dict(kind="cross_entropy"), optimizer=dict(kind="adam", learning_rate=0.02),
        training=_TRAINING),
    "binary": dict(
        name="sk_binary", inputs=4,
        layers=[dict(units=8, activation="tanh"), dict(units=1, activation="sigmoid")],
        loss=dict(kind="binary_cross_entropy"), optimizer=dict(kind="adam", learning_rate=0.02),
        training=_TRAINING),
    "regression": dict(
        name="sk_regression", inputs=4, dtype="float64",
        layers=[dict(units=8, activation="tanh"), dict(units=6, activation="relu"),
                dict(units=1, activation="identity")],
        loss=dict(kind="mse"), optimizer=dict(kind="adam", learning_rate=0.02),
        training=_TRAINING),
}

# Checks that may fail, with the reason each cannot apply: none. (Sparse input,
# sample_weight, NaN, 1-D X, ... are handled: refused with scikit-learn's messages,
# or the checks are not run because fit takes no sample_weight.)
EXPECTED_FAILED_CHECKS = {
    # minibatches over shuffled rows: repeating a row changes the batches (scikit-learn runs
    # MLPClassifier's with the full-batch lbfgs solver, a setting this check cannot be given);
    # tests/test_sample_weights.py checks the equivalence where it holds, one full, unshuffled batch
    "check_sample_weight_equivalence_on_dense_data":
        "minibatches: repeated rows change the batches (see tests/test_sample_weights.py)",
}

# Checks that scikit-learn itself skips here, and why.
ALLOWED_SKIPS = {
    "check_array_api_input":
        "scikit-learn runs it only when SCIPY_ARRAY_API=1 was set before SciPy was imported; "
        "the estimator does not claim array-API support (its kernels take NumPy arrays)",
    "check_classifier_data_not_an_array":
        "skipped when pandas is not installed (the NotAnArray part runs first)",
    "check_sample_weights_pandas_series":
        "skipped when pandas is not installed (check_sample_weights_list and _shape run)",
    "check_regressor_data_not_an_array":
        "skipped when pandas is not installed (the NotAnArray part runs first)",
    "check_classifiers_multilabel_output_format_decision_function":
        "the Estimator has no decision_function (predict_proba instead)",
}


@pytest.fixture(scope="module")
def modules(tmp_path_factory):
    out = tmp_path_factory.mktemp("sklearn_modules")
    return {kind: import_generated(generate(spec, out_dir=out)) for kind, spec in SPECS.items()}


@pytest.fixture(scope="module")
def clf(modules):
    return modules["multiclass"]


def _blobs(n=120, k=3, d=4, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(k, d))
    y = np.arange(n) % k
    return centres[y] + rng.normal(size=(n, d)), y


# ---------------------------------------------------------------- check_estimator
@pytest.mark.parametrize("kind", sorted(SPECS))
def test_check_estimator(modules, kind):
    estimator = modules[kind].Estimator()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # "does not inherit from BaseEstimator", ...
        results = check_estimator(estimator, on_fail=None,
                                  expected_failed_checks=EXPECTED_FAILED_CHECKS)
    failed = [f"{r['check_name']}: {r['exception']!r}" for r in results
              if r["status"] == "failed"]
    skipped = {r["check_name"] for r in results if r["status"] == "skipped"}
    passed = [r for r in results if r["status"] == "passed"]
    assert not failed, "\n".join(failed)
    assert skipped <= set(ALLOWED_SKIPS), skipped - set(ALLOWED_SKIPS)
    assert len(passed) >= 45, len(passed)
    assert (is_classifier(estimator), is_regressor(estimator)) == (
        (True, False) if kind != "regression" else (False, True))


# ---------------------------------------------------------------- the parameters
@pytest.mark.parametrize("kind", sorted(SPECS))
def test_parameters_are_the_settings_with_the_spec_defaults(modules, kind):
    mod = modules[kind]
    signature = inspect.signature(mod.Estimator.__init__)
    kinds = {p.kind for name, p in signature.parameters.items() if name != "self"}
    assert kinds == {inspect.Parameter.KEYWORD_ONLY}      # explicit: get_params introspects it
    params = mod.Estimator().get_params()
    assert set(params) == ({"hidden_units", "warm_start"} | set(mod.HYPER_RULES) | set(TRAINING_TYPES)
                           | ({"class_weight"} if mod.TASK != "regression" else set()))
    spec = SPECS[kind]
    assert params["hidden_units"] == tuple(l["units"] for l in spec["layers"][:-1])
    assert params["learning_rate"] == spec["optimizer"]["learning_rate"]
    assert params["betas"] == (0.9, 0.999) and params["amsgrad"] is False
    assert params["epochs"] == 20 and params["batch_size"] == 16 and params["seed"] == 0
    assert params["target_loss"] is None and params["patience"] is None


def test_sgd_module_parameters():
    from generated import digits_mlp
    params = digits_mlp.Estimator().get_params()
    assert params == {"hidden_units": (32,), "learning_rate": 0.005, "momentum": 0.9,
                      "dampening": 0.0, "nesterov": False, "weight_decay": 0.0,
                      "clip_grad_norm": None, "clip_grad_value": None,
                      "batch_size": 32, "epochs": 30, "shuffle": True, "seed": 0,
                      "target_loss": None, "patience": None, "min_delta": 0.0,
                      "restore_best": False, "class_weight": None, "warm_start": False}


def test_params_are_stored_unvalidated_and_checked_by_fit(clf):
    X, y = _blobs()
    est = clf.Estimator(hidden_units="many", learning_rate=-1)     # no error here
    assert est.get_params()["hidden_units"] == "many"
    with pytest.raises(ValueError, match="hidden_units must be 1 positive int"):
        est.fit(X, y)
    with pytest.raises(ValueError, match="learning_rate"):
        est.set_params(hidden_units=(4,)).fit(X, y)
    with pytest.raises(ValueError, match="Invalid parameter 'momentum'"):
        est.set_params(momentum=0.9)
    est = clf.Estimator(hidden_units=5)         # an int for the one hidden layer
    assert est.fit(X, y).trainer_.params[0].shape == (4, 5)


def test_repr_shows_the_changed_parameters(clf):
    assert repr(clf.Estimator()) == "Estimator()"
    assert repr(clf.Estimator(hidden_units=(16,), epochs=5)) == "Estimator(hidden_units=(16,), epochs=5)"
    est = clf.Estimator(betas=(0.8, 0.9))
    assert repr(clone(est)) == repr(est) == "Estimator(betas=(0.8, 0.9))"


# ---------------------------------------------------------------- widths from the data
def test_multiclass_widths_and_labels_from_the_data(clf):
    X, y = _blobs(n=150, k=5, d=7)
    names = np.array(["ant", "bee", "cat", "dog", "eel"])[y]
    est = clf.Estimator(hidden_units=(11,)).fit(X, names)
    assert est is not None and est.n_features_in_ == 7 and est.n_outputs_ == 5
    assert [p.shape for p in est.trainer_.params] == [(7, 11), (11,), (11, 5), (5,)]
    assert list(est.classes_) == ["ant", "bee", "cat", "dog", "eel"]
    pred = est.predict(X)
    assert pred.dtype == names.dtype and set(pred) <= set(names)
    proba = est.predict_proba(X)
    assert proba.shape == (150, 5) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-6)
    np.testing.assert_array_equal(est.classes_[proba.argmax(axis=1)], pred)
    assert est.score(X, names) == np.mean(pred == names) > 0.9
    assert est.n_iter_ == est.history_.epochs_run == 20 and len(est.history_.loss) == 20


def test_estimator_trains_exactly_like_the_trainer(clf):
    X, y = _blobs(n=90, k=3, d=6)
    est = clf.Estimator(hidden_units=(9,), seed=4, epochs=7, learning_rate=0.01).fit(X, y + 10)
    trainer = clf.Trainer(params=clf.init_params(4, widths=(6, 9, 3)), seed=4, epochs=7,
                          learning_rate=0.01)
    trainer.fit(X, y, progress=False)
    for a, b in zip(est.trainer_.params, trainer.params):
        np.testing.assert_array_equal(a, b)
    assert est.history_.loss == trainer.history.loss


def test_deterministic_given_seed(clf):
    X, y = _blobs()
    a = clf.Estimator(seed=1).fit(X, y).predict_proba(X)
    b = clf.Estimator(seed=1).fit(X, y).predict_proba(X)
    c = clf.Estimator(seed=2).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_binary_one_unit_ovr_and_multilabel(modules):
    mod = modules["binary"]
    X, y = _blobs(n=120, k=3, d=5)
    two = np.where(y == 0, "no", "yes")
    est = mod.Estimator().fit(X, two)
    assert est.n_outputs_ == 1 and est.trainer_.params[-1].shape == (1,)
    assert list(est.classes_) == ["no", "yes"]
    proba = est.predict_proba(X)
    assert proba.shape == (120, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    np.testing.assert_array_equal(est.predict(X), est.classes_[proba.argmax(axis=1)])
    assert est.score(X, two) > 0.9

    ovr = mod.Estimator().fit(X, y)                 # three classes: one unit each
    assert ovr.n_outputs_ == 3 and ovr.predict_proba(X).shape == (120, 3)
    assert ovr.score(X, y) > 0.9

    Y = np.stack([y == 0, y == 1, y != 2], axis=1).astype(np.int64)   # multilabel indicator
    ml = mod.Estimator().fit(X, Y)
    pred = ml.predict(X)
    assert pred.shape == (120, 3) and pred.dtype == np.int64
    assert ml.predict_proba(X).shape == (120, 3) and ml.score(X, Y) > 0.8


def test_regression_outputs_from_y(modules):
    mod = modules["regression"]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=200)
    est = mod.Estimator(epochs=40).fit(X, y)
    assert not hasattr(est, "predict_proba") and not hasattr(est, "classes_")
    assert est.predict(X).shape == (200,) and est.score(X, y) > 0.9
    Y = np.stack([y, -y], axis=1)
    est2 = mod.Estimator(hidden_units=(5, 4)).fit(X, Y)
    assert [p.shape for p in est2.trainer_.params][::2] == [(3, 5), (5, 4), (4, 2)]
    assert est2.predict(X).shape == (200, 2) and est2.predict(X).dtype == np.float64


# ---------------------------------------------------------------- scikit-learn tools
def test_pipeline_cross_val_score_and_grid_search(clf):
    from sklearn.model_selection import GridSearchCV, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _blobs(n=150, k=3, d=4, seed=3)
    pipe = make_pipeline(StandardScaler(), clf.Estimator(epochs=10))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.8
    grid = GridSearchCV(pipe, {"estimator__hidden_units": [(2,), (12,)],
                               "estimator__learning_rate": [0.001, 0.05]}, cv=3)
    grid.fit(X, y)
    assert set(grid.best_params_) == {"estimator__hidden_units", "estimator__learning_rate"}
    assert grid.best_score_ >= max(scores.mean() - 0.1, 0.8)
    best = grid.best_estimator_[-1]
    assert best.trainer_.params[0].shape == (4, best.hidden_units[0])
    assert grid.score(X, y) > 0.8


def test_grid_search_regressor(modules):
    from sklearn.model_selection import GridSearchCV
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 3))
    y = np.sin(X[:, 0]) + X[:, 1]
    grid = GridSearchCV(modules["regression"].Estimator(), {"epochs": [2, 30]}, cv=3).fit(X, y)
    assert grid.best_params_ == {"epochs": 30} and grid.best_score_ > 0.5


# ---------------------------------------------------------------- errors
def test_errors_a_scikit_learn_user_expects(clf):
    X, y = _blobs()
    est = clf.Estimator()
    with pytest.raises(clf.NotFittedError, match="not fitted yet") as err:
        est.predict(X)
    assert isinstance(err.value, (ValueError, AttributeError, SklearnNotFittedError))
    assert isinstance(err.value, SklearnNotFittedError)        # sklearn is loaded here
    assert type(err.value).__name__ == "NotFittedError"
    assert type(pickle.loads(pickle.dumps(err.value))) is type(err.value)
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        est.fit(bad, y)
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        est.fit(bad, y)
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        est.fit(X[:, 0], y)
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        est.fit(X, y + 0.5)
    with pytest.raises(ValueError, match="only one class"):
        est.fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        est.fit(X, y[:-1])
    with pytest.raises(TypeError, match="Sparse data was passed"):
        import scipy.sparse
        est.fit(scipy.sparse.csr_matrix(X), y)
    est.fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but Estimator is expecting 4"):
        est.predict(X[:, :3])
    with pytest.raises(ValueError, match="Reshape your data"):
        est.predict(X[0])
    with pytest.raises(ValueError, match="Input X contains NaN"):
        est.predict_proba(np.full((2, 4), np.nan))
    with pytest.warns(UserWarning, match="column-vector y"):
        est.fit(X, y[:, None])


def test_init_params_widths(clf):
    default = clf.init_params(3)
    same = clf.init_params(3, widths=(4, 8, 3))
    for a, b in zip(default, same):
        np.testing.assert_array_equal(a, b)
    assert [p.shape for p in clf.init_params(0, widths=[2, 5, 7])] == [(2, 5), (5,), (5, 7), (7,)]
    for widths in [(4, 8), (4, 0, 3), (4, 2.5, 3), (4, True, 3), 7]:
        with pytest.raises(ValueError, match="widths must be 3 positive ints"):
            clf.init_params(0, widths=widths)


def test_module_needs_no_scikit_learn(tmp_path):
    """The generated module works with scikit-learn unimportable: the Estimator is
    duck-typed, and its NotFittedError is the module's own (also when unpickled
    from a process where it was scikit-learn's too)."""
    from generated import digits_mlp
    try:
        digits_mlp.Estimator().predict(np.zeros((1, 64)))
    except digits_mlp.NotFittedError as err:
        assert isinstance(err, SklearnNotFittedError)
        (tmp_path / "error.pkl").write_bytes(pickle.dumps(err))
    else:
        raise AssertionError("predict before fit did not raise NotFittedError")
    code = """
import pickle, sys
sys.modules["sklearn"] = None           # import sklearn now raises ImportError
import numpy as np
from generated import digits_mlp as m
err = pickle.loads(open(sys.argv[1], "rb").read())
assert type(err) is m.NotFittedError and "not fitted yet" in str(err)
X = np.random.default_rng(0).normal(size=(60, 5)); y = np.arange(60) % 3
est = m.Estimator(epochs=3, hidden_units=(4,))
try:
    est.predict(X)
except m.NotFittedError as err:
    assert isinstance(err, ValueError) and isinstance(err, AttributeError)
    assert type(err) is m.NotFittedError
else:
    raise AssertionError("predict before fit did not raise NotFittedError")
est.fit(X, y)
assert est.predict(X).shape == (60,) and est.predict_proba(X).shape == (60, 3)
assert 0 <= est.score(X, y) <= 1 and est.get_params()["hidden_units"] == (4,)
print("ok")
"""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "error.pkl")],
                         capture_output=True, text=True,
                         cwd=ROOT, env=env, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
