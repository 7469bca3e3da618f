"""derive/spec_schema.py: every refusal names the file, the field and the problem."""
import copy
import math

import pytest

from derive.errors import SpecError
from derive.spec import load_spec

from spec_samples import CONTRACT_TOML, MINIMAL


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


def test_refused_long_formula_is_not_echoed_in_full():
    d = copy.deepcopy(MINIMAL)
    d["layers"][0]["activation"] = "(" * 900 + "x" + ")" * 900
    with pytest.raises(SpecError) as err:
        load_spec(d)
    assert len(str(err.value)) < 600 and "..." in str(err.value)
