"""The finiteness check of X and y (gradgen.runtime.validation.all_finite): the sum of the entries first (one
pass, no temporary), entry by entry only when the sum is not finite. Whatever the
values, it must say exactly what np.isfinite(a).all() says, without a warning, and
an X or y with one NaN or inf must be refused before any training, the trainer left
as it was."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from gradgen.runtime.validation import all_finite
from helpers import build

SPEC_F64 = {"name": "finite_f64", "inputs": 3, "dtype": "float64",
            "layers": [{"units": 4, "activation": "relu"}, {"units": 1, "activation": "identity"}],
            "loss": {"kind": "mse"}, "optimizer": {"kind": "sgd", "learning_rate": 0.1}}


@pytest.fixture(scope="module")
def f64():
    return build(SPEC_F64)


_ENTRY = st.sampled_from([np.nan, np.inf, -np.inf, "max", "-max", "tiny"])


@settings(max_examples=200, deadline=None)
@given(rows=st.integers(1, 40), cols=st.integers(1, 20),
       entries=st.lists(st.tuples(st.integers(0, 10 ** 6), _ENTRY), max_size=6),
       which=st.sampled_from(["digits", "f64"]))
def test_all_finite_says_what_numpy_says(digits, f64, rows, cols, entries, which):
    """NaN, inf and -inf entries, and finite ones at the dtype's limits whose sum
    overflows to inf, -inf or NaN (inf - inf)."""
    module = digits if which == "digits" else f64
    info = np.finfo(module.DTYPE)
    named = {"max": info.max, "-max": -info.max, "tiny": info.tiny}
    arr = np.random.default_rng(rows * 31 + cols).standard_normal((rows, cols)).astype(module.DTYPE)
    for position, value in entries:
        arr.reshape(-1)[position % arr.size] = named.get(value, value) if isinstance(value, str) else value
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = all_finite(arr)
    assert got is bool(np.isfinite(arr).all())


def test_a_sum_that_overflows_is_not_taken_for_a_bad_entry(digits):
    """Finite entries whose float32 sum overflows: the check looks at each entry."""
    X = np.full((4, 64), np.finfo(np.float32).max, np.float32)
    with np.errstate(over="ignore"):
        assert not np.isfinite(X.sum(dtype=np.float32))
    assert all_finite(X)
    digits.forward(digits.init_params(0), X)            # accepted


@pytest.mark.parametrize("position", [0, 547_000, -1])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_a_big_X_with_one_bad_entry_is_refused(digits, position, value):
    """17,000 x 64 entries, one of them NaN or inf: fit, step and forward refuse it
    before training."""
    X = np.random.default_rng(0).standard_normal((17_000, 64)).astype(np.float32)
    y = np.zeros(X.shape[0], int)
    X.reshape(-1)[position] = value
    trainer = digits.Trainer(seed=0)
    before = [p.copy() for p in trainer.params]
    with pytest.raises(ValueError, match="X contains NaN or inf"):
        trainer.fit(X, y, epochs=1, progress=False)
    with pytest.raises(ValueError, match="X contains NaN or inf"):
        trainer.step(X, y)
    with pytest.raises(ValueError, match="X contains NaN or inf"):
        digits.forward(trainer.params, X)
    assert trainer.t == 0
    for p, q in zip(trainer.params, before):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_bad_targets_are_refused(digits, f64, value):
    """One-hot rows (digits) and regression targets (f64) with a NaN or inf."""
    Y = np.eye(10, dtype=np.float32)[np.arange(40) % 10]
    Y[39, 3] = value
    with pytest.raises(ValueError, match="y contains NaN or inf"):
        digits.Trainer(seed=0).fit(np.zeros((40, 64), np.float32), Y, epochs=1, progress=False)
    y = np.zeros(40)
    y[7] = value
    with pytest.raises(ValueError, match="y contains NaN or inf"):
        f64.Trainer(seed=0).fit(np.zeros((40, 3)), y, epochs=1, progress=False)
