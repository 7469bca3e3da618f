"""scikit-learn's estimator protocol on a generated module's Trainer, duck-typed
(no scikit-learn import: sklearn_compat). A generated module subclasses
Classifier or Regressor with its Model and Trainer and an __init__ that lists
its parameters (scikit-learn reads them from __init__'s signature)."""
import inspect
import warnings

import numpy as np

from . import sklearn_compat as sk
from . import validation, weights

TRAINING_NAMES = ("batch_size", "epochs", "shuffle", "seed", "target_loss", "patience", "min_delta",
                  "restore_best")


def _same_value(a, b):
    try:
        return a is b or (type(a) is type(b) and bool(a == b))
    except Exception:
        return False


def _labels_of(Y):
    """Each row's class index from a classifier's trainer targets: labels (multiclass),
    0 / 1 (one sigmoid unit) or one-vs-rest rows."""
    return np.asarray(Y).astype(np.int64) if np.ndim(Y) == 1 else np.asarray(Y).argmax(axis=1)


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

    def _new_trainer(self, n_in, n_out):
        seed, hyper, training = self._settings()
        params = self.model.init_params(seed, widths=self._widths(n_in, n_out))
        return self.trainer(params=params, seed=seed, **hyper, **training)

    def _continued_trainer(self, n_in, n_out):
        """The fitted Trainer, to train on, its settings set to the current parameters
        (validated first: a refused setting leaves it as it was); None when the
        estimator is not fitted or its widths are not those asked for now."""
        trainer = getattr(self, "trainer_", None)
        if trainer is None:
            return None
        widths = self._widths(n_in, n_out)
        if tuple(trainer.params[0].shape[:1]) + tuple(p.shape[1] for p in trainer.params[::2]) != widths:
            return None
        model = self.model
        _, hyper, training = self._settings()
        hyper = dict(trainer.hyper, **{key: validation.check_hyper(model.hyper_rules, key, value)
                                       for key, value in hyper.items()})
        training = {key: validation.check_training(key, value) for key, value in training.items()}
        if model.check_settings is not None:
            model.check_settings(hyper)
        trainer.hyper = hyper
        trainer.training.update(training)
        return trainer

    def _keep(self, trainer, history, n_in, n_out, targets, epochs_before):
        self.trainer_ = trainer
        self.history_ = history
        self.n_features_in_ = n_in
        self.n_outputs_ = n_out
        self.n_iter_ = epochs_before + history.epochs_run
        for key, value in targets.items():
            setattr(self, key, value)

    def _row_weights(self, Y, sample_weight):
        """Each row's weight for the trainer: sample_weight times, for a classifier, its
        class's class_weight (None when neither is given)."""
        rows = weights.check_sample_weight(sample_weight, Y.shape[0])
        per_class = self._class_weights(Y)
        if per_class is None:
            return rows
        labels = _labels_of(Y)
        out = per_class[labels] if rows is None else rows * per_class[labels]
        if not out.sum() > 0:
            raise ValueError("the rows' weights (sample_weight times class_weight) sum to zero")
        return out

    def _class_weights(self, Y):
        return None

    def _train(self, trainer, X, Y, sample_weight, **fit):
        """trainer.fit with this estimator's row weights (its class_weight, not the spec's)."""
        trainer.class_weight = None
        return trainer.fit(X, Y, progress=False, sample_weight=self._row_weights(Y, sample_weight), **fit)

    def fit(self, X, y, sample_weight=None):
        """Train on (X, y); returns self. A fresh network, unless warm_start is set
        and the estimator is fitted with the same widths: then the fitted Trainer
        trains `epochs` more epochs (a classifier's classes must be the same).
        sample_weight weighs the rows of the loss (times class_weight's, classifiers)."""
        warm = getattr(self, "warm_start", False)
        if not isinstance(warm, (bool, np.bool_)):
            raise ValueError(f"warm_start must be True or False, not {warm!r}")
        fitted = bool(warm) and hasattr(self, "trainer_")
        X = sk.validate_X(self, X, reset=True)
        Y, n_out, targets = self._targets(y, X.shape[0])
        trainer = None
        if fitted:
            self._check_same_targets(targets)
            trainer = self._continued_trainer(X.shape[1], n_out)
        before = self.n_iter_ if trainer is not None else 0
        if trainer is None:
            trainer = self._new_trainer(X.shape[1], n_out)
        previous = {key: getattr(self, key, None) for key in targets}
        for key, value in targets.items():           # the weights read the mode and classes
            setattr(self, key, value)
        try:
            history = self._train(trainer, X, Y, sample_weight)
        except Exception:
            for key, value in previous.items():
                setattr(self, key, value)
            raise
        self._keep(trainer, history, X.shape[1], n_out, targets, before)
        return self

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over (X, y), continuing the fitted Trainer (a fresh network on
        the first call); returns self. As MLPClassifier.partial_fit: a classifier
        needs `classes` (every label y may hold) on the first call."""
        first = not hasattr(self, "trainer_")
        X = sk.validate_X(self, X, reset=first)
        Y, n_out, targets = self._partial_targets(y, X.shape[0], classes, first)
        trainer = None if first else self._continued_trainer(X.shape[1], n_out)
        if trainer is None:
            if not first:
                raise ValueError(f"partial_fit: y has {n_out} output(s); the estimator was fitted "
                                 f"with {self.n_outputs_} (hidden_units {self.hidden_units!r} must "
                                 "stay those of the fit too)")
            trainer = self._new_trainer(X.shape[1], n_out)
        previous = {key: getattr(self, key, None) for key in targets}
        for key, value in targets.items():
            setattr(self, key, value)
        try:
            history = self._train(trainer, X, Y, sample_weight, epochs=1)
        except Exception:
            for key, value in previous.items():
                setattr(self, key, value)
            raise
        self._keep(trainer, history, X.shape[1], n_out, targets, 0 if first else self.n_iter_)
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
        """y -> ((n, k) float targets, k, the attributes to set: whether y was 1-D)."""
        arr = sk.validate_y(self, y, n)
        try:
            arr = np.asarray(arr, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"y: regression targets must be numbers: {err}") from None
        sk.finite_y(arr)
        if arr.ndim == 2 and arr.shape[1] == 0:
            raise ValueError(f"y has 0 outputs (shape={arr.shape})")
        y_1d = arr.ndim == 1
        arr = arr.reshape(n, -1)
        return arr, arr.shape[1], {"_y_1d": y_1d}

    def _check_same_targets(self, targets):
        """A warm-started fit may change the number of outputs (it then starts afresh)."""

    def _partial_targets(self, y, n, classes, first):
        if classes is not None:
            raise ValueError("classes is for classifiers; a regressor's partial_fit takes classes=None")
        return self._targets(y, n)

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

    def _labels(self, y, n):
        """y checked as class labels: (the labels as given, None) for one label per
        sample, or (the labels, their float64 values) for a multilabel indicator matrix."""
        model = self.model
        arr = sk.validate_y(self, y, n)
        if arr.ndim == 2 and arr.shape[1] == 1:
            warnings.warn(sk.twin(sk.DataConversionWarning)(
                "A column-vector y was passed when a 1d array was expected. Please change the "
                "shape of y to (n_samples, ), for example using ravel()."), stacklevel=4)
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
            return arr, values
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
        return arr, None

    def _unique(self, labels, what):
        """The sorted distinct labels (at least two)."""
        try:
            classes = np.unique(labels)
        except TypeError:
            raise _unknown_label_type(self.model, f"unknown (mixed types in {what})", labels) from None
        if len(classes) < 2:
            raise ValueError(f"Classifier can't train when only one class is present: {what} has "
                             f"{len(classes)} class{'' if len(classes) == 1 else 'es'}"
                             f"{f' ({classes[0]!r})' if len(classes) else ''}; at least 2 are needed")
        return classes

    def _encode(self, arr, classes):
        """1-D labels -> (the Trainer's targets, the output width, the mode), each
        label coded by its index in the sorted `classes` (which need not all occur)."""
        try:
            encoded = np.searchsorted(classes, arr).reshape(-1)
            known = encoded < len(classes)
            known[known] = classes[encoded[known]] == arr.reshape(-1)[known]
        except TypeError:
            known = np.zeros(len(arr), dtype=bool)
        if not known.all():
            unseen = list(dict.fromkeys(arr.reshape(-1)[~known].tolist()))[:5]
            raise ValueError(f"y holds labels not in classes_ {classes!r}: {unseen!r}")
        encoded = encoded.astype(np.int64)
        if self.model.task == "multiclass":
            return encoded, len(classes), "multiclass"              # one softmax unit per class
        if len(classes) == 2:
            return encoded.astype(np.float64), 1, "binary"          # one sigmoid unit: P(classes_[1])
        return np.eye(len(classes))[encoded], len(classes), "ovr"   # one sigmoid unit per class

    def _targets(self, y, n):
        """y -> (the Trainer's targets, the output width, the attributes to set:
        classes_ = np.unique(y), the mode)."""
        arr, values = self._labels(y, n)
        if values is not None:
            return values, values.shape[1], {"classes_": np.arange(arr.shape[1]), "_mode": "multilabel",
                                             "_label_dtype": arr.dtype}
        classes = self._unique(arr, "y")
        Y, n_out, mode = self._encode(arr, classes)
        return Y, n_out, {"classes_": classes, "_mode": mode}

    def _check_same_targets(self, targets):
        """A warm-started fit keeps the classes (as MLPClassifier's)."""
        if targets["_mode"] != self._mode or not np.array_equal(targets["classes_"], self.classes_):
            raise ValueError("warm_start can only be used where `y` has the same classes as in the "
                             f"previous call to fit. Previously got {self.classes_!r}, `y` has "
                             f"{targets['classes_']!r}")

    def _partial_targets(self, y, n, classes, first):
        """partial_fit's targets, coded against classes_ (set from `classes` on the first call)."""
        if classes is None:
            if first:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            classes = self.classes_
        else:
            try:
                classes = np.asarray(classes)
            except ValueError as err:
                raise ValueError(f"classes cannot be read as an array: {err}") from None
            if classes.ndim != 1:
                raise ValueError(f"classes must be 1-D, got shape {classes.shape}")
            classes = self._unique(classes, "classes")
            if not first and not np.array_equal(classes, self.classes_):
                raise ValueError(f"`classes={classes!r}` is not the same as on last call to "
                                 f"partial_fit, was: {self.classes_!r}")
        arr, values = self._labels(y, n)
        if values is not None:     # a multilabel indicator matrix: classes are its column indices
            if not np.array_equal(classes, np.arange(arr.shape[1])):
                raise ValueError(f"y is a multilabel indicator matrix of {arr.shape[1]} columns: classes "
                                 f"must be their indices 0..{arr.shape[1] - 1}, got {classes!r}")
            if not first and self._mode != "multilabel":
                raise ValueError("y is a multilabel indicator matrix; the estimator was fitted on "
                                 "one label per sample")
            return values, values.shape[1], {"classes_": classes, "_mode": "multilabel",
                                             "_label_dtype": arr.dtype}
        if not first and self._mode == "multilabel":
            raise ValueError("y holds one label per sample; the estimator was fitted on a multilabel "
                             "indicator matrix")
        Y, n_out, mode = self._encode(arr, classes)
        return Y, n_out, {"classes_": classes, "_mode": mode}

    def _class_weights(self, Y):
        """Each class's weight, by its index in classes_, from class_weight: None, "balanced"
        (n / (k * count), on these rows), a dict {class: weight} (others 1) or one per class."""
        given = getattr(self, "class_weight", None)
        if given is None:
            return None
        if self._mode == "multilabel":
            raise ValueError("class_weight is for single-label targets, not a multilabel indicator matrix")
        k = len(self.classes_)
        if isinstance(given, str):
            if given != "balanced":
                raise ValueError(f'class_weight must be None, "balanced", a dict or one weight per class, '
                                 f"not {given!r}")
            labels = _labels_of(Y)
            return weights.class_weights("balanced", labels, k)
        if isinstance(given, dict):
            unknown = [c for c in given if c not in set(self.classes_.tolist())]
            if unknown:
                raise ValueError(f"class_weight names classes not in y: {unknown!r}")
            out = np.array([float(given.get(c, 1.0)) for c in self.classes_.tolist()])
        else:
            out = np.asarray(given, dtype=np.float64).reshape(-1)
            if out.shape != (k,):
                raise ValueError(f"class_weight has {out.size} weights for {k} classes")
        if not np.all(np.isfinite(out)) or np.any(out < 0):
            raise ValueError("class_weight must be finite and >= 0")
        return out

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
