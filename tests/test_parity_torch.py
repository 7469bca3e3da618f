"""Generated forward / loss / gradients against PyTorch autograd (the independent oracle).

Every activation x loss pair in scope, taken from the registries (a new entry is
tested without writing a test):
  hidden activations identity, sigmoid, tanh, relu (all in one stack per spec),
  and every elementwise activation of ACTIVATIONS in one stack of its own;
  every elementwise loss of LOSSES (mse, mae, huber, ...) on the output
  activations identity, sigmoid, tanh, relu, softmax (softmax: the row-sum delta);
  cross_entropy on softmax (integer labels and one-hot targets);
  binary_cross_entropy on sigmoid (1 output unit, targets (n,) and (n, 1); 3 units);
  each loss/output pair also with logits spread over [-1000, 1000].
Weights from init_params (several seeds) and random normal weights of scale ~1;
batches of 1, 7 and 32 samples. float64 must agree to rounding; one float32 spec
must return float32 arrays that agree with torch float64 within 1e-4.
"""
import os
import sys
import zlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from helpers import (  # noqa: E402
    TORCH_ACTIVATIONS, TORCH_LOSSES, build, max_rel_err, param_shapes, random_params,
    random_targets, rel_err_scalar, torch_forward, torch_grads, torch_loss,
)
from derive.activations import ACTIVATIONS  # noqa: E402
from derive.losses import LOSSES  # noqa: E402

LOSS_RTOL = 1e-12
GRAD_RTOL = 1e-9
FWD_RTOL = 1e-12
INPUTS = 5
HIDDEN = [  # relu first, so the exact-zero test can control its pre-activations
    {"units": 6, "activation": "relu"},
    {"units": 5, "activation": "tanh"},
    {"units": 4, "activation": "sigmoid"},
    {"units": 4, "activation": "identity"},
]


def _spec(name, out_act, units, loss, hidden=HIDDEN, dtype="float64"):
    return {
        "name": name,
        "inputs": INPUTS,
        "dtype": dtype,
        "layers": [dict(h) for h in hidden] + [{"units": units, "activation": out_act}],
        "loss": {"kind": loss},
        "optimizer": {"kind": "sgd", "learning_rate": 0.1},
    }


# id -> spec; every one is a distinct compiled module
SPECS = {
    "mse_identity": _spec("par_mse_identity", "identity", 3, "mse"),
    "mse_sigmoid": _spec("par_mse_sigmoid", "sigmoid", 2, "mse"),
    "mse_tanh": _spec("par_mse_tanh", "tanh", 3, "mse"),
    "mse_relu": _spec("par_mse_relu", "relu", 3, "mse"),
    "mse_softmax": _spec("par_mse_softmax", "softmax", 4, "mse"),
    "ce_softmax": _spec("par_ce_softmax", "softmax", 4, "cross_entropy"),
    "bce_sigmoid_1": _spec("par_bce_sigmoid_1", "sigmoid", 1, "binary_cross_entropy"),
    "bce_sigmoid_3": _spec("par_bce_sigmoid_3", "sigmoid", 3, "binary_cross_entropy"),
    # no hidden layer at all: multinomial logistic regression
    "ce_softmax_single": _spec("par_ce_single", "softmax", 3, "cross_entropy", hidden=[]),
}

# the registries: every loss on every output activation it is checked on ...
ELEMENTWISE = [n for n, act in ACTIVATIONS.items() if not act.vector]
OUTPUTS = ["identity", "sigmoid", "tanh", "relu", "softmax"]   # for elementwise losses
_SHORT = {"cross_entropy": "ce", "binary_cross_entropy": "bce"}
REGISTRY_PAIRS = [(name, out) for name, loss in LOSSES.items()
                  for out in ([loss.requires_output] if loss.requires_output else OUTPUTS)]
_covered = {(s["loss"]["kind"], s["layers"][-1]["activation"]) for s in SPECS.values()}
for _loss, _out in REGISTRY_PAIRS:
    if (_loss, _out) not in _covered:
        _key = f"{_SHORT.get(_loss, _loss)}_{_out}"
        SPECS[_key] = _spec(f"par_{_key}", _out, 4 if _out == "softmax" else 3, _loss)
# ... and every elementwise activation as a hidden layer, one after another
SPECS["mse_all_hidden"] = _spec("par_all_hidden", "identity", 2, "mse",
                                hidden=[{"units": 4, "activation": n} for n in ELEMENTWISE])

# (spec id, target variant): variant in {"std", "onehot", "flat"}
TARGET_CASES = [(k, "std") for k in SPECS] + [
    ("ce_softmax", "onehot"),
    ("ce_softmax_single", "onehot"),
    ("bce_sigmoid_1", "flat"),
]
WEIGHTS = ["init0", "init1", "init7", "normal0", "normal1"]
BATCHES = [1, 7, 32]


def _module(case):
    return build(SPECS[case])


def _params(mod, spec, weights):
    if weights.startswith("init"):
        params = mod.init_params(seed=int(weights[4:]))
        # biases may be initialised to zero; use the arrays as given
        return [np.asarray(p) for p in params]
    rng = np.random.default_rng(1000 + int(weights[6:]))
    return random_params(spec, rng, scale=1.0)


def _data(spec, n, variant, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, spec["inputs"]))
    y = random_targets(spec, n, rng, one_hot=(variant == "onehot"), flat=(variant == "flat"))
    return X, y


def _seed(*parts):
    """A deterministic seed per test case (str hash() is salted per process)."""
    return zlib.crc32(repr(parts).encode())


# ---------------------------------------------------------------------------
# registry coverage
# ---------------------------------------------------------------------------

def test_registry_is_covered():
    """Every registry entry has a torch oracle and a spec here (so it is tested below)."""
    assert set(ACTIVATIONS) <= TORCH_ACTIVATIONS, set(ACTIVATIONS) - TORCH_ACTIVATIONS
    assert set(LOSSES) <= TORCH_LOSSES, set(LOSSES) - TORCH_LOSSES
    pairs = {(s["loss"]["kind"], s["layers"][-1]["activation"]) for s in SPECS.values()}
    assert set(REGISTRY_PAIRS) <= pairs
    hidden = {layer["activation"] for s in SPECS.values() for layer in s["layers"][:-1]}
    assert set(ELEMENTWISE) <= hidden


# ---------------------------------------------------------------------------
# module metadata
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("case", list(SPECS))
def test_module_metadata(case):
    spec = SPECS[case]
    mod = _module(case)
    n = len(spec["layers"])
    assert list(mod.PARAM_NAMES) == [f"{c}{l}" for l in range(1, n + 1) for c in "Wb"]
    assert [tuple(s) for s in mod.PARAM_SHAPES] == param_shapes(spec)
    assert np.dtype(mod.DTYPE) == np.float64
    params = mod.init_params(seed=0)
    assert len(params) == 2 * n
    for p, shape in zip(params, param_shapes(spec)):
        assert p.shape == shape and p.dtype == np.float64
    # deterministic in the seed
    again = mod.init_params(seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(params, again))


# ---------------------------------------------------------------------------
# gradients, loss, forward vs torch
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize("weights", WEIGHTS)
@pytest.mark.parametrize("case,variant", TARGET_CASES)
def test_loss_and_grad_vs_torch(case, variant, weights, n):
    spec = SPECS[case]
    mod = _module(case)
    params = _params(mod, spec, weights)
    X, y = _data(spec, n, variant, _seed(case, variant, weights, n))
    before = [p.copy() for p in params]

    L, grads = mod.loss_and_grad(params, X, y)
    L_ref, g_ref = torch_grads(params, X, y, spec)

    assert isinstance(L, float), type(L)
    assert len(grads) == len(g_ref)
    for name, g, r in zip(mod.PARAM_NAMES, grads, g_ref):
        assert g.shape == r.shape, f"{name}: shape {g.shape} != {r.shape}"
        assert g.dtype == np.float64, f"{name}: dtype {g.dtype}"
    err_L = rel_err_scalar(L, L_ref)
    assert err_L <= LOSS_RTOL, f"loss {L!r} vs torch {L_ref!r}: rel err {err_L:.3e}"
    worst = {name: max_rel_err(g, r) for name, g, r in zip(mod.PARAM_NAMES, grads, g_ref)}
    assert max(worst.values()) <= GRAD_RTOL, f"gradient rel errors: {worst}"
    # the inputs are not modified
    assert all(np.array_equal(a, b) for a, b in zip(params, before))


@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize("weights", ["init0", "normal0"])
@pytest.mark.parametrize("case,variant", TARGET_CASES)
def test_loss_and_forward_vs_torch(case, variant, weights, n):
    spec = SPECS[case]
    mod = _module(case)
    params = _params(mod, spec, weights)
    X, y = _data(spec, n, variant, _seed("fwd", case, variant, weights, n))

    out = mod.forward(params, X)
    _, A_ref = torch_forward(params, X, spec)
    assert out.shape == A_ref.shape == (n, spec["layers"][-1]["units"])
    assert out.dtype == np.float64
    err = max_rel_err(out, A_ref)
    assert err <= FWD_RTOL, f"forward rel err {err:.3e}"

    L = mod.loss(params, X, y)
    L_ref = torch_loss(params, X, y, spec)
    assert isinstance(L, float), type(L)
    assert rel_err_scalar(L, L_ref) <= LOSS_RTOL, f"loss {L!r} vs torch {L_ref!r}"
    L2, _ = mod.loss_and_grad(params, X, y)
    assert rel_err_scalar(L2, L) <= LOSS_RTOL, f"loss() {L!r} vs loss_and_grad() {L2!r}"


def test_bce_one_unit_target_shapes_agree():
    """(n,) and (n, 1) targets mean the same thing for a one-unit output layer."""
    spec = SPECS["bce_sigmoid_1"]
    mod = _module("bce_sigmoid_1")
    params = _params(mod, spec, "normal0")
    X, y = _data(spec, 9, "flat", 4242)
    L1, g1 = mod.loss_and_grad(params, X, y)
    L2, g2 = mod.loss_and_grad(params, X, y.reshape(-1, 1))
    assert rel_err_scalar(L1, L2) <= LOSS_RTOL
    assert max_rel_err(g1, g2) <= GRAD_RTOL


def test_ce_labels_and_one_hot_agree():
    spec = SPECS["ce_softmax"]
    mod = _module("ce_softmax")
    params = _params(mod, spec, "normal1")
    X, labels = _data(spec, 11, "std", 77)
    onehot = np.eye(spec["layers"][-1]["units"])[labels]
    L1, g1 = mod.loss_and_grad(params, X, labels)
    L2, g2 = mod.loss_and_grad(params, X, onehot)
    assert rel_err_scalar(L1, L2) <= LOSS_RTOL
    assert max_rel_err(g1, g2) <= GRAD_RTOL


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    case=st.sampled_from(["ce_softmax", "mse_softmax", "bce_sigmoid_3", "mse_relu"]),
    n=st.integers(1, 40),
    scale=st.floats(0.3, 2.0),
    seed=st.integers(0, 2 ** 31 - 1),
)
def test_grads_vs_torch_random(case, n, scale, seed):
    spec = SPECS[case]
    mod = _module(case)
    rng = np.random.default_rng(seed)
    params = random_params(spec, rng, scale=scale)
    X = rng.normal(size=(n, spec["inputs"]))
    y = random_targets(spec, n, rng)
    L, grads = mod.loss_and_grad(params, X, y)
    L_ref, g_ref = torch_grads(params, X, y, spec)
    assert rel_err_scalar(L, L_ref) <= LOSS_RTOL
    assert max_rel_err(grads, g_ref) <= GRAD_RTOL


# ---------------------------------------------------------------------------
# relu'(0) = 0, as PyTorch
# ---------------------------------------------------------------------------

def test_relu_derivative_at_zero_hidden():
    """First layer is relu; make some of its pre-activations exactly 0."""
    spec = SPECS["ce_softmax"]
    mod = _module("ce_softmax")
    rng = np.random.default_rng(5)
    params = random_params(spec, rng)
    W1, b1 = params[0], params[1]
    W1[:, 0] = 0.0          # unit 0: z = 0 for every sample
    b1[0] = 0.0
    b1[1] = 0.0             # unit 1: z = 0 for the all-zero sample
    X = rng.normal(size=(7, INPUTS))
    X[3] = 0.0
    y = random_targets(spec, 7, rng)
    Z1 = X @ W1 + b1
    assert np.all(Z1[:, 0] == 0.0) and Z1[3, 1] == 0.0

    L, grads = mod.loss_and_grad(params, X, y)
    L_ref, g_ref = torch_grads(params, X, y, spec)
    # torch: relu'(0) = 0, so unit 0 gets no gradient at all
    assert np.all(g_ref[0][:, 0] == 0.0) and g_ref[1][0] == 0.0
    assert np.all(grads[0][:, 0] == 0.0), f"dL/dW1[:, 0] = {grads[0][:, 0]} (relu'(0) must be 0)"
    assert grads[1][0] == 0.0, f"dL/db1[0] = {grads[1][0]} (relu'(0) must be 0)"
    assert rel_err_scalar(L, L_ref) <= LOSS_RTOL
    assert max_rel_err(grads, g_ref) <= GRAD_RTOL


def test_relu_derivative_at_zero_output():
    """relu output layer with mse: output unit 0 has z = 0 exactly for all samples."""
    spec = SPECS["mse_relu"]
    mod = _module("mse_relu")
    rng = np.random.default_rng(6)
    params = random_params(spec, rng)
    params[-2][:, 0] = 0.0
    params[-1][0] = 0.0
    X = rng.normal(size=(7, INPUTS))
    y = random_targets(spec, 7, rng)

    L, grads = mod.loss_and_grad(params, X, y)
    L_ref, g_ref = torch_grads(params, X, y, spec)
    assert np.all(g_ref[-2][:, 0] == 0.0) and g_ref[-1][0] == 0.0
    assert np.all(grads[-2][:, 0] == 0.0), f"dL/dW_out[:, 0] = {grads[-2][:, 0]}"
    assert grads[-1][0] == 0.0, f"dL/db_out[0] = {grads[-1][0]}"
    assert rel_err_scalar(L, L_ref) <= LOSS_RTOL
    assert max_rel_err(grads, g_ref) <= GRAD_RTOL


# ---------------------------------------------------------------------------
# float32
# ---------------------------------------------------------------------------

SPEC_F32 = _spec("par_f32_ce", "softmax", 4, "cross_entropy", dtype="float32",
                 hidden=[{"units": 8, "activation": "relu"}, {"units": 6, "activation": "tanh"},
                         {"units": 5, "activation": "sigmoid"}])
F32_RTOL = 1e-4


@pytest.mark.parametrize("weights", ["init0", "init3", "normal"])
@pytest.mark.parametrize("n", BATCHES)
def test_float32_vs_torch_float64(weights, n):
    spec = SPEC_F32
    mod = build(spec)
    assert np.dtype(mod.DTYPE) == np.float32
    if weights.startswith("init"):
        params = mod.init_params(seed=int(weights[4:]))
    else:
        params = [p.astype(np.float32) for p in random_params(spec, np.random.default_rng(n))]
    for p in params:
        assert p.dtype == np.float32, p.dtype
    rng = np.random.default_rng(100 + n)
    X = rng.normal(size=(n, INPUTS)).astype(np.float32)
    y = random_targets(spec, n, rng)

    L, grads = mod.loss_and_grad(params, X, y)
    for name, g in zip(mod.PARAM_NAMES, grads):
        assert g.dtype == np.float32, f"{name}: dtype {g.dtype}"
    out = mod.forward(params, X)
    assert out.dtype == np.float32

    # the reference: the same float32 numbers, computed in float64
    p64 = [p.astype(np.float64) for p in params]
    X64 = X.astype(np.float64)
    L_ref, g_ref = torch_grads(p64, X64, y, spec)
    _, A_ref = torch_forward(p64, X64, spec)
    assert rel_err_scalar(L, L_ref) <= F32_RTOL, f"loss {L!r} vs {L_ref!r}"
    worst = {name: max_rel_err(g, r) for name, g, r in zip(mod.PARAM_NAMES, grads, g_ref)}
    assert max(worst.values()) <= F32_RTOL, f"gradient rel errors: {worst}"
    assert max_rel_err(out, A_ref) <= F32_RTOL


# ---------------------------------------------------------------------------
# logits over [-1000, 1000]: the loss kernels stay finite and agree with torch
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("case", list(SPECS))
def test_extreme_logits_vs_torch(case):
    spec = SPECS[case]
    mod = _module(case)
    rng = np.random.default_rng(_seed("extreme", case))
    params = random_params(spec, rng)
    units = spec["layers"][-1]["units"]
    # output pre-activations spread over [-1000, 1000] (and past softplus-like thresholds)
    params[-2] = params[-2] * 50.0
    params[-1] = np.linspace(-1000.0, 1000.0, units)
    n = 16
    X = rng.normal(size=(n, spec["inputs"]))
    y = random_targets(spec, n, rng)
    Z_ref, _ = torch_forward(params, X, spec)
    assert np.abs(Z_ref).max() >= 900.0

    L, grads = mod.loss_and_grad(params, X, y)
    L_ref, g_ref = torch_grads(params, X, y, spec)
    assert np.isfinite(L) and all(np.all(np.isfinite(g)) for g in grads)
    assert rel_err_scalar(L, L_ref) <= LOSS_RTOL, f"loss {L!r} vs torch {L_ref!r}"
    worst = {name: max_rel_err(g, r) for name, g, r in zip(mod.PARAM_NAMES, grads, g_ref)}
    assert max(worst.values()) <= GRAD_RTOL, f"gradient rel errors: {worst}"
