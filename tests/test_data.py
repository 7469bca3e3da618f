"""gradgen.data: the digits come from scikit-learn's own file without importing it,
exactly as its loader gives them."""
import subprocess
import sys

import numpy as np
import pytest

from gradgen import data

pytest.importorskip("sklearn")


def test_bundled_digits_are_load_digits_bit_for_bit():
    from sklearn.datasets import load_digits
    X, y = data.load_data("sklearn:digits")
    X_ref, y_ref = load_digits(return_X_y=True)
    assert X.dtype == np.float64 and y.dtype == np.int64 and X.shape == (1797, 64)
    assert np.array_equal(X, X_ref) and np.array_equal(y, y_ref)


def test_the_digits_load_without_importing_scikit_learn():
    code = ("import sys; from gradgen.data import load_data; X, y = load_data('sklearn:digits'); "
            "print(len(X), 'sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["1797", "False"]


def test_without_the_bundled_file_the_loader_runs(monkeypatch):
    monkeypatch.setitem(data.BUNDLED_CSV, "digits", "no-such-file.csv.gz")
    assert data._bundled_csv("digits") is None
    X, y = data.load_data("sklearn:digits")
    assert X.shape == (1797, 64) and y[:3].tolist() == [0, 1, 2]
    X, y = data.load_data("sklearn:iris")          # not a BUNDLED_CSV set: its loader
    assert X.shape == (150, 4)
