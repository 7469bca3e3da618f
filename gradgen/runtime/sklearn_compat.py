"""What scikit-learn's estimator protocol expects of the Estimator, without
importing scikit-learn: input checks that refuse what check_array refuses, with
its messages, and the error and warning classes, raised as subclasses of
scikit-learn's classes of the same name where scikit-learn is already loaded
(sys.modules), so that `except NotFittedError` with either class, and
scikit-learn's warning filters and checks, see them."""
import sys

import numpy as np


class _PicklesAsOwnClass:
    """Pickles as the runtime's class (its scikit-learn twin again where that is loaded)."""

    def __reduce__(self):
        return _rebuild, (type(self).__name__, self.args)


class NotFittedError(_PicklesAsOwnClass, ValueError, AttributeError):
    """An Estimator method that needs a fitted model was called before fit."""


class DataConversionWarning(_PicklesAsOwnClass, UserWarning):
    """The targets were converted (a column vector y raveled), as scikit-learn warns."""


_OWN = {"NotFittedError": NotFittedError, "DataConversionWarning": DataConversionWarning}
_TWINS = {}


def twin(cls):
    """cls or, when scikit-learn is loaded, a subclass of cls and of scikit-learn's class
    of the same name (sklearn.exceptions.NotFittedError, ...DataConversionWarning)."""
    theirs = getattr(sys.modules.get("sklearn.exceptions"), cls.__name__, None)
    if theirs is None:
        return cls
    if cls.__name__ not in _TWINS:
        _TWINS[cls.__name__] = type(cls.__name__, (cls, theirs), {
            "__module__": __name__, "__doc__": cls.__doc__})
    return _TWINS[cls.__name__]


def _rebuild(name, args):
    return twin(_OWN[name])(*args)


def not_fitted(estimator):
    return twin(NotFittedError)(
        f"This {type(estimator).__name__} instance is not fitted yet. Call 'fit' with "
        "appropriate arguments before using this estimator.")


def sklearn_utils():
    """scikit-learn's sklearn.utils, which only scikit-learn's own calls need (it is
    loaded then): __sklearn_tags__ returns its Tags."""
    sk = sys.modules.get("sklearn.utils")
    if sk is None or not hasattr(sk, "Tags"):
        raise RuntimeError("__sklearn_tags__ is scikit-learn's (>= 1.6) protocol; "
                           "scikit-learn is not loaded")
    return sk


def validate_X(estimator, X, reset):
    """X as a 2-D float64 array, refused the way scikit-learn's check_array refuses it."""
    if hasattr(X, "toarray") and hasattr(X, "nnz"):
        raise TypeError("Sparse data was passed for X, but dense data is required. Use "
                        "'.toarray()' to convert to a dense numpy array.")
    arr = np.asarray(X)
    if arr.dtype.kind == "c":
        raise ValueError(f"Complex data not supported\n{arr}\n")
    if arr.dtype.kind in "USV":
        raise ValueError(f"X: dtype {arr.dtype} is not numeric; convert strings to numbers first")
    arr = np.asarray(arr, dtype=np.float64)    # a TypeError for objects such as dicts
    reshape = ("Reshape your data either using array.reshape(-1, 1) if your data has a single "
               "feature or array.reshape(1, -1) if it contains a single sample.")
    if arr.ndim == 0:
        raise ValueError(f"Expected 2D array, got scalar array instead:\narray={arr!r}.\n{reshape}")
    if arr.ndim == 1:
        raise ValueError(f"Expected 2D array, got 1D array instead:\narray={arr!r}.\n{reshape}")
    if arr.ndim > 2:
        raise ValueError(f"Found array with dim {arr.ndim}. {type(estimator).__name__} "
                         "expected <= 2.")
    if arr.shape[0] == 0:
        raise ValueError(f"Found array with 0 sample(s) (shape={arr.shape}) while a minimum "
                         "of 1 is required.")
    if arr.shape[1] == 0:
        raise ValueError(f"Found array with 0 feature(s) (shape={arr.shape}) while a minimum "
                         "of 1 is required.")
    if np.isnan(arr).any():
        raise ValueError("Input X contains NaN.")
    if not np.isfinite(arr).all():
        raise ValueError("Input X contains infinity or a value too large for dtype('float64').")
    if not reset and arr.shape[1] != estimator.n_features_in_:
        raise ValueError(f"X has {arr.shape[1]} features, but {type(estimator).__name__} is "
                         f"expecting {estimator.n_features_in_} features as input.")
    return arr


def finite_y(arr):
    if np.isnan(arr).any():
        raise ValueError("Input y contains NaN.")
    if not np.isfinite(arr).all():
        raise ValueError("Input y contains infinity or a value too large for dtype('float64').")


def validate_y(estimator, y, n):
    if y is None:
        raise ValueError(f"{type(estimator).__name__} requires y to be passed, but the target "
                         "y is None.")
    if hasattr(y, "toarray") and hasattr(y, "nnz"):
        raise TypeError("Sparse data was passed for y, but dense data is required. Use "
                        "'.toarray()' to convert to a dense numpy array.")
    try:
        arr = np.asarray(y)
    except ValueError as err:      # ragged
        raise ValueError(f"y cannot be read as an array: {err}") from None
    if arr.dtype.kind == "c":
        raise ValueError(f"Complex data not supported\n{arr}\n")
    if arr.ndim == 0 or arr.ndim > 2:
        raise ValueError(f"y must be 1-D (n_samples,) or 2-D (n_samples, n_outputs), got shape "
                         f"{arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"Found input variables with inconsistent numbers of samples: "
                         f"[{n}, {arr.shape[0]}]")
    return arr
