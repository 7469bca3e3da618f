"""Row weights (CONTRACT v2 §2): w_n = s_n * c_{y_n}, from `sample_weight` and the
spec's [loss] class_weight ("balanced": scikit-learn's n / (k * count(k)) on the data
given to fit, or one weight per class). The compiled loss takes them (the derivation's
weighted mean); this file checks and combines them."""
import numpy as np


def check_sample_weight(sample_weight, n):
    """sample_weight as float64 (n,), or None; ValueError for a wrong length, a negative
    or non-finite weight, or a zero total."""
    if sample_weight is None:
        return None
    try:
        w = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"sample_weight cannot be read as numbers: {err}") from None
    if w.ndim == 0:
        w = np.full(n, float(w))
    if w.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},), one weight per row of X, got {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("sample_weight contains NaN or inf")
    if np.any(w < 0):
        raise ValueError(f"sample_weight must be >= 0; found {w.min():g}")
    if not w.sum() > 0:
        raise ValueError("sample_weight sums to zero: no row would count")
    return w


def class_labels(task, Y):
    """Each row's class from the kernels' targets: the one-hot's (or the largest
    probability's) column, or a single sigmoid unit's 0 / 1."""
    if task == "multiclass":
        return Y.argmax(axis=1)
    return (Y[:, 0] > 0.5).astype(np.int64)


def class_weights(class_weight, labels, k):
    """Each class's weight: "balanced" from these labels (a class with no rows: 0), or
    the given list."""
    if isinstance(class_weight, str):      # "balanced"
        counts = np.bincount(labels, minlength=k).astype(np.float64)
        with np.errstate(divide="ignore"):
            return np.where(counts > 0, len(labels) / (k * counts), 0.0)
    return np.asarray(class_weight, dtype=np.float64)


def row_weights(model, Y, sample_weight, class_weight):
    """w_n = s_n * c_{y_n} as float64 (n,), or None when neither is given."""
    n = Y.shape[0]
    weights = check_sample_weight(sample_weight, n)
    if class_weight is not None:
        k = 2 if Y.shape[1] == 1 else Y.shape[1]
        labels = class_labels(model.task, Y)
        per_row = class_weights(class_weight, labels, k)[labels]
        weights = per_row if weights is None else weights * per_row
        if not weights.sum() > 0:
            raise ValueError("the rows' weights (sample_weight times class_weight) sum to zero")
    return weights
