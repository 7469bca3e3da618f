"""derive/spec.py: loading, defaults, canonical form and every refusal."""
import copy
import dataclasses
import json
import math
import os

import pytest

from derive.errors import SpecError
from derive.spec import (
    DataSpec, LayerSpec, LossSpec, OptimizerSpec, TrainingSpec, load_spec,
)


# CONTRACT.md section 2, verbatim
CONTRACT_TOML = '''\
name   = "digits_mlp"     # required; a Python identifier; the module's name
inputs = 64               # required; features per sample
dtype  = "float32"        # "float32" (default) or "float64"

[[layers]]                # one table per dense layer, in order
units = 32
activation = "tanh"       # a built-in name, or a formula in x (below)
learning_rate = 0.05      # optional: this layer's own learning rate (W and b)
init = "xavier_uniform"   # optional: xavier_uniform | xavier_normal | he_uniform | he_normal | uniform | zeros

[[layers]]
units = 10
activation = "softmax"    # vector activation: last layer only

[loss]
kind = "cross_entropy"    # or: formula = "<expression in yhat and y>"

[optimizer]
kind = "sgd"              # sgd | adam | adamw | rmsprop | adagrad
learning_rate = 0.1
# sgd: momentum, dampening, nesterov, weight_decay
# adam / adamw: betas = [0.9, 0.999], eps, weight_decay, amsgrad
# rmsprop: alpha, eps, momentum, centered, weight_decay
# adagrad: lr_decay, eps, initial_accumulator_value, weight_decay

[training]                # defaults for Trainer.fit and `gradgen train`
batch_size = 32
epochs = 20
shuffle = true
seed = 0
target_loss = 0.05        # optional: STOP as soon as an epoch's mean loss <= this
patience = 5              # optional: stop when validation loss has not improved for this many epochs

[data]                    # optional: what `gradgen train` uses when no --data is given
source = "sklearn:digits" # sklearn:<bundled loader name> | path to .npz (X, y) | path to .csv (last column = target)
test_fraction = 0.2
'''

CONTRACT_DICT = {
    "name": "digits_mlp",
    "inputs": 64,
    "dtype": "float32",
    "layers": [
        {"units": 32, "activation": "tanh", "learning_rate": 0.05, "init": "xavier_uniform"},
        {"units": 10, "activation": "softmax"},
    ],
    "loss": {"kind": "cross_entropy"},
    "optimizer": {"kind": "sgd", "learning_rate": 0.1},
    "training": {"batch_size": 32, "epochs": 20, "shuffle": True, "seed": 0,
                 "target_loss": 0.05, "patience": 5},
    "data": {"source": "sklearn:digits", "test_fraction": 0.2},
}

MINIMAL = {
    "name": "net",
    "inputs": 3,
    "layers": [{"units": 4, "activation": "tanh"}, {"units": 2, "activation": "identity"}],
    "loss": {"kind": "mse"},
    "optimizer": {"kind": "sgd"},
}


@pytest.fixture
def contract_file(tmp_path):
    path = tmp_path / "digits.toml"
    path.write_text(CONTRACT_TOML)
    return path


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
                                "nesterov": False, "weight_decay": 0.0}


def test_adam_defaults():
    d = copy.deepcopy(MINIMAL)
    d["optimizer"] = {"kind": "adam", "learning_rate": 0.01}
    opt = load_spec(d).optimizer
    assert opt == OptimizerSpec("adam", {"learning_rate": 0.01, "betas": (0.9, 0.999),
                                         "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False})
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


# ----------------------------------------------------------------------------- refusals

def _set(path, value):
    """A mutation of MINIMAL: set d[path...] = value (value _DEL deletes)."""
    def mutate(d):
        *head, last = path
        target = d
        for key in head:
            target = target[key]
        if value is _DEL:
            del target[last]
        else:
            target[last] = value
        return d
    return mutate


_DEL = object()

BAD = [
    # (id, mutation, field, words that must be in str(err))
    ("unknown top key", _set(["trainig"], {}), "trainig", ["unknown key", "did you mean 'training'"]),
    ("unknown layer key", _set(["layers", 0, "untis"], 3), "layers[1].untis",
     ["unknown key", "did you mean 'units'"]),
    ("unknown training key", _set(["training"], {"batchsize": 8}), "training.batchsize",
     ["did you mean 'batch_size'"]),
    ("unknown loss key", _set(["loss", "kinds"], "mse"), "loss.kinds", ["did you mean 'kind'"]),
    ("missing name", _set(["name"], _DEL), "name", ["missing"]),
    ("missing layers", _set(["layers"], _DEL), "layers", ["missing"]),
    ("name keyword", _set(["name"], "class"), "name", ["keyword"]),
    ("name digit", _set(["name"], "2abc"), "name", ["identifier", "2abc"]),
    ("name dunder", _set(["name"], "__init__"), "name", ["dunder"]),
    ("name not str", _set(["name"], 5), "name", ["string", "5"]),
    ("inputs 0", _set(["inputs"], 0), "inputs", [">= 1", "0"]),
    ("inputs bool", _set(["inputs"], True), "inputs", ["integer", "True"]),
    ("inputs float", _set(["inputs"], 3.5), "inputs", ["integer", "3.5"]),
    ("dtype float16", _set(["dtype"], "float16"), "dtype", ["float32", "float64", "float16"]),
    ("layers empty", _set(["layers"], []), "layers", ["at least one"]),
    ("layers not list", _set(["layers"], {"units": 3}), "layers", ["list"]),
    ("layer not table", _set(["layers", 1], 3), "layers[2]", ["table"]),
    ("units 0", _set(["layers", 0, "units"], 0), "layers[1].units", [">= 1"]),
    ("units missing", _set(["layers", 1, "units"], _DEL), "layers[2].units", ["missing"]),
    ("activation missing", _set(["layers", 0, "activation"], _DEL), "layers[1].activation",
     ["missing"]),
    ("softmax hidden", _set(["layers", 0, "activation"], "softmax"), "layers[1].activation",
     ["softmax", "last layer"]),
    ("unknown activation", _set(["layers", 1, "activation"], "tanhh"), "layers[2].activation",
     ["tanhh", "did you mean 'tanh'"]),
    ("activation not str", _set(["layers", 0, "activation"], 1), "layers[1].activation",
     ["string"]),
    ("layer lr negative", _set(["layers", 0, "learning_rate"], -1), "layers[1].learning_rate",
     ["> 0", "-1"]),
    ("layer lr zero", _set(["layers", 0, "learning_rate"], 0.0), "layers[1].learning_rate",
     ["> 0"]),
    ("layer lr nan", _set(["layers", 0, "learning_rate"], math.nan), "layers[1].learning_rate",
     ["finite"]),
    ("layer lr str", _set(["layers", 0, "learning_rate"], "0.1"), "layers[1].learning_rate",
     ["number", "'0.1'"]),
    ("init glorot", _set(["layers", 0, "init"], "glorot"), "layers[1].init",
     ["glorot", "xavier_uniform", "he_normal"]),
    ("init typo", _set(["layers", 0, "init"], "he_unifrom"), "layers[1].init",
     ["did you mean 'he_uniform'"]),
    ("loss both", _set(["loss"], {"kind": "mse", "formula": "yhat - y"}), "loss",
     ["exactly one", "not both"]),
    ("loss neither", _set(["loss"], {}), "loss", ["kind", "formula"]),
    ("loss string", _set(["loss"], "mse"), "loss", ["table", "[loss]"]),
    ("loss unknown", _set(["loss"], {"kind": "msee"}), "loss.kind",
     ["unknown loss", "did you mean 'mse'"]),
    ("cross_entropy on tanh", _set(["loss"], {"kind": "cross_entropy"}), "loss.kind",
     ["cross_entropy needs a softmax output layer", "'identity'"]),
    ("bce on softmax",
     lambda d: _set(["loss"], {"kind": "binary_cross_entropy"})(
         _set(["layers", 1, "activation"], "softmax")(d)),
     "loss.kind", ["binary_cross_entropy needs a sigmoid output layer", "'softmax'"]),
    ("optimizer kind sgdd", _set(["optimizer", "kind"], "sgdd"), "optimizer.kind",
     ["unknown optimizer", "did you mean 'sgd'"]),
    ("optimizer kind missing", _set(["optimizer"], {"learning_rate": 0.1}), "optimizer.kind",
     ["missing"]),
    ("optimizer string", _set(["optimizer"], "adam"), "optimizer", ["table"]),
    ("betas for sgd", _set(["optimizer", "betas"], [0.9, 0.999]), "optimizer.betas",
     ["sgd takes no 'betas'", "adam"]),
    ("optimizer typo", _set(["optimizer", "momentun"], 0.9), "optimizer.momentun",
     ["unknown key", "did you mean 'momentum'"]),
    ("betas one", _set(["optimizer"], {"kind": "adam", "betas": [0.9]}), "optimizer.betas",
     ["two numbers"]),
    ("betas 1.0", _set(["optimizer"], {"kind": "adam", "betas": [1.0, 0.9]}), "optimizer.betas",
     ["[0, 1)", "1"]),
    ("betas str", _set(["optimizer"], {"kind": "adam", "betas": "0.9,0.99"}), "optimizer.betas",
     ["two numbers"]),
    ("momentum negative", _set(["optimizer", "momentum"], -0.1), "optimizer.momentum",
     [">= 0", "-0.1"]),
    ("momentum bool", _set(["optimizer", "momentum"], True), "optimizer.momentum", ["number"]),
    ("lr string", _set(["optimizer", "learning_rate"], "fast"), "optimizer.learning_rate",
     ["number", "fast"]),
    ("nesterov no momentum", _set(["optimizer", "nesterov"], True), "optimizer.nesterov",
     ["momentum > 0"]),
    ("nesterov yes", _set(["optimizer", "nesterov"], "yes"), "optimizer.nesterov",
     ["true or false", "yes"]),
    ("amsgrad 1", _set(["optimizer"], {"kind": "adam", "amsgrad": 1}), "optimizer.amsgrad",
     ["true or false"]),
    ("training not table", _set(["training"], 5), "training", ["table"]),
    ("batch_size 0", _set(["training"], {"batch_size": 0}), "training.batch_size", [">= 1"]),
    ("epochs str", _set(["training"], {"epochs": "10"}), "training.epochs", ["integer", "'10'"]),
    ("epochs 0", _set(["training"], {"epochs": 0}), "training.epochs", [">= 1"]),
    ("shuffle 1", _set(["training"], {"shuffle": 1}), "training.shuffle", ["true or false"]),
    ("seed negative", _set(["training"], {"seed": -1}), "training.seed", [">= 0"]),
    ("seed too big", _set(["training"], {"seed": 2 ** 32}), "training.seed", ["<="]),
    ("target_loss negative", _set(["training"], {"target_loss": -0.5}), "training.target_loss",
     [">= 0"]),
    ("patience 0", _set(["training"], {"patience": 0}), "training.patience", [">= 1"]),
    ("patience float", _set(["training"], {"patience": 2.0}), "training.patience", ["integer"]),
    ("data source txt", _set(["data"], {"source": "foo.txt"}), "data.source",
     ["sklearn:", ".npz", ".csv", "foo.txt"]),
    ("data source bad sklearn", _set(["data"], {"source": "sklearn:"}), "data.source",
     ["sklearn:"]),
    ("data source missing", _set(["data"], {"test_fraction": 0.3}), "data.source", ["missing"]),
    ("data unknown key", _set(["data"], {"source": "a.csv", "test_frac": 0.3}),
     "data.test_frac", ["did you mean 'test_fraction'"]),
    ("test_fraction 1.5", _set(["data"], {"source": "sklearn:iris", "test_fraction": 1.5}),
     "data.test_fraction", ["between 0 and 1", "1.5"]),
    ("test_fraction 0", _set(["data"], {"source": "sklearn:iris", "test_fraction": 0}),
     "data.test_fraction", ["between 0 and 1"]),
]

FORMULA_BAD = [
    ("formula activation import", _set(["layers", 0, "activation"], "__import__('os')"),
     "layers[1].activation", ["neither a built-in activation", "formula"]),
    ("formula activation unknown name", _set(["layers", 0, "activation"], "swish"),
     "layers[1].activation", ["swish", "formula"]),
    ("formula loss attribute", _set(["loss"], {"formula": "yhat.__class__"}), "loss.formula",
     ["formula"]),
    ("formula loss wrong variable", _set(["loss"], {"formula": "(x - y)**2"}), "loss.formula",
     ["formula"]),
    ("formula output with cross_entropy",
     lambda d: _set(["loss"], {"kind": "cross_entropy"})(
         _set(["layers", 1, "activation"], "exp(x)")(d)),
     "loss.kind", ["needs a softmax output layer"]),
]

CASES = [pytest.param(m, f, w, id=i) for i, m, f, w in BAD] + [
    pytest.param(m, f, w, id=i) for i, m, f, w in FORMULA_BAD
]


@pytest.mark.parametrize("mutate, field, words", CASES)
def test_bad_spec(mutate, field, words):
    d = mutate(copy.deepcopy(MINIMAL))
    with pytest.raises(SpecError) as info:
        load_spec(d)
    err = info.value
    assert err.field == field, str(err)
    assert err.source is None
    text = str(err)
    assert field in text
    for word in words:
        assert word in text, f"{word!r} not in {text!r}"


def test_at_least_thirty_bad_cases():
    assert len(BAD) >= 30


def test_unknown_activation_without_formula_module_names_builtins():
    d = _set(["layers", 0, "activation"], "swish")(copy.deepcopy(MINIMAL))
    with pytest.raises(SpecError) as info:
        load_spec(d)
    assert info.value.field == "layers[1].activation"
    assert "swish" in str(info.value) and "tanh" in str(info.value)


def test_unknown_key_without_close_match_lists_keys():
    d = _set(["layers", 0, "zzzzzz"], 1)(copy.deepcopy(MINIMAL))
    with pytest.raises(SpecError) as info:
        load_spec(d)
    assert "units" in str(info.value) and "activation" in str(info.value)


# ----------------------------------------------------------------------------- files

def test_toml_error_names_file_and_field(tmp_path):
    path = tmp_path / "bad_units.toml"
    path.write_text(CONTRACT_TOML.replace("units = 32", "units = 0"))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    err = info.value
    assert err.source == str(path) and err.field == "layers[1].units"
    assert str(err).startswith(f"{path}: layers[1].units: ")


def test_toml_optimizer_key_of_other_optimizer(tmp_path):
    path = tmp_path / "betas.toml"
    path.write_text(CONTRACT_TOML.replace("learning_rate = 0.1", "learning_rate = 0.1\nbetas = [0.9, 0.99]"))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.field == "optimizer.betas"
    assert "betas.toml" in str(info.value) and "adam" in str(info.value)


def test_malformed_toml_has_line(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('name = "x"\ninputs = 3\nlayers = [\n  {units = 2 activation = "tanh"}\n]\n')
    with pytest.raises(SpecError) as info:
        load_spec(path)
    text = str(info.value)
    assert "broken.toml" in text
    assert "line 4" in text
    assert "TOML" in text


def test_not_utf8(tmp_path):
    path = tmp_path / "latin.toml"
    path.write_bytes(b'name = "x"\n# caf\xe9\n')
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert "latin.toml" in str(info.value) and "line 2" in str(info.value)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert "nope.toml" in str(info.value)
    assert "not found" in str(info.value)
    assert info.value.source == str(path)


def test_directory_is_unreadable(tmp_path):
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_spec_error_is_value_error():
    with pytest.raises(ValueError):
        load_spec({"name": "x"})


def test_relative_path_loading(contract_file, monkeypatch):
    monkeypatch.chdir(contract_file.parent)
    spec = load_spec("digits.toml")
    assert spec.path == "digits.toml"
    assert spec == load_spec(CONTRACT_DICT)
    assert os.path.basename(spec.source_label) == "digits.toml"


def test_refused_long_formula_is_not_echoed_in_full():
    d = copy.deepcopy(MINIMAL)
    d["layers"][0]["activation"] = "(" * 900 + "x" + ")" * 900
    with pytest.raises(SpecError) as err:
        load_spec(d)
    assert len(str(err.value)) < 600 and "..." in str(err.value)
