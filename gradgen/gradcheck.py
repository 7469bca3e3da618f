"""`gradgen check`: the gradients that training uses, against central finite
differences (float64).

Three gradients of the same loss are checked: those of loss_and_grad (the unfused
kernels), and those of the fused epoch kernel that `fit` runs, on one thread and
on two (each thread its block of the rows and of each gradient). The fused epoch
does not return its gradients: it steps the parameters. So the spec is checked
with plain SGD of learning rate 1 in every layer (its forward and backward
kernels are the spec's own), and one step from known parameters is read back:
g = theta_before - theta_after (exact to the rounding of one subtraction)."""
import contextlib
import tempfile

import numpy as np

from codegen.generator import generate
from derive.spec import load_spec

from .loader import import_generated
from .runtime import threads

TOLERANCE = 1e-5
MAX_COORDINATES = 3000


def _targets(module, rng, n, k):
    if module.TASK == "multiclass":
        return rng.integers(0, k, size=n)
    if module.TASK == "binary":
        return rng.integers(0, 2, size=(n, k)).astype(np.float64)
    return rng.normal(size=(n, k))


@contextlib.contextmanager
def _threads(count):
    """Every batch, however small, on `count` threads."""
    saved = threads.PARALLEL_MACS, threads.THREADS
    threads.PARALLEL_MACS, threads.THREADS = 0, count
    try:
        yield
    finally:
        threads.PARALLEL_MACS, threads.THREADS = saved


def fused_gradients(module, params, X, y, thread_count=1):
    """The fused epoch's gradients at params for the batch (X, y): one step of a module
    generated with SGD of learning rate 1 (see the module docstring), read back."""
    with _threads(thread_count):
        trainer = module.Trainer(params=params, learning_rate=1.0)
        trainer.step(X, y)
    return [p - q for p, q in zip(params, trainer.params)]


def checked_module(spec, out_dir):
    """The spec in float64, with plain SGD (learning rate 1, no per-layer rates, no
    schedule, no clipping) and no dropout (a step's gradient is then the loss's)."""
    data = load_spec(spec).to_dict()
    data["dtype"] = "float64"
    data["optimizer"] = {"kind": "sgd", "learning_rate": 1.0}
    data.pop("schedule", None)
    for layer in data["layers"]:
        layer.pop("learning_rate", None)
        layer.pop("dropout", None)
    return import_generated(generate(data, out_dir=out_dir))


def gradient_check(spec, seed=0, batch=8, h=1e-5):
    """(worst relative error, where, coordinates checked) for random params and data,
    over the unfused gradients and the fused epoch's on one and two threads.

    Relative error per coordinate: |g - fd| / max(|g| + |fd|, 1e-6). The floor keeps
    finite-difference rounding (~1e-11 absolute at h = 1e-5) on near-zero gradients
    from reading as error: an exact gradient scores ~1e-8 or better, a wrong one ~1."""
    spec = load_spec(spec)
    with tempfile.TemporaryDirectory(prefix="gradgen-check-") as tmp:
        module = checked_module(spec, tmp)
        rng = np.random.default_rng(seed)
        params = [p + rng.normal(scale=0.1, size=p.shape) for p in module.init_params(seed)]
        X = rng.normal(size=(batch, spec.inputs))
        y = _targets(module, rng, batch, spec.layers[-1].units)
        gradients = {"loss_and_grad": module.loss_and_grad(params, X, y)[1],
                     "fused epoch": fused_gradients(module, params, X, y),
                     "fused epoch, 2 threads": fused_gradients(module, params, X, y, thread_count=2)}
        coords = [(i, idx) for i, p in enumerate(params) for idx in np.ndindex(p.shape)]
        if len(coords) > MAX_COORDINATES:
            picks = rng.choice(len(coords), size=MAX_COORDINATES, replace=False)
            coords = [coords[c] for c in sorted(picks)]
        worst, where = 0.0, None
        for i, idx in coords:
            old = params[i][idx]
            params[i][idx] = old + h
            up = module.loss(params, X, y)
            params[i][idx] = old - h
            down = module.loss(params, X, y)
            params[i][idx] = old
            fd = (up - down) / (2 * h)
            for path, grads in gradients.items():
                g = grads[i][idx]
                err = abs(g - fd) / max(abs(g) + abs(fd), 1e-6)
                if err > worst or where is None:
                    worst, where = err, f"{module.PARAM_NAMES[i]}{list(idx)} ({path})"
        return worst, where, len(coords)
