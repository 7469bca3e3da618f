"""The gradients the fused epoch computes (what `fit` trains with, on one thread and
on two) against PyTorch autograd in float64, and `gradgen check` failing when only
the fused epoch is wrong (the unfused loss_and_grad kernels still right)."""
import numpy as np
import pytest

import gradgen.gradcheck as gradcheck
from helpers import random_params, random_targets, torch_grads

SPECS = [
    {"name": "fused_tanh_ce", "inputs": 6,
     "layers": [{"units": 9, "activation": "tanh"}, {"units": 4, "activation": "softmax"}],
     "loss": {"kind": "cross_entropy"}},
    {"name": "fused_deep_mse", "inputs": 5,
     "layers": [{"units": 7, "activation": "elu"}, {"units": 8, "activation": "silu"},
                {"units": 3, "activation": "identity"}],
     "loss": {"kind": "mse"}},
    {"name": "fused_relu_bce", "inputs": 4,
     "layers": [{"units": 40, "activation": "relu"}, {"units": 2, "activation": "sigmoid"}],
     "loss": {"kind": "binary_cross_entropy"}},
    {"name": "fused_gelu_huber", "inputs": 3,
     "layers": [{"units": 20, "activation": "gelu"}, {"units": 16, "activation": "softsign"},
                {"units": 2, "activation": "identity"}],
     "loss": {"kind": "huber"}},
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s["name"])
@pytest.mark.parametrize("thread_count", [1, 2])
def test_fused_epoch_gradients_match_torch(spec, thread_count, tmp_path):
    spec = spec | {"optimizer": {"kind": "adam", "learning_rate": 0.01}}   # checked_module makes it SGD
    module = gradcheck.checked_module(spec, tmp_path)
    rng = np.random.default_rng(7)
    params = random_params(spec, rng)
    X = rng.normal(size=(13, spec["inputs"]))
    y = random_targets(spec, 13, rng)
    _, want = torch_grads(params, X, y, spec)
    got = gradcheck.fused_gradients(module, params, X, y, thread_count=thread_count)
    for name, g, w in zip(module.PARAM_NAMES, got, want):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12, err_msg=name)


def _break_the_fused_epoch(monkeypatch, old, new):
    """gradgen check's module with one statement of the fused epoch changed."""
    real = gradcheck.generate

    def generate(data, out_dir):
        path = real(data, out_dir=out_dir)
        text = path.read_text()
        assert text.count(old) == 1, old
        path.write_text(text.replace(old, new))
        return path
    monkeypatch.setattr(gradcheck, "generate", generate)


@pytest.mark.parametrize("old,new,path", [
    ("                d = D1[r, c] * (", "                d = 1.5 * D1[r, c] * (", "(fused epoch)"),
    ("                D1r[r, c] = D1r[r, c] * (", "                D1r[r, c] = 1.5 * D1r[r, c] * (",
     "(fused epoch, 2 threads)")])
def test_check_fails_when_only_the_fused_epoch_is_wrong(monkeypatch, old, new, path):
    spec = SPECS[0] | {"optimizer": {"kind": "sgd", "learning_rate": 0.1}}
    _break_the_fused_epoch(monkeypatch, old, new)
    worst, where, _ = gradcheck.gradient_check(spec)
    assert worst > 0.1 and where.endswith(path), (worst, where)


def test_check_passes_on_a_right_module():
    worst, where, count = gradcheck.gradient_check(SPECS[1] | {"optimizer": {"kind": "sgd"}})
    assert worst < gradcheck.TOLERANCE and count > 100, (worst, where)


def test_check_ignores_the_specs_schedule_clipping_and_dropout():
    """The check's module is plain SGD at rate 1: a schedule (one_cycle would set the
    rate and the momentum) or clipping would make its step not the gradient."""
    spec = SPECS[1] | {"optimizer": {"kind": "sgd", "clip_grad_norm": 1e-3},
                       "schedule": {"kind": "one_cycle", "max_lr": 0.5}}
    spec["layers"] = [dict(spec["layers"][0], dropout=0.5)] + spec["layers"][1:]     # and no dropout
    worst, where, _ = gradcheck.gradient_check(spec)
    assert worst < gradcheck.TOLERANCE, (worst, where)
