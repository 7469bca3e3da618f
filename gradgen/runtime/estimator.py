"""scikit-learn's estimator protocol on a generated module's Trainer, duck-typed
(no scikit-learn import: sklearn_compat). A generated module subclasses
Classifier or Regressor with its Model and Trainer and an __init__ that lists
its parameters (scikit-learn reads them from __init__'s signature)."""
import inspect
import warnings

import numpy as np

from . import sklearn_compat as sk
from . import validation

TRAINING_NAMES = ("batch_size", "epochs", "shuffle", "seed", "target_loss", "patience")


def _same_value(a, b):
    try:
        return a is b or (type(a) is type(b) and bool(a == b))
    except Exception:
        return False


class Estimator:
    """The parameter protocol and fitting shared by Classifier and Regressor.

    Like MLPClassifier, the input width comes from X and the output width from y
    at fit time; the hidden widths are `hidden_units`; each layer keeps the spec's
    activation and init scheme. Parameters are stored as given and validated by
    fit (scikit-learn's convention). Deterministic given `seed`. Fitted
    attributes: trainer_, history_, n_features_in_, n_outputs_, n_iter_."""
    model = None              # the generated module's Model
    trainer = None            # and its Trainer class

    def _store(self, values):
        """__init__'s body: every parameter stored as given."""
        for key in self._get_param_names():
            setattr(self, key, values[key])

    @classmethod
    def _get_param_names(cls):
        return [name for name in inspect.signature(cls.__init__).parameters if name != "self"]

    @classmethod
    def _defaults(cls):
        return {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items()
                if name != "self"}

    def get_params(self, deep=True):
        """The constructor's parameters (there are no nested estimators)."""
        return {key: getattr(self, key) for key in self._get_param_names()}

    def set_params(self, **params):
        """Set parameters (validated by fit); returns self."""
        valid = self._get_param_names()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(f"Invalid parameter {key!r} for estimator {self!r}. "
                                 f"Valid parameters are: {sorted(valid)!r}.")
            setattr(self, key, value)
        return self

    def __repr__(self):
        defaults = self._defaults()
        changed = [f"{key}={getattr(self, key)!r}" for key in self._get_param_names()
                   if not _same_value(getattr(self, key), defaults[key])]
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_is_fitted__(self):
        return hasattr(self, "trainer_")

    # -- fitting
    def _widths(self, n_in, n_out):
        n_hidden = self.model.n_layers - 1
        units = self.hidden_units
        if isinstance(units, (int, np.integer)) and not isinstance(units, (bool, np.bool_)):
            units = (units,)
        try:
            units = tuple(units)
        except TypeError:
            units = None
        if (units is None or len(units) != n_hidden
                or any(isinstance(u, (bool, np.bool_)) or not isinstance(u, (int, np.integer))
                       or u < 1 for u in units)):
            hidden = ", ".join(self.model.layer_activations[:-1]) or "none in this spec"
            raise ValueError(f"hidden_units must be {n_hidden} positive int(s), one per hidden "
                             f"layer ({hidden}), got {self.hidden_units!r}")
        return (n_in, *(int(u) for u in units), n_out)

    def _settings(self):
        """The optimizer and training settings, validated as the Trainer validates them."""
        hyper = {key: getattr(self, key) for key in self.model.hyper_rules}
        training = {key: getattr(self, key) for key in TRAINING_NAMES if key != "seed"}
        return validation.check_training("seed", self.seed), hyper, training

    def fit(self, X, y):
        """Train a fresh network on (X, y); returns self."""
        X = sk.validate_X(self, X, reset=True)
        Y, n_out = self._targets(y, X.shape[0])
        seed, hyper, training = self._settings()
        params = self.model.init_params(seed, widths=self._widths(X.shape[1], n_out))
        trainer = self.trainer(params=params, seed=seed, **hyper, **training)
        history = trainer.fit(X, Y, progress=False)
        self.trainer_ = trainer
        self.history_ = history
        self.n_features_in_ = X.shape[1]
        self.n_outputs_ = n_out
        self.n_iter_ = history.epochs_run
        return self

    def _outputs(self, X):
        """Output-layer activations as float64, after the checks predict needs."""
        if not hasattr(self, "trainer_"):
            raise sk.not_fitted(self)
        X = sk.validate_X(self, X, reset=False)
        return self.model.forward(self.trainer_.params, X).astype(np.float64)


class Regressor(Estimator):
    """A scikit-learn regressor: one output unit per column of y."""
    _estimator_type = "regressor"

    def __sklearn_tags__(self):
        utils = sk.sklearn_utils()
        return utils.Tags(estimator_type="regressor",
                          target_tags=utils.TargetTags(required=True, multi_output=True, single_output=True),
                          regressor_tags=utils.RegressorTags(),
                          input_tags=utils.InputTags(allow_nan=False, sparse=False))

    def _targets(self, y, n):
        """y -> ((n, k) float targets, k); remembers whether y was 1-D."""
        arr = sk.validate_y(self, y, n)
        try:
            arr = np.asarray(arr, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"y: regression targets must be numbers: {err}") from None
        sk.finite_y(arr)
        if arr.ndim == 2 and arr.shape[1] == 0:
            raise ValueError(f"y has 0 outputs (shape={arr.shape})")
        self._y_1d = arr.ndim == 1
        arr = arr.reshape(n, -1)
        return arr, arr.shape[1]

    def predict(self, X):
        """Predicted values: (n,) when fit on a 1-D y, else (n, n_outputs)."""
        A = self._outputs(X)
        return A[:, 0] if self._y_1d else A

    def score(self, X, y, sample_weight=None):
        """R^2 of predict(X) against y, averaged over the outputs (as RegressorMixin)."""
        A = self._outputs(X)
        Y = np.asarray(sk.validate_y(self, y, A.shape[0]), dtype=np.float64).reshape(A.shape[0], -1)
        return validation.r2(Y, A, sample_weight)


def _unknown_label_type(model, kind, arr):
    return ValueError(f"Unknown label type: {kind}. {model.name}'s {model.loss_kind} head classifies; y holds "
                      f"{kind} values such as {arr.ravel()[:3]!r}")


class Classifier(Estimator):
    """A scikit-learn classifier. A softmax head has one unit per class in
    np.unique(y); a sigmoid head one unit for two classes, k units (one vs rest)
    for k > 2 classes, one per column for a multilabel indicator matrix."""
    _estimator_type = "classifier"

    def __sklearn_tags__(self):
        utils = sk.sklearn_utils()
        sigmoid = self.model.task == "binary"
        return utils.Tags(estimator_type="classifier",
                          target_tags=utils.TargetTags(required=True, multi_output=sigmoid, single_output=True),
                          classifier_tags=utils.ClassifierTags(multi_class=True, multi_label=sigmoid),
                          input_tags=utils.InputTags(allow_nan=False, sparse=False))

    def _targets(self, y, n):
        """y -> (the Trainer's targets, the output width); sets classes_."""
        model = self.model
        arr = sk.validate_y(self, y, n)
        if arr.ndim == 2 and arr.shape[1] == 1:
            warnings.warn(sk.twin(sk.DataConversionWarning)(
                "A column-vector y was passed when a 1d array was expected. Please change the "
                "shape of y to (n_samples, ), for example using ravel()."), stacklevel=3)
            arr = arr[:, 0]
        if arr.ndim == 2:
            if model.task != "binary":
                raise ValueError(f"y has shape {arr.shape}: a softmax + {model.loss_kind} head predicts one "
                                 "label per sample (multilabel targets need a sigmoid + "
                                 "binary_cross_entropy spec)")
            try:       # a multilabel indicator matrix: one sigmoid unit per column
                values = np.asarray(arr, dtype=np.float64)
            except (TypeError, ValueError):
                raise _unknown_label_type(model, "unknown", arr) from None
            sk.finite_y(values)
            if not np.all((values == 0) | (values == 1)):
                raise _unknown_label_type(model, "multiclass-multioutput", arr)
            self._mode, self._label_dtype = "multilabel", arr.dtype
            self.classes_ = np.arange(arr.shape[1])
            return values, values.shape[1]
        if arr.dtype.kind == "O" and not all(isinstance(v, str) for v in arr):
            try:
                numbers = np.asarray(arr, dtype=np.float64)
            except (TypeError, ValueError):
                raise _unknown_label_type(model, "unknown", arr) from None
        elif arr.dtype.kind in "fiub":
            numbers = arr
        else:
            numbers = None
        if numbers is not None and numbers.dtype.kind == "f":
            sk.finite_y(numbers)
            if np.any(numbers != np.round(numbers)):
                raise _unknown_label_type(model, "continuous", arr)
        try:
            classes, encoded = np.unique(arr, return_inverse=True)
        except TypeError:
            raise _unknown_label_type(model, "unknown (mixed types)", arr) from None
        if len(classes) < 2:
            raise ValueError(f"Classifier can't train when only one class is present: y has 1 "
                             f"class ({classes[0]!r}); at least 2 are needed")
        self.classes_ = classes
        encoded = encoded.reshape(-1).astype(np.int64)
        if model.task == "multiclass":
            self._mode = "multiclass"            # one softmax unit per class
            return encoded, len(classes)
        if len(classes) == 2:
            self._mode = "binary"                # one sigmoid unit: P(classes_[1])
            return encoded.astype(np.float64), 1
        self._mode = "ovr"                       # one sigmoid unit per class, one vs rest
        return np.eye(len(classes))[encoded], len(classes)

    def predict_proba(self, X):
        """Class probabilities, (n, len(classes_)); for a multilabel fit, each label's."""
        A = self._outputs(X)
        if self._mode == "binary":
            return np.hstack([1.0 - A, A])
        if self._mode == "ovr":
            total = A.sum(axis=1, keepdims=True)
            return np.where(total > 0, A / np.where(total > 0, total, 1.0), 1.0 / A.shape[1])
        return A

    def predict(self, X):
        """Class labels (from classes_); for a multilabel fit, the indicator matrix."""
        A = self._outputs(X)
        if self._mode == "multilabel":
            return (A > 0.5).astype(self._label_dtype)
        if self._mode == "binary":
            return self.classes_[(A[:, 0] > 0.5).astype(np.int64)]
        return self.classes_[A.argmax(axis=1)]

    def score(self, X, y, sample_weight=None):
        """Accuracy of predict(X) (subset accuracy for multilabel), as ClassifierMixin."""
        pred = self.predict(X)
        arr = sk.validate_y(self, y, pred.shape[0])
        if arr.ndim == 2 and arr.shape[1] == 1 and pred.ndim == 1:
            arr = arr[:, 0]
        hits = (pred == arr) if pred.ndim == 1 else (pred == arr).all(axis=1)
        if sample_weight is None:
            return float(np.mean(hits))
        w = np.asarray(sample_weight, dtype=np.float64)
        return float(np.dot(hits, w) / w.sum())
