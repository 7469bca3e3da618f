"""L1 / L2 weight penalties against torch (float64): the loss with the penalties added
by hand (l1 * sum|W| + l2 / 2 * sum W^2 per layer, never the biases), its autograd
gradients, and 30-step trajectories of fit, for every loss, a mix of activations and
optimizers, a layer's own l1 / l2 over [regularization]'s, on one thread and two."""
import os
import sys

import numpy as np
import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from helpers import (  # noqa: E402
    _t, _torch_forward, _torch_loss_from, build, make_torch_optimizer, max_rel_err, random_targets,
)

from derive import SpecError, load_spec  # noqa: E402
from gradgen.runtime import threads as rt_threads  # noqa: E402

N, BATCH, EPOCHS = 30, 6, 6          # 5 batches an epoch: 30 steps


def _spec(name, acts, units, loss, optimizer, regularization, layer_penalties):
    layers = [{"units": u, "activation": a} for u, a in zip(units, acts)]
    for index, penalty in layer_penalties.items():
        layers[index].update(penalty)
    return {"name": name, "inputs": 4, "dtype": "float64", "layers": layers, "loss": {"kind": loss},
            "optimizer": optimizer, "regularization": regularization,
            "training": {"batch_size": BATCH, "epochs": EPOCHS, "shuffle": False}}


SPECS = {
    "mse": _spec("pen_mse", ["sigmoid", "identity"], [6, 2], "mse",
                 {"kind": "sgd", "learning_rate": 0.1, "momentum": 0.9}, {"l2": 0.05}, {}),
    "mae": _spec("pen_mae", ["relu", "tanh", "identity"], [6, 5, 2], "mae",
                 {"kind": "adam", "learning_rate": 0.01}, {"l1": 0.01}, {1: {"l2": 0.1}}),
    "huber": _spec("pen_huber", ["tanh", "identity"], [6, 1], "huber",
                   {"kind": "rmsprop", "learning_rate": 0.01}, {"l1": 0.005, "l2": 0.02}, {1: {"l1": 0.0}}),
    "cross_entropy": _spec("pen_ce", ["tanh", "softmax"], [6, 3], "cross_entropy",
                           {"kind": "adamw", "learning_rate": 0.01}, {"l2": 0.01}, {0: {"l1": 0.02}}),
    "binary_cross_entropy": _spec("pen_bce", ["relu", "sigmoid"], [6, 1], "binary_cross_entropy",
                                  {"kind": "adagrad", "learning_rate": 0.05}, {"l1": 0.01}, {0: {"l1": 0.0, "l2": 0.03}}),
}


def _penalties(spec):
    """[(l1, l2)] per layer, as the contract defines them (a layer's own replace the global ones)."""
    reg = spec.get("regularization", {})
    return [(layer.get("l1", reg.get("l1", 0.0)), layer.get("l2", reg.get("l2", 0.0))) for layer in spec["layers"]]


def _torch_loss(tparams, X, y, spec):
    Z, A = _torch_forward(tparams, _t(X), spec)
    loss = _torch_loss_from(Z, A, y, spec)
    for (l1, l2), W in zip(_penalties(spec), tparams[::2]):
        loss = loss + l1 * W.abs().sum() + l2 / 2 * (W ** 2).sum()
    return loss


def _data(spec, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(N, 4)), random_targets(spec, N, rng)


@pytest.mark.parametrize("loss", sorted(SPECS))
def test_loss_and_gradients_are_torch_with_the_penalties(loss):
    spec = SPECS[loss]
    module = build(spec)
    X, y = _data(spec)
    params = module.init_params(seed=5)
    tparams = [_t(p, requires_grad=True) for p in params]
    want = _torch_loss(tparams, X, y, spec)
    grads = torch.autograd.grad(want, tparams)
    value, ours = module.loss_and_grad(params, X, y)
    want = float(want.detach())
    assert abs(value - want) < 1e-12 * abs(want)
    assert abs(module.loss(params, X, y) - want) < 1e-12 * abs(want)
    for name, a, b in zip(module.PARAM_NAMES, ours, grads):
        assert max_rel_err(a, b.numpy()) < 1e-10, name
    # the biases carry no penalty: their gradients are the unpenalised ones
    plain = build(dict(spec, name=spec["name"] + "_plain", regularization={},
                       layers=[{k: v for k, v in l.items() if k not in ("l1", "l2")} for l in spec["layers"]]))
    _, unpenalised = plain.loss_and_grad(params, X, y)
    for n, (a, b) in enumerate(zip(ours, unpenalised)):
        assert np.array_equal(a, b) == (n % 2 == 1 or _penalties(spec)[n // 2] == (0.0, 0.0))


def _torch_trajectory(spec, params, X, y):
    tparams = [_t(p, requires_grad=True) for p in params]
    opt = make_torch_optimizer(tparams, spec)
    losses = []
    for _ in range(EPOCHS):
        for lo in range(0, N, BATCH):
            opt.zero_grad(set_to_none=True)
            loss = _torch_loss(tparams, X[lo:lo + BATCH], y[lo:lo + BATCH], spec)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    return np.array(losses), [p.detach().numpy() for p in tparams]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("loss", sorted(SPECS))
def test_fit_follows_torch_with_the_penalties_for_30_steps(loss, threads, monkeypatch):
    spec = SPECS[loss]
    module = build(spec)
    X, y = _data(spec, seed=1)
    params = module.init_params(seed=2)
    monkeypatch.setattr(rt_threads, "PARALLEL_MACS", 0)
    monkeypatch.setattr(rt_threads, "THREADS", threads)
    assert rt_threads.thread_count(BATCH, params) == threads
    trainer = module.Trainer(params=params)
    steps = []
    for _ in range(EPOCHS):
        for lo in range(0, N, BATCH):
            steps.append(trainer.step(X[lo:lo + BATCH], y[lo:lo + BATCH]))
    fitted = module.Trainer(params=params)
    history = fitted.fit(X, y, progress=False)
    losses, theirs = _torch_trajectory(spec, params, X, y)
    assert np.allclose(steps, losses, rtol=1e-10, atol=0)
    # History.loss: each epoch's batch losses (penalties included), averaged over its rows
    assert np.allclose(history.loss, losses.reshape(EPOCHS, -1).mean(axis=1), rtol=1e-10, atol=0)
    for ours in (trainer.params, fitted.params):
        err = max(max_rel_err(a, b) for a, b in zip(ours, theirs))
        assert err < 1e-9, f"{err:.2e}"


def test_score_has_no_penalty_and_the_loss_has():
    spec = SPECS["cross_entropy"]
    module = build(spec)
    X, y = _data(spec)
    params = module.init_params(seed=5)
    plain = build(dict(spec, name="pen_ce_none", regularization={},
                       layers=[{k: v for k, v in l.items() if k not in ("l1", "l2")} for l in spec["layers"]]))
    W1 = params[0]
    extra = 0.02 * np.abs(W1).sum() + 0.01 / 2 * sum((W ** 2).sum() for W in params[::2])
    assert np.isclose(module.loss(params, X, y), plain.loss(params, X, y) + extra, rtol=1e-13)
    trainer, bare = module.Trainer(params=params), plain.Trainer(params=params)
    assert trainer.score(X, y) == bare.score(X, y)


def test_penalties_are_spec_keys_with_a_layers_own_first():
    spec = load_spec(SPECS["huber"])
    assert [spec.penalties(l) for l in spec.layers] == [(0.005, 0.02), (0.0, 0.02)]
    again = load_spec(spec.to_dict())
    assert again == spec and again.digest() == spec.digest()
    assert "regularization" not in load_spec({k: v for k, v in SPECS["huber"].items()
                                              if k != "regularization"}).to_dict()


@pytest.mark.parametrize("bad, field", [
    ({"regularization": {"l1": -0.1}}, "regularization.l1"),
    ({"regularization": {"l3": 0.1}}, "regularization.l3"),
    ({"regularization": {"l2": "big"}}, "regularization.l2"),
    ({"regularization": 0.1}, "regularization"),
])
def test_bad_penalties_are_refused(bad, field):
    with pytest.raises(SpecError) as err:
        load_spec(SPECS["mse"] | bad)
    assert err.value.field == field, str(err.value)


def test_a_layers_bad_penalty_is_refused():
    spec = SPECS["mse"] | {"layers": [{"units": 3, "activation": "tanh", "l2": -1.0},
                                      {"units": 2, "activation": "identity"}]}
    with pytest.raises(SpecError) as err:
        load_spec(spec)
    assert err.value.field == "layers[1].l2"
