"""The finiteness check of X and y (_all_finite): NumPy's isfinite for small arrays, a
compiled single pass split over threads for big ones. Whatever the path, it must
say exactly what np.isfinite(a).all() says, and a big X or y with one NaN or inf
must be refused before any training, the trainer left as it was."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from helpers import build

SPEC_F64 = {"name": "finite_f64", "inputs": 3, "dtype": "float64",
            "layers": [{"units": 4, "activation": "relu"}, {"units": 1, "activation": "identity"}],
            "loss": {"kind": "mse"}, "optimizer": {"kind": "sgd", "learning_rate": 0.1}}


@pytest.fixture(scope="module")
def digits():
    from generated import digits_mlp
    return digits_mlp


@pytest.fixture(scope="module")
def f64():
    return build(SPEC_F64)


def _patched(module, span, threads):
    """Set FINITE_SPAN and _THREADS; returns a function that puts them back."""
    saved = module.FINITE_SPAN, module._THREADS
    module.FINITE_SPAN, module._THREADS = span, threads

    def restore():
        module.FINITE_SPAN, module._THREADS = saved
    return restore


@settings(max_examples=150, deadline=None)
@given(rows=st.integers(1, 30), cols=st.integers(1, 20),
       bad=st.lists(st.tuples(st.integers(0, 10 ** 6), st.sampled_from([np.nan, np.inf, -np.inf])),
                    max_size=3),
       span=st.sampled_from([1, 3, 16, 64, 1 << 20]), threads=st.sampled_from([None, 1, 2, 3, 4]),
       which=st.sampled_from(["digits", "f64"]))
def test_all_finite_says_what_numpy_says(digits, f64, rows, cols, bad, span, threads, which):
    module = digits if which == "digits" else f64
    arr = np.random.default_rng(rows * 31 + cols).standard_normal((rows, cols)).astype(module.DTYPE)
    arr.reshape(-1)[-1] = np.finfo(module.DTYPE).max         # large is still finite
    for position, value in bad:
        arr.reshape(-1)[position % arr.size] = value
    restore = _patched(module, span, threads)
    try:
        got = module._all_finite(arr)
    finally:
        restore()
    assert got is bool(np.isfinite(arr).all())


@pytest.mark.parametrize("threads,size,expected", [
    (None, 10, None), (1, 100, 1), (2, 100, 2), (3, 100, 3), (4, 7, 2), (2, 5, 1)])
def test_spans_cover_the_array_once(digits, monkeypatch, threads, size, expected):
    """Below FINITE_SPAN entries no compiled span runs; above it, one per thread (at
    most one per FINITE_SPAN entries), unsigned, adjacent, covering every entry."""
    monkeypatch.setattr(digits, "FINITE_SPAN", 3 if expected is not None else 11)
    monkeypatch.setattr(digits, "_THREADS", threads)
    spans, kernel = [], digits._finite_span
    monkeypatch.setattr(digits, "_finite_span", lambda flat, lo, hi: spans.append((lo, hi)) or kernel(flat, lo, hi))
    assert digits._all_finite(np.ones(size, np.float32))
    if expected is None:
        assert spans == []
        return
    spans.sort()
    assert len(spans) == expected
    assert all(isinstance(b, np.uint64) for span in spans for b in span)
    assert spans[0][0] == 0 and spans[-1][1] == size
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))


@pytest.mark.parametrize("position", [0, 547_000, -1])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_a_big_X_with_one_bad_entry_is_refused(digits, position, value):
    """17,000 x 64 entries, above FINITE_SPAN: the compiled check on two threads where
    Numba may use two. fit and step refuse it before training."""
    X = np.random.default_rng(0).standard_normal((17_000, 64)).astype(np.float32)
    assert X.size >= digits.FINITE_SPAN
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


def test_a_big_finite_X_trains_as_before(digits, monkeypatch):
    """The same fit with the compiled check and with NumPy's (FINITE_SPAN out of reach)."""
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((17_000, 64)).astype(np.float32), rng.integers(0, 10, 17_000)
    fitted = []
    for span in (digits.FINITE_SPAN, X.size + 1):
        monkeypatch.setattr(digits, "FINITE_SPAN", span)
        trainer = digits.Trainer(seed=0)
        fitted.append((trainer.fit(X, y, epochs=1, batch_size=512, progress=False).loss, trainer.params))
    assert fitted[0][0] == fitted[1][0]
    for a, b in zip(fitted[0][1], fitted[1][1]):
        np.testing.assert_array_equal(a, b)


def test_bad_targets_are_refused_by_the_compiled_check(digits, monkeypatch):
    """One-hot rows with an inf, checked by the compiled path (FINITE_SPAN made small)."""
    monkeypatch.setattr(digits, "FINITE_SPAN", 8)
    X = np.zeros((40, 64), np.float32)
    Y = np.eye(10, dtype=np.float32)[np.arange(40) % 10]
    Y[39, 3] = np.inf
    with pytest.raises(ValueError, match="y contains NaN or inf"):
        digits.Trainer(seed=0).fit(X, Y, epochs=1, progress=False)
