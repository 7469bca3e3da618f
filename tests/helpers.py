"""Independent oracles for the generated modules: PyTorch (float64) forward pass,
loss, autograd gradients and torch.optim trajectories, plus a loader that
generates and imports a module from a spec dict (cached per spec).

Nothing here uses gradgen's derivation: the reference side is built from the
public contract only (CONTRACT.md, sections 2 and 5), so a test that compares
the generated module against these functions can fail for real.
"""
from __future__ import annotations

import atexit
import hashlib
import importlib.util
import json
import pathlib
import shutil
import sys
import tempfile
import uuid

import numpy as np
import torch

_REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(_REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(_REPO_ROOT))


# --------------------------------------------------------------------------
# building and importing generated modules
# --------------------------------------------------------------------------

_MODULE_CACHE: dict[str, object] = {}
_SESSION_DIR: pathlib.Path | None = None


def _session_dir() -> pathlib.Path:
    global _SESSION_DIR
    if _SESSION_DIR is None:
        _SESSION_DIR = pathlib.Path(tempfile.mkdtemp(prefix="gradgen_tests_"))
        atexit.register(shutil.rmtree, _SESSION_DIR, ignore_errors=True)
    return _SESSION_DIR


def spec_key(spec: dict) -> str:
    """Canonical JSON of a spec (sorted keys; tuples become lists)."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))


def build(spec: dict, tmp_path=None):
    """Generate the module for `spec` and import it; cached per spec in this process.

    The file goes to a subdirectory (named after the spec's hash) of `tmp_path`,
    or of a per-session temporary directory when `tmp_path` is None, so two
    different specs with the same `name` never overwrite each other's file.
    The module is registered in sys.modules under a unique name before it is
    executed (Numba's on-disk cache needs a real, importable file).
    """
    key = spec_key(spec)
    cached = _MODULE_CACHE.get(key)
    if cached is not None:
        return cached

    import codegen  # imported late: the generator may not exist at collection time

    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    base = pathlib.Path(tmp_path) if tmp_path is not None else _session_dir()
    out_dir = base / f"{spec['name']}_{digest}"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = pathlib.Path(codegen.generate(spec, out_dir=out_dir))
    assert path.is_file(), f"generate() returned {path}, which is not a file"

    mod_name = f"gg_{spec['name']}_{uuid.uuid4().hex}"
    mspec = importlib.util.spec_from_file_location(mod_name, path)
    module = importlib.util.module_from_spec(mspec)
    sys.modules[mod_name] = module
    try:
        mspec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(mod_name, None)
        raise
    _MODULE_CACHE[key] = module
    return module


# --------------------------------------------------------------------------
# error measure
# --------------------------------------------------------------------------

TINY = 1e-300


def max_rel_err(a, b, floor: float = TINY) -> float:
    """Scale-relative error of `a` against the reference `b`.

    For arrays: ``max|a - b| / max(max|b|, floor)``, i.e. the largest absolute
    deviation measured in units of the reference array's own magnitude. This is
    meaningful for arrays that contain (near-)zero entries, where elementwise
    ``|a-b|/|b|`` would blow up on rounding noise. Shapes must agree exactly
    (no broadcasting); any NaN/inf in either array gives ``inf``.

    For lists/tuples of arrays (e.g. one gradient per parameter) each pair is
    measured against its own reference array and the worst value is returned.
    If a reference array is all zeros the result is ``max|a| / floor``, which
    is huge unless `a` is zero too.
    """
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        assert len(a) == len(b), f"lengths differ: {len(a)} vs {len(b)}"
        return max((max_rel_err(x, y, floor) for x, y in zip(a, b)), default=0.0)
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"shapes differ: {a.shape} vs {b.shape}"
    if a.size == 0:
        return 0.0
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return float("inf")
    scale = max(float(np.max(np.abs(b))), floor)
    return float(np.max(np.abs(a - b))) / scale


def rel_err_scalar(a: float, b: float, floor: float = TINY) -> float:
    """|a - b| / max(|b|, floor) for scalars (losses)."""
    a, b = float(a), float(b)
    if not (np.isfinite(a) and np.isfinite(b)):
        return float("inf")
    return abs(a - b) / max(abs(b), floor)


# --------------------------------------------------------------------------
# the reference network in torch (float64)
# --------------------------------------------------------------------------

_F = torch.nn.functional
# the one torch oracle table for activations: every test file uses it
TORCH_ACTIVATION_FN = {
    "identity": lambda z: z,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": lambda z: _F.leaky_relu(z, negative_slope=0.01),
    "elu": lambda z: _F.elu(z, alpha=1.0),
    "selu": _F.selu,
    "softplus": lambda z: _F.softplus(z, beta=1.0, threshold=20.0),
    "silu": _F.silu,
    "gelu": lambda z: _F.gelu(z, approximate="none"),
    "softsign": _F.softsign,
    "softmax": lambda z: torch.softmax(z, dim=1),
}
# elementwise losses on the output activations, torch's reduction="mean"
_ELEMENT_LOSSES = {
    "mse": lambda A, Y: _F.mse_loss(A, Y, reduction="mean"),
    "mae": lambda A, Y: _F.l1_loss(A, Y, reduction="mean"),
    "huber": lambda A, Y: _F.huber_loss(A, Y, reduction="mean", delta=1.0),
}
# every loss the oracle knows (cross_entropy and binary_cross_entropy are from the logits)
TORCH_LOSSES = frozenset(_ELEMENT_LOSSES) | {"cross_entropy", "binary_cross_entropy"}
TORCH_ACTIVATIONS = frozenset(TORCH_ACTIVATION_FN)


def _t(x, requires_grad=False):
    t = torch.tensor(np.asarray(x, dtype=np.float64), dtype=torch.float64)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _torch_forward(tparams, X, spec):
    """Forward with torch tensors; returns (Z_last, A_last)."""
    A = X
    Z = None
    layers = spec["layers"]
    assert len(tparams) == 2 * len(layers)
    for l, layer in enumerate(layers):
        W, b = tparams[2 * l], tparams[2 * l + 1]
        Z = A @ W + b
        A = TORCH_ACTIVATION_FN[layer["activation"]](Z)
    return Z, A


def torch_forward(params, X, spec):
    """(logits Z_L, output A_L) as numpy float64 arrays, computed in torch float64."""
    with torch.no_grad():
        Z, A = _torch_forward([_t(p) for p in params], _t(X), spec)
    return Z.numpy().copy(), A.numpy().copy()


def _torch_loss_from(Z, A, y, spec):
    kind = spec["loss"]["kind"]
    out_act = spec["layers"][-1]["activation"]
    n_out = spec["layers"][-1]["units"]
    y = np.asarray(y)
    if kind == "cross_entropy":
        assert out_act == "softmax", "cross_entropy needs a softmax output layer"
        if y.ndim == 1:  # integer class labels
            target = torch.tensor(y.astype(np.int64))
        else:            # one-hot / class probabilities
            target = _t(y)
        return torch.nn.functional.cross_entropy(Z, target, reduction="mean")
    yt = _t(y)
    if yt.ndim == 1:
        assert n_out == 1, "targets of shape (n,) need a one-unit output layer"
        yt = yt.reshape(-1, 1)
    if kind == "binary_cross_entropy":
        assert out_act == "sigmoid", "binary_cross_entropy needs a sigmoid output layer"
        return torch.nn.functional.binary_cross_entropy_with_logits(Z, yt, reduction="mean")
    if kind in _ELEMENT_LOSSES:
        return _ELEMENT_LOSSES[kind](A, yt)
    raise NotImplementedError(f"loss {kind!r} has no torch oracle here")


def torch_loss(params, X, y, spec) -> float:
    """The mean loss of the spec's network, computed by torch in float64."""
    with torch.no_grad():
        Z, A = _torch_forward([_t(p) for p in params], _t(X), spec)
        return float(_torch_loss_from(Z, A, y, spec))


def torch_grads(params, X, y, spec):
    """(loss, [dL/dW1, dL/db1, ...]) by torch autograd in float64."""
    tparams = [_t(p, requires_grad=True) for p in params]
    Z, A = _torch_forward(tparams, _t(X), spec)
    L = _torch_loss_from(Z, A, y, spec)
    grads = torch.autograd.grad(L, tparams)
    return float(L.detach()), [g.numpy().copy() for g in grads]


# --------------------------------------------------------------------------
# torch.optim trajectories
# --------------------------------------------------------------------------

_TORCH_NAMES = {"learning_rate": "lr"}


def optimizer_settings(spec, overrides=None):
    """The optimizer's kind and hyper-parameters: spec's [optimizer] updated by overrides."""
    settings = dict(spec.get("optimizer", {}))
    settings.update(overrides or {})
    kind = settings.pop("kind")
    return kind, settings


TORCH_OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop",
                    "adagrad": "Adagrad"}


def make_torch_optimizer(tparams, spec, overrides=None):
    """torch.optim.SGD/Adam with one parameter group per layer (W_l, b_l).

    A layer's own `learning_rate` (in the spec) sets its group's lr; other
    layers use the optimizer's learning_rate (spec value, or the override).
    Hyper-parameters not given, the learning rate included, fall back to
    torch's own defaults: an independent check of the registry's defaults.
    """
    kind, settings = optimizer_settings(spec, overrides)
    kwargs = {_TORCH_NAMES.get(k, k): v for k, v in settings.items()}
    if "betas" in kwargs:
        kwargs["betas"] = tuple(float(v) for v in kwargs["betas"])
    groups = []
    for l, layer in enumerate(spec["layers"]):
        group = {"params": [tparams[2 * l], tparams[2 * l + 1]]}
        if "learning_rate" in layer:
            group["lr"] = float(layer["learning_rate"])
        groups.append(group)
    if kind in TORCH_OPTIMIZERS:
        return getattr(torch.optim, TORCH_OPTIMIZERS[kind])(groups, foreach=False, **kwargs)
    raise NotImplementedError(f"optimizer {kind!r} has no torch oracle here")


def torch_trajectory(params, batches, spec, overrides=None, steps=None):
    """Run `steps` torch.optim steps, batch i on step i (cycling through `batches`).

    Returns (losses, final_params): the loss of each step's batch *before* the
    step (what Trainer.step returns) and the parameters after the last step, as
    float64 numpy arrays.
    """
    steps = len(batches) if steps is None else steps
    tparams = [_t(p, requires_grad=True) for p in params]
    opt = make_torch_optimizer(tparams, spec, overrides)
    losses = []
    for i in range(steps):
        X, y = batches[i % len(batches)]
        opt.zero_grad(set_to_none=True)
        Z, A = _torch_forward(tparams, _t(X), spec)
        L = _torch_loss_from(Z, A, y, spec)
        L.backward()
        opt.step()
        losses.append(float(L.detach()))
    return losses, [p.detach().numpy().copy() for p in tparams]


# --------------------------------------------------------------------------
# data helpers
# --------------------------------------------------------------------------

def param_shapes(spec):
    shapes = []
    n_in = spec["inputs"]
    for layer in spec["layers"]:
        shapes += [(n_in, layer["units"]), (layer["units"],)]
        n_in = layer["units"]
    return shapes


def random_params(spec, rng, scale=1.0):
    """Random normal weights with variance scale**2 / fan_in (activations not saturated)."""
    out = []
    for shape in param_shapes(spec):
        if len(shape) == 2:
            out.append(rng.normal(0.0, scale / np.sqrt(shape[0]), size=shape))
        else:
            out.append(rng.normal(0.0, 0.5 * scale, size=shape))
    return out


def random_targets(spec, n, rng, one_hot=False, flat=False):
    """Targets suited to the spec's loss (see CONTRACT.md, 'Targets y')."""
    kind = spec["loss"].get("kind")      # None: a formula loss, real-valued targets
    k = spec["layers"][-1]["units"]
    if kind == "cross_entropy":
        labels = rng.integers(0, k, size=n)
        if one_hot:
            return np.eye(k)[labels]
        return labels.astype(np.int64)
    if kind == "binary_cross_entropy":
        y = rng.integers(0, 2, size=(n, k)).astype(np.float64)
    else:
        y = rng.normal(size=(n, k))
        if spec["layers"][-1]["activation"] in ("sigmoid", "softmax"):
            y = rng.uniform(size=(n, k))
    if flat:
        assert k == 1
        y = y[:, 0]
    return y
