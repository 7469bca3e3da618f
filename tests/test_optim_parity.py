"""Trainer.step trajectories against torch.optim.SGD / torch.optim.Adam (float64).

40 steps, a different batch (and batch size) each step from a fixed RNG; the
per-step losses (the batch loss before the step) must agree within 1e-10 and
every parameter after the last step within 1e-8 (scale-relative, per parameter).

One module per (network, optimizer kind); hyper-parameters vary through
Trainer(**overrides) as the contract allows. Separate specs carry the
hyper-parameters in the spec itself, and a per-layer learning_rate
(a torch parameter group for that layer's W and b).
"""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from helpers import (  # noqa: E402
    build, max_rel_err, random_params, random_targets, rel_err_scalar, torch_trajectory,
)

STEPS = 40
PARAM_RTOL = 1e-8
LOSS_RTOL = 1e-10


def _clf(name, optimizer, layer1_lr=None):
    hidden = {"units": 7, "activation": "tanh"}
    if layer1_lr is not None:
        hidden["learning_rate"] = layer1_lr
    return {
        "name": name,
        "inputs": 5,
        "dtype": "float64",
        "layers": [hidden, {"units": 3, "activation": "softmax"}],
        "loss": {"kind": "cross_entropy"},
        "optimizer": optimizer,
    }


def _reg(name, optimizer):
    return {
        "name": name,
        "inputs": 4,
        "dtype": "float64",
        "layers": [{"units": 6, "activation": "sigmoid"}, {"units": 2, "activation": "identity"}],
        "loss": {"kind": "mse"},
        "optimizer": optimizer,
    }


SPECS = {
    "clf_sgd": _clf("opt_clf_sgd", {"kind": "sgd", "learning_rate": 0.1}),
    "clf_adam": _clf("opt_clf_adam", {"kind": "adam", "learning_rate": 0.01}),
    "reg_sgd": _reg("opt_reg_sgd", {"kind": "sgd", "learning_rate": 0.1}),
    "reg_adam": _reg("opt_reg_adam", {"kind": "adam", "learning_rate": 0.01}),
    # hyper-parameters in the spec, and layer 1 with its own learning rate
    "clf_sgd_layer_lr": _clf(
        "opt_clf_sgd_llr",
        {"kind": "sgd", "learning_rate": 0.01, "momentum": 0.9, "weight_decay": 0.01},
        layer1_lr=0.05),
    "clf_adam_layer_lr": _clf(
        "opt_clf_adam_llr",
        {"kind": "adam", "learning_rate": 0.01, "betas": [0.8, 0.99], "amsgrad": True},
        layer1_lr=0.05),
}

for _kind in ("adamw", "rmsprop", "adagrad"):
    SPECS[f"clf_{_kind}"] = _clf(f"opt_clf_{_kind}", {"kind": _kind, "learning_rate": 0.01})
    SPECS[f"reg_{_kind}"] = _reg(f"opt_reg_{_kind}", {"kind": _kind})   # torch's default lr
SPECS["clf_rmsprop_layer_lr"] = _clf(
    "opt_clf_rmsprop_llr",
    {"kind": "rmsprop", "learning_rate": 0.01, "momentum": 0.5, "centered": True}, layer1_lr=0.05)
SPECS["clf_adagrad_layer_lr"] = _clf(
    "opt_clf_adagrad_llr",
    {"kind": "adagrad", "learning_rate": 0.05, "lr_decay": 0.01,
     "initial_accumulator_value": 0.1}, layer1_lr=0.2)
SPECS["clf_adamw_layer_lr"] = _clf(
    "opt_clf_adamw_llr", {"kind": "adamw", "learning_rate": 0.01, "weight_decay": 0.1}, layer1_lr=0.05)

SGD_VARIANTS = {
    "plain": {},
    "momentum": {"momentum": 0.9},
    "momentum_dampening": {"momentum": 0.9, "dampening": 0.5},
    "nesterov": {"momentum": 0.9, "nesterov": True},
    "weight_decay": {"weight_decay": 0.01},
    "momentum_weight_decay": {"momentum": 0.9, "weight_decay": 0.01},
    "lr_override": {"learning_rate": 0.05, "momentum": 0.5},
}
ADAM_VARIANTS = {
    "default": {},
    "betas_eps": {"betas": (0.8, 0.99), "eps": 1e-6},
    "weight_decay": {"weight_decay": 0.05},
    "amsgrad": {"amsgrad": True},
    "amsgrad_weight_decay": {"amsgrad": True, "weight_decay": 0.05},
    "lr_override": {"learning_rate": 0.03},
}


ADAMW_VARIANTS = {
    "default": {},
    "no_weight_decay": {"weight_decay": 0.0},
    "weight_decay_betas_eps": {"weight_decay": 0.1, "betas": (0.8, 0.99), "eps": 1e-6},
    "amsgrad": {"amsgrad": True},
    "lr_override": {"learning_rate": 0.03},
}
RMSPROP_VARIANTS = {
    "default": {},
    "alpha_eps": {"alpha": 0.9, "eps": 1e-6},
    "centered": {"centered": True},
    "momentum": {"momentum": 0.9},
    "weight_decay": {"weight_decay": 0.01},
    "all": {"momentum": 0.9, "centered": True, "weight_decay": 0.01, "alpha": 0.95},
}
ADAGRAD_VARIANTS = {
    "default": {},
    "lr_decay": {"lr_decay": 0.1},
    "eps": {"eps": 1e-6},
    "weight_decay": {"weight_decay": 0.01},
    "initial_accumulator_value": {"initial_accumulator_value": 0.5},
    "all": {"lr_decay": 0.05, "weight_decay": 0.01, "initial_accumulator_value": 0.2},
}
VARIANTS = {"sgd": SGD_VARIANTS, "adam": ADAM_VARIANTS, "adamw": ADAMW_VARIANTS,
            "rmsprop": RMSPROP_VARIANTS, "adagrad": ADAGRAD_VARIANTS}


def test_every_registry_optimizer_and_hyperparameter_is_exercised():
    """A new optimizer (or hyper-parameter) in the registry must get variants here."""
    from derive.optimizers import OPTIMIZERS
    assert set(VARIANTS) == set(OPTIMIZERS)
    for kind, variants in VARIANTS.items():
        used = {key for v in variants.values() for key in v}
        spec_keys = {k for s in SPECS.values() if s["optimizer"]["kind"] == kind
                     for k in s["optimizer"]}
        # clip_grad_norm / clip_grad_value: every optimizer's, exercised in test_schedules.py
        names = {h.name for h in OPTIMIZERS[kind].hyperparameters} - {"clip_grad_norm", "clip_grad_value"}
        assert names <= used | spec_keys, (kind, names - used - spec_keys)


@pytest.mark.parametrize("kind,variant", [(k, v) for k in ("adamw", "rmsprop", "adagrad")
                                          for v in VARIANTS[k]])
@pytest.mark.parametrize("net", ["clf", "reg"])
def test_other_optimizers_vs_torch(net, kind, variant):
    _run_and_compare(f"{net}_{kind}", VARIANTS[kind][variant])


def _batches(spec, seed, steps=STEPS):
    """A fixed list of batches of varying size (1..16), one per step."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        n = int(rng.integers(1, 17))
        X = rng.normal(size=(n, spec["inputs"]))
        out.append((X, random_targets(spec, n, rng)))
    return out


def _initial(mod, spec, source):
    if source == "init":
        return [np.asarray(p, dtype=np.float64).copy() for p in mod.init_params(seed=3)]
    return random_params(spec, np.random.default_rng(11), scale=1.0)


def _run_and_compare(case, overrides, source="random", seed=0):
    spec = SPECS[case]
    mod = build(spec)
    params0 = _initial(mod, spec, source)
    batches = _batches(spec, seed=1234 + seed)
    ref_losses, ref_params = torch_trajectory(params0, batches, spec, overrides, STEPS)

    given = [p.copy() for p in params0]
    trainer = mod.Trainer(params=given, **overrides)
    losses = [trainer.step(X, y) for X, y in batches[:STEPS]]

    # Trainer copies its initial parameters
    assert all(np.array_equal(a, b) for a, b in zip(given, params0)), \
        "Trainer.step modified the arrays passed as params="
    assert all(isinstance(L, float) for L in losses), [type(L) for L in losses[:3]]
    loss_errs = [rel_err_scalar(a, b) for a, b in zip(losses, ref_losses)]
    worst_step = int(np.argmax(loss_errs))
    assert max(loss_errs) <= LOSS_RTOL, (
        f"{case} {overrides}: step {worst_step} loss {losses[worst_step]!r} vs torch "
        f"{ref_losses[worst_step]!r} (rel err {loss_errs[worst_step]:.3e}); "
        f"first bad step {next(i for i, e in enumerate(loss_errs) if e > LOSS_RTOL)}")
    final = trainer.params
    assert len(final) == len(ref_params)
    errs = {name: max_rel_err(p, r) for name, p, r in zip(mod.PARAM_NAMES, final, ref_params)}
    assert max(errs.values()) <= PARAM_RTOL, f"{case} {overrides}: parameter rel errors {errs}"
    # the run really moved the parameters (a no-op optimizer must not pass)
    moved = max_rel_err(ref_params, params0)
    assert moved > 1e-4, f"reference barely moved ({moved:.2e}); test is too weak"


@pytest.mark.parametrize("variant", list(SGD_VARIANTS))
@pytest.mark.parametrize("net", ["clf", "reg"])
def test_sgd_vs_torch(net, variant):
    _run_and_compare(f"{net}_sgd", SGD_VARIANTS[variant])


@pytest.mark.parametrize("variant", list(ADAM_VARIANTS))
@pytest.mark.parametrize("net", ["clf", "reg"])
def test_adam_vs_torch(net, variant):
    _run_and_compare(f"{net}_adam", ADAM_VARIANTS[variant])


@pytest.mark.parametrize("case", ["clf_sgd", "clf_adam"])
def test_from_init_params(case):
    """Start from the module's own init_params rather than our random weights."""
    overrides = {"momentum": 0.9} if case.endswith("sgd") else {"amsgrad": True}
    _run_and_compare(case, overrides, source="init", seed=5)


# hyper-parameters from the spec itself (no overrides), with a per-layer learning rate
@pytest.mark.parametrize("case", [c for c in SPECS if c.endswith("_layer_lr")])
def test_spec_hyperparameters_and_layer_learning_rate(case):
    _run_and_compare(case, {}, seed=7)


# overrides beat the spec's values; the layer's own learning rate stays 0.05
@pytest.mark.parametrize("case,overrides", [
    ("clf_sgd_layer_lr", {"momentum": 0.5, "nesterov": True}),
    ("clf_sgd_layer_lr", {"momentum": 0.0, "weight_decay": 0.0}),
    ("clf_adam_layer_lr", {"amsgrad": False, "betas": (0.9, 0.999)}),
    ("clf_adam_layer_lr", {"weight_decay": 0.01, "eps": 1e-7}),
])
def test_overrides_beat_spec_values(case, overrides):
    _run_and_compare(case, overrides, seed=8)


@pytest.mark.parametrize("case", ["clf_sgd_layer_lr", "clf_adam_layer_lr"])
def test_overriding_learning_rate_keeps_layer_learning_rate(case):
    """Overriding the optimizer's learning_rate changes only the default group
    (layer 2 here); layer 1 keeps its own learning_rate from the spec, as a torch
    param group with its own lr would."""
    _run_and_compare(case, {"learning_rate": 0.02}, seed=9)


def test_layer_learning_rate_matters():
    """Guard for the oracle: the per-layer rate really changes the torch trajectory."""
    spec = SPECS["clf_sgd_layer_lr"]
    flat = dict(spec, layers=[{k: v for k, v in spec["layers"][0].items() if k != "learning_rate"},
                              spec["layers"][1]])
    params0 = random_params(spec, np.random.default_rng(11))
    batches = _batches(spec, seed=1)
    _, with_lr = torch_trajectory(params0, batches, spec, {}, 10)
    _, without = torch_trajectory(params0, batches, flat, {}, 10)
    assert max_rel_err(with_lr[:2], without[:2]) > 1e-3
    assert max_rel_err(with_lr[2:], without[2:]) > 0.0


def test_trainers_do_not_share_state():
    """Two trainers of the same module, stepped alternately, each follow torch."""
    spec = SPECS["clf_adam"]
    mod = build(spec)
    params0 = random_params(spec, np.random.default_rng(21))
    b1, b2 = _batches(spec, seed=31, steps=15), _batches(spec, seed=32, steps=15)
    t1 = mod.Trainer(params=params0, amsgrad=True)
    t2 = mod.Trainer(params=params0, weight_decay=0.05)
    for (X1, y1), (X2, y2) in zip(b1, b2):
        t1.step(X1, y1)
        t2.step(X2, y2)
    _, ref1 = torch_trajectory(params0, b1, spec, {"amsgrad": True}, 15)
    _, ref2 = torch_trajectory(params0, b2, spec, {"weight_decay": 0.05}, 15)
    assert max_rel_err(t1.params, ref1) <= PARAM_RTOL
    assert max_rel_err(t2.params, ref2) <= PARAM_RTOL
