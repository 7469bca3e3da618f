"""derive/spec.py: loading, defaults and the canonical form of a valid spec."""
import copy
import dataclasses
import json
import os

import pytest

from derive.spec import (
    DataSpec, LayerSpec, LossSpec, OptimizerSpec, TrainingSpec, load_spec,
)

from spec_samples import CONTRACT_DICT, CONTRACT_TOML, MINIMAL, contract_file  # noqa: F401  (a fixture)


# ----------------------------------------------------------------------------- loading

def test_contract_example_loads(contract_file):
    spec = load_spec(contract_file)
    assert spec.name == "digits_mlp"
    assert spec.inputs == 64
    assert spec.dtype == "float32"
    assert spec.layers == (
        LayerSpec(units=32, activation="tanh", formula=False, learning_rate=0.05, init="xavier_uniform"),
        LayerSpec(units=10, activation="softmax", formula=False, learning_rate=None, init="xavier_uniform"),
    )
    assert spec.loss == LossSpec(kind="cross_entropy", formula=None)
    assert spec.optimizer.kind == "sgd"
    assert spec.optimizer.params["learning_rate"] == 0.1
    assert spec.optimizer.learning_rate == 0.1
    assert spec.training == TrainingSpec(batch_size=32, epochs=20, shuffle=True, seed=0,
                                         target_loss=0.05, patience=5)
    assert spec.data == DataSpec(source="sklearn:digits", test_fraction=0.2)
    assert spec.path == str(contract_file)
    assert spec.source_label == str(contract_file)
    assert spec.output_activation == "softmax"
    assert spec.outputs == 10
    assert spec.classification is True


def test_str_path_and_pathlike(contract_file):
    assert load_spec(str(contract_file)) == load_spec(contract_file)


def test_dict_and_toml_equal(contract_file):
    from_dict = load_spec(CONTRACT_DICT)
    from_toml = load_spec(contract_file)
    assert from_dict == from_toml
    assert from_dict.path is None and from_dict.source_label == "<dict>"
    assert from_dict.digest() == from_toml.digest()


def test_spec_passes_through():
    spec = load_spec(MINIMAL)
    assert load_spec(spec) is spec


def test_not_a_source():
    with pytest.raises(TypeError):
        load_spec(42)


def test_dict_not_mutated():
    d = copy.deepcopy(CONTRACT_DICT)
    load_spec(d)
    assert d == CONTRACT_DICT
    m = copy.deepcopy(MINIMAL)
    load_spec(m)
    assert m == MINIMAL


def test_frozen_and_hashable():
    spec = load_spec(CONTRACT_DICT)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "other"
    with pytest.raises(TypeError):
        spec.optimizer.params["learning_rate"] = 1.0
    assert hash(spec) == hash(load_spec(CONTRACT_DICT))


# ----------------------------------------------------------------------------- canonical form

def test_to_dict_round_trip(contract_file):
    for spec in (load_spec(contract_file), load_spec(MINIMAL)):
        d = spec.to_dict()
        json.dumps(d)                       # plain and serialisable
        assert "path" not in d
        assert list(d)[:7] == ["name", "inputs", "dtype", "layers", "loss", "optimizer", "training"]
        again = load_spec(d)
        assert again == spec
        assert again.to_dict() == d
        assert again.digest() == spec.digest()


def test_to_dict_fills_defaults():
    d = load_spec(MINIMAL).to_dict()
    assert d["dtype"] == "float32"
    assert d["layers"][0] == {"units": 4, "activation": "tanh", "init": "xavier_uniform"}
    assert d["optimizer"] == {"kind": "sgd", "learning_rate": 1e-3, "momentum": 0.0,
                              "dampening": 0.0, "nesterov": False, "weight_decay": 0.0}
    assert d["training"] == {"batch_size": 32, "epochs": 20, "shuffle": True, "seed": 0}
    assert "data" not in d


def test_digest_stable_and_sensitive():
    a = load_spec(MINIMAL).digest()
    assert a == load_spec(copy.deepcopy(MINIMAL)).digest()
    assert len(a) == 64 and int(a, 16) >= 0
    changed = copy.deepcopy(MINIMAL)
    changed["layers"][0]["units"] = 5
    assert load_spec(changed).digest() != a
    changed = copy.deepcopy(MINIMAL)
    changed["optimizer"]["learning_rate"] = 0.01
    assert load_spec(changed).digest() != a
    # an explicit default is the same spec
    explicit = copy.deepcopy(MINIMAL)
    explicit["optimizer"]["momentum"] = 0
    explicit["training"] = {"epochs": 20}
    assert load_spec(explicit).digest() == a


# ----------------------------------------------------------------------------- defaults

def test_sgd_defaults():
    opt = load_spec(MINIMAL).optimizer
    assert dict(opt.params) == {"learning_rate": 1e-3, "momentum": 0.0, "dampening": 0.0,
                                "nesterov": False, "weight_decay": 0.0,
                                "clip_grad_norm": None, "clip_grad_value": None}


def test_adam_defaults():
    d = copy.deepcopy(MINIMAL)
    d["optimizer"] = {"kind": "adam", "learning_rate": 0.01}
    opt = load_spec(d).optimizer
    assert opt == OptimizerSpec("adam", {"learning_rate": 0.01, "betas": (0.9, 0.999),
                                         "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False,
                                         "clip_grad_norm": None, "clip_grad_value": None})
    assert opt.params["betas"] == (0.9, 0.999)
    assert opt.params["eps"] == 1e-8


def test_adam_betas_normalised():
    d = copy.deepcopy(MINIMAL)
    d["optimizer"] = {"kind": "adam", "betas": [0, 0.99], "amsgrad": True}
    opt = load_spec(d).optimizer
    assert opt.params["betas"] == (0.0, 0.99) and isinstance(opt.params["betas"], tuple)
    assert opt.params["amsgrad"] is True


def test_training_and_init_defaults():
    d = copy.deepcopy(MINIMAL)
    d["layers"][0]["activation"] = "relu"
    spec = load_spec(d)
    assert spec.training == TrainingSpec()
    assert spec.training.target_loss is None and spec.training.patience is None
    assert spec.data is None
    assert spec.layers[0].init == "he_uniform"       # relu's default
    assert spec.layers[1].init == "xavier_uniform"
    assert spec.classification is False


def test_int_values_widened_to_float():
    d = copy.deepcopy(MINIMAL)
    d["optimizer"] = {"kind": "sgd", "learning_rate": 1, "momentum": 0}
    d["layers"][0]["learning_rate"] = 2
    d["training"] = {"target_loss": 0}
    spec = load_spec(d)
    assert spec.optimizer.params["learning_rate"] == 1.0
    assert isinstance(spec.optimizer.params["learning_rate"], float)
    assert isinstance(spec.layers[0].learning_rate, float)
    assert spec.training.target_loss == 0.0


def test_none_means_absent_for_optional_keys():
    d = copy.deepcopy(MINIMAL)
    d["layers"][0]["learning_rate"] = None
    d["training"] = {"target_loss": None, "patience": None}
    d["data"] = None
    assert load_spec(d) == load_spec(MINIMAL)


def test_binary_cross_entropy_on_sigmoid():
    d = copy.deepcopy(MINIMAL)
    d["layers"][-1] = {"units": 1, "activation": "sigmoid"}
    d["loss"] = {"kind": "binary_cross_entropy"}
    spec = load_spec(d)
    assert spec.classification is True
    assert spec.output_activation == "sigmoid"


def test_float64_and_name_variants():
    d = copy.deepcopy(MINIMAL)
    d["dtype"] = "float64"
    d["name"] = "_private_net2"
    spec = load_spec(d)
    assert spec.dtype == "float64" and spec.name == "_private_net2"


def test_data_paths_resolve_against_spec_dir_at_use(tmp_path):
    text = CONTRACT_TOML.replace('source = "sklearn:digits"', 'source = "data/train.npz"')
    path = tmp_path / "m.toml"
    path.write_text(text)
    spec = load_spec(path)
    assert spec.data.source == "data/train.npz"          # as written: the digest is location-free
    assert spec.data_source() == str(tmp_path / "data" / "train.npz")
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "m.toml").write_text(text)
    assert load_spec(other / "m.toml").digest() == spec.digest()
    assert spec.data_source("x.csv") == "x.csv"          # an explicit override is taken as given
    # from a dict, relative paths stay as given
    d = copy.deepcopy(CONTRACT_DICT)
    d["data"] = {"source": "data/train.csv"}
    spec = load_spec(d)
    assert spec.data == DataSpec("data/train.csv", 0.2)
    # absolute paths are kept
    d["data"] = {"source": str(tmp_path / "x.csv"), "test_fraction": 0.5}
    assert load_spec(d).data.source == str(tmp_path / "x.csv")


def test_formula_activation_and_loss():
    d = copy.deepcopy(MINIMAL)
    d["layers"][0]["activation"] = "x * sigmoid(x)"
    d["loss"] = {"formula": "(yhat - y)**2 / 2"}
    spec = load_spec(d)
    assert spec.layers[0] == LayerSpec(4, "x * sigmoid(x)", True, None, "xavier_uniform")
    assert spec.loss == LossSpec(kind=None, formula="(yhat - y)**2 / 2")
    assert spec.classification is False
    assert load_spec(spec.to_dict()) == spec


def test_relative_path_loading(contract_file, monkeypatch):
    monkeypatch.chdir(contract_file.parent)
    spec = load_spec("digits.toml")
    assert spec.path == "digits.toml"
    assert spec == load_spec(CONTRACT_DICT)
    assert os.path.basename(spec.source_label) == "digits.toml"
