"""Trainer.load refuses, with ValueError naming the file, anything that is not a whole
checkpoint of the module's spec (CONTRACT §5): an empty file, a truncated one, a file
that is not an .npz, an .npz that is not a checkpoint, one with an array missing or of
the wrong shape; a missing file is FileNotFoundError. A whole one of the same spec
loads, at the spec's widths or others (the Estimator's)."""
import io
import json

import numpy as np
import pytest


@pytest.fixture
def checkpoint(digits, tmp_path):
    rng = np.random.default_rng(0)
    trainer = digits.Trainer(seed=0)
    trainer.fit(rng.normal(size=(40, 64)), rng.integers(0, 10, 40), epochs=1, progress=False)
    path = tmp_path / "whole.npz"
    trainer.save(path)
    return trainer, path


def _refused(digits, path, why):
    with pytest.raises(ValueError, match=why) as err:
        digits.Trainer.load(path)
    assert str(path) in str(err.value)


def test_empty_file(digits, tmp_path):
    path = tmp_path / "empty.npz"
    path.write_bytes(b"")
    _refused(digits, path, "not a whole gradgen checkpoint")


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.99])
def test_truncated_file(digits, checkpoint, tmp_path, fraction):
    data = checkpoint[1].read_bytes()
    path = tmp_path / "truncated.npz"
    path.write_bytes(data[:int(len(data) * fraction)])
    _refused(digits, path, "not a whole gradgen checkpoint")


def test_not_an_npz(digits, tmp_path):
    path = tmp_path / "notes.npz"
    path.write_text("hello\n")
    _refused(digits, path, "not a whole gradgen checkpoint")


def test_an_npz_that_is_no_checkpoint(digits, tmp_path):
    path = tmp_path / "foreign.npz"
    np.savez(path, W=np.zeros((2, 2)), b=np.zeros(2))
    _refused(digits, path, "no checkpoint metadata")


def _rewrite(source, target, change):
    with np.load(source) as data:
        arrays = {k: data[k] for k in data.files}
    change(arrays)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    target.write_bytes(buffer.getvalue())


def test_an_array_missing(digits, checkpoint, tmp_path):
    path = tmp_path / "missing.npz"
    _rewrite(checkpoint[1], path, lambda arrays: arrays.pop("state_momentum_buffer_2"))
    _refused(digits, path, "state_momentum_buffer_2")


def test_a_state_of_the_wrong_shape(digits, checkpoint, tmp_path):
    path = tmp_path / "shape.npz"
    _rewrite(checkpoint[1], path, lambda arrays: arrays.update(state_momentum_buffer_0=np.zeros((3, 3))))
    _refused(digits, path, "has shape")


def test_metadata_that_is_not_json(digits, checkpoint, tmp_path):
    path = tmp_path / "meta.npz"
    _rewrite(checkpoint[1], path, lambda arrays: arrays.update(meta=np.array("{not json")))
    _refused(digits, path, "not a whole gradgen checkpoint")


def test_metadata_missing_a_field(digits, checkpoint, tmp_path):
    def drop_rng(arrays):
        meta = json.loads(str(arrays["meta"]))
        del meta["rng"]
        arrays["meta"] = np.array(json.dumps(meta))
    path = tmp_path / "norng.npz"
    _rewrite(checkpoint[1], path, drop_rng)
    _refused(digits, path, "'rng'")


def test_a_missing_file_is_file_not_found(digits, tmp_path):
    with pytest.raises(FileNotFoundError):
        digits.Trainer.load(tmp_path / "nowhere.npz")


def test_a_whole_checkpoint_loads_with_its_state(digits, checkpoint):
    trainer, path = checkpoint
    loaded = digits.Trainer.load(path)
    assert loaded.t == trainer.t and loaded.hyper == trainer.hyper
    for a, b in zip(loaded.params, trainer.params):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(loaded.state["momentum_buffer"], trainer.state["momentum_buffer"]):
        np.testing.assert_array_equal(a, b)


def test_other_widths_of_the_same_spec_load(digits, tmp_path):
    """The Estimator trains the spec at other widths: its trainer's checkpoint loads."""
    trainer = digits.Trainer(params=digits.init_params(0, widths=(64, 7, 10)))
    trainer.save(tmp_path / "narrow.npz")
    loaded = digits.Trainer.load(tmp_path / "narrow.npz")
    assert [p.shape for p in loaded.params] == [(64, 7), (7,), (7, 10), (10,)]


def test_a_parameter_of_the_wrong_rank(digits, checkpoint, tmp_path):
    path = tmp_path / "rank.npz"
    _rewrite(checkpoint[1], path, lambda arrays: arrays.update(param_1=np.zeros((32, 1))))
    _refused(digits, path, "params array 1 has shape")
