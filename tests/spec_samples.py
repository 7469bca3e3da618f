"""The spec samples the spec tests share: CONTRACT.md's example (TOML and dict) and
a minimal valid spec that the refusal cases mutate."""
import pytest


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
