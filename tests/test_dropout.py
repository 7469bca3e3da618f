"""Dropout against torch (float64), with the masks gradgen drew read back
(Trainer.record_masks) and applied in torch as torch.nn.Dropout applies its own:
30-step trajectories for every loss, a mix of activations and optimizers, one and two
dropout layers; the masks' statistics; evaluation without dropout; reproducible,
resumable and independent of how an epoch is split into compiled calls."""
import math
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from helpers import (  # noqa: E402
    TORCH_ACTIVATION_FN, _t, _torch_loss_from, build, make_torch_optimizer, max_rel_err, random_targets,
)

from derive import SpecError, load_spec  # noqa: E402
from gradgen.runtime import trainer as rt_trainer  # noqa: E402

N, BATCH, EPOCHS = 30, 6, 6          # 30 steps


def _spec(name, layers, loss, optimizer):
    return {"name": name, "inputs": 4, "dtype": "float64", "layers": layers, "loss": {"kind": loss},
            "optimizer": optimizer, "training": {"batch_size": BATCH, "epochs": EPOCHS, "shuffle": False}}


def _layer(units, activation, p=0.0):
    return {"units": units, "activation": activation} | ({"dropout": p} if p else {})


SPECS = {
    "cross_entropy": _spec("do_ce", [_layer(8, "tanh", 0.3), _layer(3, "softmax")], "cross_entropy",
                           {"kind": "sgd", "learning_rate": 0.1, "momentum": 0.9}),
    "binary_cross_entropy": _spec("do_bce", [_layer(8, "relu", 0.5), _layer(1, "sigmoid")],
                                  "binary_cross_entropy", {"kind": "adam", "learning_rate": 0.01}),
    "mse": _spec("do_mse", [_layer(8, "sigmoid", 0.2), _layer(6, "tanh", 0.4), _layer(2, "identity")], "mse",
                 {"kind": "rmsprop", "learning_rate": 0.01}),
    "mae": _spec("do_mae", [_layer(7, "gelu", 0.25), _layer(2, "identity")], "mae",
                 {"kind": "adamw", "learning_rate": 0.01}),
    "huber": _spec("do_huber", [_layer(7, "elu", 0.1), _layer(5, "softplus"), _layer(1, "identity")], "huber",
                   {"kind": "adagrad", "learning_rate": 0.05}),
}


def _data(spec, seed=0, n=N):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 4)), random_targets(spec, n, rng)


def _torch_forward_dropped(tparams, X, spec, masks):
    """The network with each dropout layer's output times its factors (0 or 1/(1-p))."""
    A, Z, col = X, None, 0
    for l, layer in enumerate(spec["layers"]):
        Z = A @ tparams[2 * l] + tparams[2 * l + 1]
        A = TORCH_ACTIVATION_FN[layer["activation"]](Z)
        if layer.get("dropout"):
            A = A * _t(masks[:, col:col + layer["units"]])
            col += layer["units"]
    return Z, A


def _fit_recording(module, params, X, y, **fit):
    trainer = module.Trainer(params=params)
    trainer.record_masks = True
    masks = []
    trainer.fit(X, y, progress=False, callbacks=[lambda t, e, logs: masks.append(t.masks.copy())], **fit)
    return trainer, masks


@pytest.mark.parametrize("loss", sorted(SPECS))
def test_fit_with_dropout_follows_torch_with_the_same_masks(loss):
    spec = SPECS[loss]
    module = build(spec)
    X, y = _data(spec)
    params = module.init_params(seed=3)
    trainer, masks = _fit_recording(module, params, X, y)
    tparams = [_t(p, requires_grad=True) for p in params]
    opt = make_torch_optimizer(tparams, spec)
    for epoch in range(EPOCHS):
        for lo in range(0, N, BATCH):
            opt.zero_grad(set_to_none=True)
            Z, A = _torch_forward_dropped(tparams, _t(X[lo:lo + BATCH]), spec, masks[epoch][lo:lo + BATCH])
            _torch_loss_from(Z, A, y[lo:lo + BATCH], spec).backward()
            opt.step()
    err = max(max_rel_err(a, b.detach().numpy()) for a, b in zip(trainer.params, tparams))
    assert err < 1e-9, f"{err:.2e}"
    widths = sum(l["units"] for l in spec["layers"] if l.get("dropout"))
    assert all(m.shape == (N, widths) for m in masks)


def test_the_masks_keep_one_minus_p_and_scale_by_its_inverse():
    spec = _spec("do_stats", [_layer(50, "relu", 0.3), _layer(40, "tanh", 0.6), _layer(2, "identity")], "mse",
                 {"kind": "sgd", "learning_rate": 0.01})
    module = build(spec)
    X, y = _data(spec, n=2000)
    trainer = module.Trainer(seed=7)
    trainer.record_masks = True
    trainer.fit(X, y, epochs=1, progress=False)
    for (lo, hi), p in (((0, 50), 0.3), ((50, 90), 0.6)):
        block = trainer.masks[:, lo:hi]
        assert set(np.unique(block)) == {0.0, 1.0 / (1.0 - p)}
        kept, n = float((block > 0).mean()), block.size
        assert abs(kept - (1 - p)) < 5 * math.sqrt(p * (1 - p) / n), (kept, p)


def test_evaluation_is_deterministic_and_unscaled():
    spec = SPECS["cross_entropy"]
    module = build(spec)
    plain = build(dict(spec, name="do_ce_plain", layers=[_layer(8, "tanh"), _layer(3, "softmax")]))
    X, y = _data(spec)
    trainer = module.Trainer(seed=1)
    trainer.fit(X, y, epochs=2, progress=False)
    out = module.forward(trainer.params, X)
    assert np.array_equal(out, module.forward(trainer.params, X))
    assert np.array_equal(out, plain.forward(trainer.params, X))
    assert module.loss(trainer.params, X, y) == plain.loss(trainer.params, X, y)
    assert trainer.score(X, y) == plain.Trainer(params=trainer.params).score(X, y)


def test_a_seed_reproduces_and_a_checkpoint_resumes_bit_for_bit(tmp_path):
    spec = SPECS["mse"]
    module = build(spec)
    X, y = _data(spec)
    a, b = module.Trainer(seed=5), module.Trainer(seed=5)
    a.fit(X, y, epochs=4, shuffle=True, progress=False)
    b.fit(X, y, epochs=2, shuffle=True, progress=False)
    b.save(tmp_path / "mid.npz")
    c = module.Trainer.load(tmp_path / "mid.npz")
    c.fit(X, y, epochs=2, shuffle=True, progress=False)
    for p, q in zip(a.params, c.params):
        assert np.array_equal(p, q)
    other = module.Trainer(seed=6)
    other.fit(X, y, epochs=4, shuffle=True, progress=False)
    assert not np.array_equal(other.params[0], a.params[0])


def test_the_masks_do_not_depend_on_how_an_epoch_is_split(monkeypatch):
    spec = SPECS["mse"]
    module = build(spec)
    X, y = _data(spec, n=60)
    runs = []
    for seconds in (1e-9, 1e9):            # one batch a call, or the whole epoch in one
        monkeypatch.setattr(rt_trainer, "CALL_SECONDS", seconds)
        trainer = module.Trainer(seed=2)
        trainer._pace[BATCH, 1] = 1e-3     # a known pace: the calls are sized from it
        trainer.fit(X, y, epochs=2, shuffle=True, progress=False)
        runs.append(trainer.params)
    for p, q in zip(*runs):
        assert np.array_equal(p, q)


def test_step_uses_a_fresh_mask_each_time():
    spec = SPECS["cross_entropy"]
    module = build(spec)
    X, y = _data(spec)
    trainer = module.Trainer(seed=0)
    trainer.record_masks = True
    trainer.step(X[:BATCH], y[:BATCH])
    first = trainer.masks.copy()
    trainer.step(X[:BATCH], y[:BATCH])
    assert first.shape == (BATCH, 8) and not np.array_equal(first, trainer.masks)


@pytest.mark.parametrize("layers, field", [
    ([_layer(4, "tanh"), _layer(3, "softmax", 0.2)], "layers[2].dropout"),
    ([_layer(4, "tanh", 1.0), _layer(3, "softmax")], "layers[1].dropout"),
    ([_layer(4, "tanh", -0.1), _layer(3, "softmax")], "layers[1].dropout"),
])
def test_bad_dropout_is_refused(layers, field):
    with pytest.raises(SpecError) as err:
        load_spec(_spec("bad", layers, "cross_entropy", {"kind": "sgd"}))
    assert err.value.field == field, str(err.value)


def test_dropout_trains_on_one_thread(monkeypatch):
    from gradgen.runtime import threads as rt_threads
    module = build(SPECS["cross_entropy"])
    assert module._epoch_threads is None
    monkeypatch.setattr(rt_threads, "PARALLEL_MACS", 0)
    monkeypatch.setattr(rt_threads, "THREADS", 2)
    monkeypatch.setattr(rt_threads, "run_threads", lambda *a: pytest.fail("dropout ran on threads"))
    X, y = _data(SPECS["cross_entropy"])
    module.Trainer().fit(X, y, epochs=1, progress=False)


def test_a_step_undone_mid_call_replays_on_the_masks_it_drew():
    """A step that makes the parameters non-finite is undone by replaying the call's
    earlier batches: on the masks that call drew, so the trainer ends as the steps
    before it left it (the same as stepping batch by batch)."""
    spec = _spec("do_replay", [_layer(8, "relu", 0.3), _layer(3, "softmax")], "cross_entropy",
                 {"kind": "sgd", "learning_rate": 0.1, "momentum": 0.9})
    spec["inputs"] = 5
    module = build(spec)
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(40, 5)) * 1e4, rng.integers(0, 3, size=40)     # step 4 goes non-finite
    trainer = module.Trainer(seed=0, learning_rate=1e304)
    trainer._pace[4, 1] = 1e-9             # one call for the whole epoch: the bad step is its second
    with pytest.raises(FloatingPointError, match="made the parameters non-finite"):
        trainer.fit(X, y, epochs=1, batch_size=4, shuffle=False, progress=False)
    reference = module.Trainer(seed=0, learning_rate=1e304)
    for lo in (0, 4, 8):                    # the same generator: the same first 12 rows of masks
        reference.step(X[lo:lo + 4], y[lo:lo + 4])
    assert trainer.t == reference.t == 3
    for a, b in zip(trainer.params + trainer.state["momentum_buffer"],
                    reference.params + reference.state["momentum_buffer"]):
        assert np.array_equal(a, b)
