"""Learning-rate schedules and gradient clipping against torch (float64).

Each [schedule] kind trains 3 epochs (plateau: 8) with gradgen's Trainer.fit and
with an equal torch loop (one parameter group per layer, the scheduler stepped
after every epoch, one_cycle after every batch, plateau on the validation loss):
the per-epoch rates of every group (History.learning_rate) and the parameters
after every epoch must agree. one_cycle's per-step rate and momentum are also
compared step by step with OneCycleLR's. Clipping: 30 steps against
clip_grad_norm_ / clip_grad_value_ with momentum and weight decay.
"""
import os
import sys

import numpy as np
import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from helpers import _t, _torch_forward, _torch_loss_from, build, make_torch_optimizer, max_rel_err  # noqa: E402

from derive import SpecError, load_spec  # noqa: E402

PARAM_RTOL = 1e-9
N, BATCH = 40, 8          # 5 batches an epoch
SCHED = torch.optim.lr_scheduler


def _spec(name, optimizer, schedule=None, layer_lr=0.05, epochs=3):
    hidden = {"units": 6, "activation": "tanh"}
    if layer_lr is not None:
        hidden["learning_rate"] = layer_lr
    spec = {"name": name, "inputs": 4, "dtype": "float64",
            "layers": [hidden, {"units": 3, "activation": "softmax"}],
            "loss": {"kind": "cross_entropy"}, "optimizer": optimizer,
            "training": {"batch_size": BATCH, "epochs": epochs, "shuffle": False}}
    if schedule is not None:
        spec["schedule"] = schedule
    return spec


def _data(seed=0):
    rng = np.random.default_rng(seed)
    X, Xv = rng.normal(size=(N, 4)), rng.normal(size=(16, 4))
    return X, rng.integers(0, 3, N), Xv, rng.integers(0, 3, 16)


def _torch_scheduler(opt, schedule, epochs):
    kind = schedule["kind"]
    args = {k: v for k, v in schedule.items() if k != "kind"}
    if kind == "one_cycle":
        return SCHED.OneCycleLR(opt, epochs=epochs, steps_per_epoch=N // BATCH, **args)
    return {"step": SCHED.StepLR, "multistep": SCHED.MultiStepLR, "exponential": SCHED.ExponentialLR,
            "cosine": SCHED.CosineAnnealingLR, "linear": SCHED.LinearLR,
            "plateau": SCHED.ReduceLROnPlateau}[kind](opt, **args)


def _torch_run(spec, params, X, y, Xv, yv, epochs):
    """(per-epoch group rates at the first batch, parameters after every epoch)."""
    optimizer = {k: v for k, v in spec["optimizer"].items() if not k.startswith("clip_")}
    tparams = [_t(p, requires_grad=True) for p in params]
    opt = make_torch_optimizer(tparams, dict(spec, optimizer=optimizer))
    schedule = spec.get("schedule")
    sched = _torch_scheduler(opt, schedule, epochs) if schedule else None
    rates, trajectory = [], []
    for _ in range(epochs):
        rates.append([g["lr"] for g in opt.param_groups])
        for lo in range(0, N, BATCH):
            opt.zero_grad(set_to_none=True)
            Z, A = _torch_forward(tparams, _t(X[lo:lo + BATCH]), spec)
            _torch_loss_from(Z, A, y[lo:lo + BATCH], spec).backward()
            if "clip_grad_norm" in spec["optimizer"]:
                torch.nn.utils.clip_grad_norm_(tparams, spec["optimizer"]["clip_grad_norm"])
            if "clip_grad_value" in spec["optimizer"]:
                torch.nn.utils.clip_grad_value_(tparams, spec["optimizer"]["clip_grad_value"])
            opt.step()
            if schedule and schedule["kind"] == "one_cycle":
                sched.step()
        if schedule and schedule["kind"] == "plateau":
            with torch.no_grad():
                Z, A = _torch_forward(tparams, _t(Xv), spec)
                sched.step(float(_torch_loss_from(Z, A, yv, spec)))
        elif schedule and schedule["kind"] != "one_cycle":
            sched.step()
        trajectory.append([p.detach().numpy().copy() for p in tparams])
    return rates, trajectory


def _gradgen_run(module, params, X, y, Xv, yv, epochs):
    trainer = module.Trainer(params=params)
    trajectory = []

    def keep(trainer, epoch, logs):
        trajectory.append([p.copy() for p in trainer.params])
    history = trainer.fit(X, y, epochs=epochs, validation_data=(Xv, yv), progress=False, callbacks=[keep])
    return history.learning_rate, trajectory


SCHEDULES = {
    "step": {"kind": "step", "step_size": 2, "gamma": 0.5},
    "multistep": {"kind": "multistep", "milestones": [1, 2], "gamma": 0.3},
    "exponential": {"kind": "exponential", "gamma": 0.7},
    "cosine": {"kind": "cosine", "T_max": 2, "eta_min": 0.001},
    "linear": {"kind": "linear", "start_factor": 0.25, "total_iters": 2},
    "linear_defaults": {"kind": "linear"},
    "cosine_defaults": {"kind": "cosine", "T_max": 4},
    "one_cycle": {"kind": "one_cycle", "max_lr": 0.3},
    "one_cycle_linear_3": {"kind": "one_cycle", "max_lr": [0.2, 0.4], "anneal_strategy": "linear",
                           "three_phase": True, "pct_start": 0.25},
    "plateau": {"kind": "plateau", "patience": 1, "factor": 0.5, "threshold": 0.2, "cooldown": 1},
    "plateau_abs_max": {"kind": "plateau", "mode": "max", "patience": 0, "threshold": 0.01,
                        "threshold_mode": "abs", "min_lr": 0.005},
}
OPTIMIZERS = {
    "sgd": {"kind": "sgd", "learning_rate": 0.1, "momentum": 0.9},
    "adam": {"kind": "adam", "learning_rate": 0.02},
}


# Every schedule with both optimizers and both group settings, two modules a schedule
# (each one compiles: the whole cross product cost CI about two minutes more): the
# pairs alternate, so each optimizer also meets each group setting.
PAIRS = ([("sgd", "layer_lr"), ("adam", "one_group")], [("sgd", "one_group"), ("adam", "layer_lr")])
CASES = [(which, opt, groups) for i, which in enumerate(sorted(SCHEDULES)) for opt, groups in PAIRS[i % 2]]


@pytest.mark.parametrize("which, opt, groups", CASES)
def test_schedule_follows_torch(which, opt, groups):
    schedule = SCHEDULES[which]
    epochs = 8 if schedule["kind"] == "plateau" else 3
    spec = _spec(f"sch_{which}_{opt}_{groups}", OPTIMIZERS[opt], schedule,
                 layer_lr=0.05 if groups == "layer_lr" else None, epochs=epochs)
    module = build(spec)
    X, y, Xv, yv = _data()
    params = module.init_params(seed=3)
    rates, ours = _gradgen_run(module, params, X, y, Xv, yv, epochs)
    torch_rates, theirs = _torch_run(spec, params, X, y, Xv, yv, epochs)
    assert np.allclose(rates, torch_rates, rtol=1e-12, atol=0), (rates, torch_rates)
    for epoch, (a, b) in enumerate(zip(ours, theirs)):
        err = max(max_rel_err(p, q) for p, q in zip(a, b))
        assert err < PARAM_RTOL, f"epoch {epoch + 1}: parameters differ by {err:.2e}"
    if schedule["kind"] == "plateau":
        assert len({tuple(r) for r in rates}) > 1, "the plateau never lowered the rate: the test is too weak"


@pytest.mark.parametrize("which", ["one_cycle", "one_cycle_linear_3"])
def test_one_cycle_rate_and_momentum_every_step(which):
    schedule = SCHEDULES[which]
    module = build(_spec(f"sch_{which}_adam_layer_lr", OPTIMIZERS["adam"], schedule))
    tparams = [torch.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)]
    opt = torch.optim.Adam([{"params": [tparams[0]]}, {"params": [tparams[1]]}], lr=0.02)
    sched = _torch_scheduler(opt, schedule, 3)
    tops = module.SCHEDULE_BASES
    for step in range(3 * N // BATCH):
        want = [g["lr"] for g in opt.param_groups]
        got = [module._schedule_rate(top, step, 3 * N // BATCH) for top in tops]
        assert np.allclose(got, want, rtol=1e-13), (step, got, want)
        assert np.isclose(module._schedule_momentum(step, 3 * N // BATCH), opt.param_groups[0]["betas"][0],
                          rtol=1e-13)
        opt.step()
        sched.step()


def test_one_cycle_refuses_steps_past_its_total():
    module = build(_spec("sch_one_cycle_sgd_layer_lr", OPTIMIZERS["sgd"], SCHEDULES["one_cycle"]))
    X, y, _, _ = _data()
    trainer = module.Trainer()
    trainer.fit(X, y, epochs=3, progress=False)
    with pytest.raises(ValueError, match="past the schedule's 15 steps"):
        trainer.fit(X, y, epochs=1, progress=False)


@pytest.mark.parametrize("which", ["step", "one_cycle", "plateau"])
def test_resumed_mid_schedule_follows_the_uninterrupted_run(which, tmp_path):
    schedule = SCHEDULES[which]
    epochs = 8 if schedule["kind"] == "plateau" else 3
    module = build(_spec(f"sch_{which}_sgd_layer_lr", OPTIMIZERS["sgd"], schedule, epochs=epochs))
    X, y, Xv, yv = _data()
    whole = module.Trainer(seed=1)
    full = whole.fit(X, y, validation_data=(Xv, yv), progress=False)
    first = module.Trainer(seed=1)
    head = first.fit(X, y, epochs=epochs // 2, validation_data=(Xv, yv), progress=False)
    first.save(tmp_path / "mid.npz")
    resumed = module.Trainer.load(tmp_path / "mid.npz")
    tail = resumed.fit(X, y, epochs=epochs - epochs // 2, validation_data=(Xv, yv), progress=False)
    assert head.learning_rate + tail.learning_rate == full.learning_rate
    for a, b in zip(resumed.params, whole.params):
        assert np.array_equal(a, b)


# ------------------------------------------------------------------ clipping

CLIPPED = {
    "norm_sgd": {"kind": "sgd", "learning_rate": 0.1, "momentum": 0.9, "weight_decay": 0.01,
                 "clip_grad_norm": 0.05},
    "value_sgd": {"kind": "sgd", "learning_rate": 0.1, "momentum": 0.9, "weight_decay": 0.01,
                  "nesterov": True, "clip_grad_value": 0.01},
    "norm_adamw": {"kind": "adamw", "learning_rate": 0.02, "clip_grad_norm": 0.1},
    "value_rmsprop": {"kind": "rmsprop", "learning_rate": 0.01, "momentum": 0.5, "clip_grad_value": 0.02},
}


@pytest.mark.parametrize("which", sorted(CLIPPED))
def test_clipping_follows_torch(which):
    spec = _spec(f"clip_{which}", CLIPPED[which], epochs=6)      # 30 steps
    module = build(spec)
    X, y, Xv, yv = _data(1)
    params = module.init_params(seed=2)
    _, ours = _gradgen_run(module, params, X, y, Xv, yv, 6)
    _, theirs = _torch_run(spec, params, X, y, Xv, yv, 6)
    unclipped = _torch_run(_spec("x", {k: v for k, v in CLIPPED[which].items() if not k.startswith("clip")},
                                 epochs=6), params, X, y, Xv, yv, 6)[1]
    assert max(max_rel_err(p, q) for p, q in zip(theirs[-1], unclipped[-1])) > 1e-3, "clipping never acted"
    for epoch, (a, b) in enumerate(zip(ours, theirs)):
        err = max(max_rel_err(p, q) for p, q in zip(a, b))
        assert err < PARAM_RTOL, f"epoch {epoch + 1}: parameters differ by {err:.2e}"


def test_clipping_is_a_trainer_override_too():
    spec = _spec("clip_override", {"kind": "sgd", "learning_rate": 0.1, "momentum": 0.9}, epochs=2)
    module = build(spec)
    X, y, Xv, yv = _data(1)
    params = module.init_params(seed=2)
    trainer = module.Trainer(params=params, clip_grad_norm=0.05)
    trainer.fit(X, y, epochs=2, progress=False)
    clipped = dict(spec, optimizer=dict(spec["optimizer"], clip_grad_norm=0.05))
    _, theirs = _torch_run(clipped, params, X, y, Xv, yv, 2)
    assert max(max_rel_err(p, q) for p, q in zip(trainer.params, theirs[-1])) < PARAM_RTOL
    with pytest.raises(ValueError, match="not both"):
        module.Trainer(clip_grad_norm=1.0, clip_grad_value=1.0)
    with pytest.raises(ValueError, match="clip_grad_value"):
        module.Trainer(clip_grad_value=-1.0)


@pytest.mark.parametrize("bad, field", [
    ({"schedule": {"kind": "cosin", "T_max": 3}}, "schedule.kind"),
    ({"schedule": {"kind": "cosine"}}, "schedule.T_max"),
    ({"schedule": {"kind": "step", "step_size": 0}}, "schedule.step_size"),
    ({"schedule": {"kind": "step", "step_size": 2, "gama": 0.5}}, "schedule.gama"),
    ({"schedule": {"kind": "multistep", "milestones": [3, 1]}}, "schedule.milestones"),
    ({"schedule": {"kind": "plateau", "factor": 1.0}}, "schedule.factor"),
    ({"schedule": {"kind": "plateau", "mode": "maximum"}}, "schedule.mode"),
    ({"schedule": {"kind": "one_cycle", "max_lr": [0.1, 0.2, 0.3]}}, "schedule.max_lr"),
    ({"schedule": {"kind": "one_cycle", "max_lr": 0.1}, "optimizer": {"kind": "adagrad"}},
     "schedule.cycle_momentum"),
    ({"optimizer": {"kind": "sgd", "clip_grad_norm": 1.0, "clip_grad_value": 1.0}}, "optimizer.clip_grad_value"),
    ({"optimizer": {"kind": "sgd", "clip_grad_norm": 0.0}}, "optimizer.clip_grad_norm"),
    ({"training": {"min_delta": -1.0}}, "training.min_delta"),
    ({"training": {"restore_best": 1}}, "training.restore_best"),
])
def test_bad_schedule_and_clipping_keys_are_refused(bad, field):
    spec = _spec("refused", {"kind": "sgd", "learning_rate": 0.1}) | bad
    with pytest.raises(SpecError) as err:
        load_spec(spec)
    assert err.value.field == field, str(err.value)


def test_adagrad_one_cycle_without_cycled_momentum_is_accepted():
    spec = _spec("ok", {"kind": "adagrad"}, {"kind": "one_cycle", "max_lr": 0.1, "cycle_momentum": False})
    assert load_spec(spec).schedule.params["cycle_momentum"] is False


def test_the_train_plot_and_the_layer_chart_show_the_scheduled_rates():
    pytest.importorskip("matplotlib")
    from gradgen import charts
    module = build(_spec("sch_cosine_sgd_layer_lr", OPTIMIZERS["sgd"], SCHEDULES["cosine"]))
    X, y, Xv, yv = _data()
    history = module.Trainer().fit(X, y, validation_data=(Xv, yv), progress=False).as_dict()
    data = charts.performance_data(history)
    assert data["learning_rate"] == history["learning_rate"] and len(data["learning_rate"]) == 3
    figure = charts.draw("performance", data)
    lines = {line.get_gid(): line for ax in figure.axes for line in ax.get_lines()}
    for layer in (1, 2):
        assert [float(v) for v in lines[f"performance-learning_rate-{layer}"].get_ydata()] == \
            [r[layer - 1] for r in history["learning_rate"]]
    rates = {"parameters": ["W1", "b1", "W2", "b2"], "grad_norm": [1.0] * 4,
             "learning_rate": [r for r in history["learning_rate"][-1] for _ in "Wb"],
             "learning_rate_start": [r for r in history["learning_rate"][0] for _ in "Wb"]}
    gids = {line.get_gid() for ax in charts.draw("learning_rates", rates).axes for line in ax.get_lines()}
    assert "learning_rates-learning_rate-start" in gids
    # without a schedule: no rate panel, no second polygon
    plain = build(_spec("clip_override", {"kind": "sgd", "learning_rate": 0.1, "momentum": 0.9}, epochs=2))
    flat = charts.performance_data(plain.Trainer().fit(X, y, progress=False).as_dict())
    gids = {line.get_gid() for ax in charts.draw("performance", flat).axes for line in ax.get_lines()}
    assert not any("learning_rate" in g for g in gids)
