"""Data for `gradgen train`: scikit-learn's bundled sets, .npz (X, y) or .csv files."""
import importlib.util
import os

import numpy as np


class DataError(ValueError):
    """The data source is missing, unreadable or does not fit the spec."""


def load_data(source):
    """(X, y) from 'sklearn:<name>', a .npz with arrays X and y, or a .csv whose last
    column is the target (a header row is skipped when it is not numeric)."""
    if source is None:
        raise DataError("no data: give --data SOURCE or a [data] source in the spec")
    if source.startswith("sklearn:"):
        return _sklearn(source[len("sklearn:"):])
    if not os.path.exists(source):
        raise DataError(f"{source}: no such file")
    if source.lower().endswith(".npz"):
        try:
            with np.load(source, allow_pickle=False) as data:
                missing = {"X", "y"} - set(data.files)
                if missing:
                    raise DataError(f"{source}: needs arrays 'X' and 'y'; has {sorted(data.files)}")
                return np.asarray(data["X"]), np.asarray(data["y"])
        except (OSError, ValueError) as err:
            if isinstance(err, DataError):
                raise
            raise DataError(f"{source}: not a readable .npz file ({err})") from None
    if source.lower().endswith(".csv"):
        return _csv(source)
    raise DataError(f"{source}: expected sklearn:<name>, a .npz or a .csv file")


# scikit-learn's bundled sets that are one CSV file in sklearn/datasets/data, the
# target in its last column: read as load_<name> reads it (np.loadtxt of the gzipped
# text), without importing scikit-learn, which costs the main job's cold start 0.7 s
BUNDLED_CSV = {"digits": "digits.csv.gz"}


def _bundled_csv(name):
    """(X, y) of a BUNDLED_CSV set from scikit-learn's own file, or None where that
    file is not found (another layout): then its loader runs."""
    found = importlib.util.find_spec("sklearn")
    if name not in BUNDLED_CSV or found is None or not found.submodule_search_locations:
        return None
    path = os.path.join(list(found.submodule_search_locations)[0], "datasets", "data", BUNDLED_CSV[name])
    if not os.path.isfile(path):
        return None
    import gzip
    with gzip.open(path, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",")
    return table[:, :-1], table[:, -1].astype(np.int64)


def _sklearn(name):
    bundled = _bundled_csv(name)
    if bundled is not None:
        return bundled
    try:
        import sklearn.datasets as datasets
    except ImportError:
        raise DataError("sklearn data sources need scikit-learn: pip install 'gradgen[data]'") from None
    loader = getattr(datasets, f"load_{name}", None)
    if loader is None:
        raise DataError(f"sklearn:{name}: scikit-learn has no bundled loader load_{name}")
    try:
        X, y = loader(return_X_y=True)
    except Exception as err:  # fetchers that need the network, and the like
        raise DataError(f"sklearn:{name}: {err}") from None
    return np.asarray(X, dtype=np.float64), np.asarray(y)


def _csv(path):
    with open(path, encoding="utf-8") as fh:
        first = fh.readline()
    try:
        [float(v) for v in first.strip().split(",")]
        skip = 0
    except ValueError:
        skip = 1
    try:
        table = np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2)
    except ValueError as err:
        raise DataError(f"{path}: not a numeric CSV ({err})") from None
    if table.shape[1] < 2:
        raise DataError(f"{path}: needs at least one feature column and a target column")
    y = table[:, -1]
    if np.all(y == np.round(y)):
        y = y.astype(np.int64)
    return table[:, :-1], y


def split(X, y, test_fraction, seed):
    """A seeded shuffle split into (X_train, y_train, X_test, y_test)."""
    n = len(X)
    if len(y) != n:
        raise DataError(f"X has {n} rows but y has {len(y)}")
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * test_fraction))
    if n_test < 1 or n_test >= n:
        raise DataError(f"test_fraction {test_fraction} leaves no train or no test rows of {n}")
    test, train = order[:n_test], order[n_test:]
    return X[train], y[train], X[test], y[test]
