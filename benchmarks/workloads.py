"""The workloads of issue 5 (W0-W3), and W4-W5, which differ from them in depth,
activation, optimizer and dtype: data, network, loss, optimizer, batch size, dtype.

Every system trains the same network on the same data from the same initial
weights with the same batches (no shuffling: batch b is rows [b*B, (b+1)*B)).
Data and initial weights come from seeded NumPy generators, so every worker
process rebuilds them bit for bit.
"""
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Layer:
    units: int
    activation: str          # sigmoid | tanh | relu | elu | leaky_relu | identity | softmax


@dataclass(frozen=True)
class Workload:
    id: str
    title: str
    data: str                # "xor" | "digits" | "synthetic784" | "synthetic256" | "regression32"
    inputs: int
    layers: tuple
    loss: str                # "mse" | "cross_entropy"
    optimizer: str           # "sgd" | "adam" | "rmsprop" | "adamw" (torch.optim's)
    hyper: dict = field(default_factory=dict)   # torch.optim keyword arguments
    batch_size: int = 32
    dtype: str = "float32"
    seed: int = 0

    @property
    def classes(self):
        return self.layers[-1].units if self.loss == "cross_entropy" else None

    def network(self):
        widths = [self.inputs] + [l.units for l in self.layers]
        return " -> ".join([str(widths[0])] + [f"{l.units} {l.activation}" for l in self.layers])


WORKLOADS = {w.id: w for w in (
    Workload("W0", "XOR, tiny MLP, batch 4", "xor", 2,
             (Layer(8, "sigmoid"), Layer(1, "sigmoid")), "mse", "sgd", {"lr": 0.5},
             batch_size=4, dtype="float64"),
    Workload("W1", "digits, small MLP, batch 32", "digits", 64,
             (Layer(32, "tanh"), Layer(10, "softmax")), "cross_entropy", "sgd", {"lr": 0.1},
             batch_size=32, dtype="float32"),
    Workload("W2", "784-256-128-10, Adam, batch 128", "synthetic784", 784,
             (Layer(256, "relu"), Layer(128, "relu"), Layer(10, "softmax")),
             "cross_entropy", "adam", {"lr": 1e-3}, batch_size=128, dtype="float32"),
    Workload("W3", "784-256-128-10, SGD momentum, batch 1024", "synthetic784", 784,
             (Layer(256, "relu"), Layer(128, "relu"), Layer(10, "softmax")),
             "cross_entropy", "sgd", {"lr": 0.05, "momentum": 0.9},
             batch_size=1024, dtype="float32"),
    Workload("W4", "256-128x4 elu-10, RMSprop, batch 64, float64", "synthetic256", 256,
             (Layer(128, "elu"),) * 4 + (Layer(10, "softmax"),),
             "cross_entropy", "rmsprop", {"lr": 1e-3, "alpha": 0.99, "eps": 1e-8},
             batch_size=64, dtype="float64"),
    Workload("W5", "32-64-64-1 leaky_relu, AdamW, mse, batch 16, float32", "regression32", 32,
             (Layer(64, "leaky_relu"), Layer(64, "leaky_relu"), Layer(1, "identity")),
             "mse", "adamw", {"lr": 1e-3, "weight_decay": 0.01}, batch_size=16, dtype="float32"),
)}


# --------------------------------------------------------------------- data
def _xor(seed):
    rng = np.random.default_rng(1000 + seed)
    X = rng.uniform(-1.0, 1.0, size=(4096, 2))
    y = ((X[:, 0] > 0) != (X[:, 1] > 0)).astype(np.float64).reshape(-1, 1)
    return X, y


def _digits(seed):
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y.astype(np.int64)


def _synthetic(rng_seed, rows, features):
    """rows x features standard normal; labels argmax(X T) for a fixed random T (features x 10)."""
    rng = np.random.default_rng(rng_seed)
    X = rng.standard_normal((rows, features), dtype=np.float32)
    T = rng.standard_normal((features, 10), dtype=np.float32)
    y = np.argmax(X @ T, axis=1).astype(np.int64)
    return X, y


def _synthetic784(seed):
    return _synthetic(2000 + seed, 60000, 784)


def _synthetic256(seed):
    return _synthetic(4000 + seed, 20000, 256)


def _regression32(seed, rows=16384):
    """16384 x 32 standard normal; y = tanh(X u) + 0.1 sin(X v), (n, 1), for fixed random u, v."""
    rng = np.random.default_rng(5000 + seed)
    X = rng.standard_normal((rows, 32))
    u, v = rng.standard_normal((2, 32)) / np.sqrt(32)
    y = (np.tanh(X @ u) + 0.1 * np.sin(X @ v)).reshape(-1, 1)
    return X, y


def load_data(wl, dtype=None, rows=None):
    """(X, y) in `dtype` (default the workload's); y: int64 labels (cross-entropy) or
    float targets (n, 1). `rows` keeps only the first rows (the check's prefix)."""
    dtype = np.dtype(dtype or wl.dtype)
    X, y = {"xor": _xor, "digits": _digits, "synthetic784": _synthetic784, "synthetic256": _synthetic256,
            "regression32": _regression32}[wl.data](wl.seed)
    if rows is not None:
        X, y = X[:rows], y[:rows]
    X = np.ascontiguousarray(X, dtype=dtype)
    y = np.ascontiguousarray(y) if wl.classes else np.ascontiguousarray(y, dtype=dtype)
    return X, y


def one_hot(y, k, dtype):
    out = np.zeros((len(y), k), dtype=dtype)
    out[np.arange(len(y)), y] = 1
    return out


def batches(n, batch_size):
    """[(start, stop), ...]: consecutive rows, the last batch possibly smaller."""
    return [(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]


def epoch_mean(per_batch, n, batch_size):
    """An epoch's mean loss over its n rows from the per-batch means (weighted by size)."""
    sizes = np.array([e - s for s, e in batches(n, batch_size)])
    return float(np.dot(per_batch, sizes) / sizes.sum())


# ---------------------------------------------------------- initial weights
HE_UNIFORM = ("relu", "elu", "leaky_relu")


def init_weights(wl):
    """[W1, b1, W2, b2, ...] in float64, W shaped (n_in, n_out): Glorot uniform for
    sigmoid/tanh/identity/softmax layers, He uniform for relu/elu/leaky_relu layers,
    zero biases."""
    rng = np.random.default_rng(3000 + wl.seed)
    params, n_in = [], wl.inputs
    for layer in wl.layers:
        n_out = layer.units
        bound = (np.sqrt(6.0 / n_in) if layer.activation in HE_UNIFORM
                 else np.sqrt(6.0 / (n_in + n_out)))
        params.append(rng.uniform(-bound, bound, size=(n_in, n_out)))
        params.append(np.zeros(n_out))
        n_in = n_out
    return params


# ------------------------------------------------------------- gradgen spec
SPEC_KEYS = {"lr": "learning_rate"}


def gradgen_spec(wl, dtype=None):
    """The workload as a gradgen model spec (dict)."""
    dtype = dtype or wl.dtype
    # torch.optim's keywords are gradgen's optimizer keys (momentum, alpha, eps,
    # weight_decay, betas), except lr, which is learning_rate
    opt = {"kind": wl.optimizer}
    opt.update({SPEC_KEYS.get(k, k): v for k, v in wl.hyper.items()})
    return {
        "name": f"bench_{wl.id.lower()}_{dtype}",
        "inputs": wl.inputs,
        "dtype": dtype,
        "layers": [{"units": l.units, "activation": l.activation} for l in wl.layers],
        "loss": {"kind": wl.loss},
        "optimizer": opt,
        "training": {"batch_size": wl.batch_size, "epochs": 1, "shuffle": False, "seed": 0},
    }


def gemm_shapes(wl, m):
    """The matrix products of one step on a batch of m rows, as
    (kind, layer index, a_shape, b_shape, transpose a, transpose b):
    forward Z_l = A_{l-1} W_l; backward dW_l = A_{l-1}^T D_l and, except for the first
    layer, D_{l-1} = D_l W_l^T."""
    widths = [wl.inputs] + [l.units for l in wl.layers]
    out = []
    for i in range(len(wl.layers)):
        out.append(("forward", i, (m, widths[i]), (widths[i], widths[i + 1]), False, False))
    for i in reversed(range(len(wl.layers))):
        out.append(("grad W", i, (m, widths[i]), (m, widths[i + 1]), True, False))
        if i > 0:
            out.append(("delta", i, (m, widths[i + 1]), (widths[i], widths[i + 1]), False, True))
    return out


def flops_per_epoch(wl, n):
    total = 0
    for start, stop in batches(n, wl.batch_size):
        for _, _, a, b, ta, tb in gemm_shapes(wl, stop - start):
            rows = a[1] if ta else a[0]
            inner = a[0] if ta else a[1]
            cols = b[0] if tb else b[1]
            total += 2 * rows * inner * cols
    return total
