"""Initialisation schemes against torch.nn.init's definitions (gain 1 for Glorot,
sqrt(2) for He; `uniform` is torch.nn.Linear's default for W and b), and the
per-activation defaults."""
import math

import numpy as np
import pytest

from derive import load_spec
from derive.activations import ACTIVATIONS
from derive.initializers import INITIALIZERS
from helpers import build

FAN_IN, FAN_OUT = 400, 300
# (distribution, scale: uniform bound or normal std, biases drawn too), independent of the registry
EXPECTED = {
    "xavier_uniform": ("uniform", math.sqrt(6 / (FAN_IN + FAN_OUT)), False),
    "xavier_normal": ("normal", math.sqrt(2 / (FAN_IN + FAN_OUT)), False),
    "he_uniform": ("uniform", math.sqrt(2) * math.sqrt(3 / FAN_IN), False),
    "he_normal": ("normal", math.sqrt(2) / math.sqrt(FAN_IN), False),
    "uniform": ("uniform", 1 / math.sqrt(FAN_IN), True),
    "zeros": ("zeros", 0.0, False),
}


def test_every_scheme_is_covered():
    assert set(EXPECTED) == set(INITIALIZERS)


@pytest.fixture(scope="module")
def module():
    layers = [{"units": FAN_OUT, "activation": "tanh", "init": s} for s in EXPECTED]
    return build({"name": "inits", "inputs": FAN_IN, "dtype": "float64",
                  "layers": [dict(l, units=FAN_IN) for l in layers[:-1]]
                  + [dict(layers[-1], units=FAN_OUT)],
                  "loss": {"kind": "mse"}, "optimizer": {"kind": "sgd"}})


@pytest.mark.parametrize("index,scheme", list(enumerate(EXPECTED)))
def test_scheme_statistics(module, index, scheme):
    params = module.init_params(seed=5)
    W, b = params[2 * index], params[2 * index + 1]
    fan_out = W.shape[1]
    kind, scale, bias_drawn = EXPECTED[scheme]
    if scheme.startswith("xavier"):       # the fan_out of this layer in the test spec
        scale = {"uniform": math.sqrt(6 / (FAN_IN + fan_out)),
                 "normal": math.sqrt(2 / (FAN_IN + fan_out))}[kind]
    if kind == "zeros":
        assert not W.any() and not b.any()
        return
    std = scale / math.sqrt(3) if kind == "uniform" else scale
    assert abs(W.std() - std) < 0.02 * std and abs(W.mean()) < 0.02 * std
    if kind == "uniform":
        assert np.abs(W).max() <= scale and np.abs(W).max() > 0.99 * scale
    else:
        assert np.abs(W).max() > 3 * std          # a normal's tails, not a uniform's
    if bias_drawn:
        assert b.any() and np.abs(b).max() <= scale
    else:
        assert not b.any()
    assert not np.array_equal(W, module.init_params(seed=6)[2 * index])


def test_defaults_per_activation():
    glorot = {"tanh", "sigmoid", "identity", "softmax"}
    he = {"relu"}
    for name, act in ACTIVATIONS.items():
        if name in glorot:
            assert act.init == "xavier_uniform", name
        if name in he:
            assert act.init.startswith("he_"), name
    spec = load_spec({"name": "d", "inputs": 2, "layers": [
        {"units": 3, "activation": "relu"}, {"units": 3, "activation": "tanh"},
        {"units": 2, "activation": "x*sigmoid(x)"}], "loss": {"kind": "mse"},
        "optimizer": {"kind": "sgd"}})
    assert [l.init for l in spec.layers] == ["he_uniform", "xavier_uniform", "xavier_uniform"]
