"""The fast paths of the generated training code compute what the plain ones do.

- the optimizer loop specialised to the spec's case (_update, via _epoch) and the
  general loop (_update_any, which _epoch takes for runtime overrides) give
  bit-identical trajectories;
- a shuffled epoch (rows gathered chunk by chunk) equals the same rows permuted
  beforehand and read in place; an epoch with a smaller last batch equals the
  same batches one Trainer.step at a time;
- a step that makes a parameter non-finite leaves exactly the parameters of the
  last finite step, whichever of the two parameter buffers held them;
- the small-product loops, in both of their orders ("wide" and "narrow"), on one
  thread and on two, train as torch.optim does.
"""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gradgen.runtime import threads as rt_threads  # noqa: E402
from gradgen.runtime import trainer as rt_trainer  # noqa: E402
from helpers import build, torch_trajectory  # noqa: E402


# ---------------------------------------------------------------------------
# generated modules
# ---------------------------------------------------------------------------

def _spec(name, optimizer, dtype="float64", act="tanh", units=(7, 3)):
    return {"name": name, "inputs": 5, "dtype": dtype,
            "layers": [{"units": units[0], "activation": act},
                       {"units": units[1], "activation": "softmax"}],
            "loss": {"kind": "cross_entropy"}, "optimizer": optimizer}


def _data(n=53, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 5)), rng.integers(0, 3, size=n)


SPEC_CASES = [   # (the spec's optimizer, other settings that take the general loop)
    ({"kind": "sgd", "learning_rate": 0.05, "momentum": 0.9},
     {"kind": "sgd", "learning_rate": 0.05, "weight_decay": 0.01, "nesterov": False}),
    ({"kind": "adam", "learning_rate": 0.01},
     {"kind": "adam", "learning_rate": 0.01, "amsgrad": True}),
    ({"kind": "adamw", "learning_rate": 0.01, "weight_decay": 0.0},
     {"kind": "adamw", "learning_rate": 0.01}),
    ({"kind": "rmsprop", "learning_rate": 0.01, "momentum": 0.5, "centered": True},
     {"kind": "rmsprop", "learning_rate": 0.01}),
    ({"kind": "adagrad", "learning_rate": 0.05},
     {"kind": "adagrad", "learning_rate": 0.05, "weight_decay": 0.1}),
]


@pytest.mark.parametrize("own,other", SPEC_CASES, ids=[c[0]["kind"] for c in SPEC_CASES])
def test_specialised_and_general_update_agree_bit_for_bit(own, other):
    """The same hyper-parameters through the spec's specialised loop (module A, its own
    values) and through the general loop (module B, whose spec has other values,
    overridden at run time to A's) give identical parameters and losses."""
    a = build(_spec(f"spec_{own['kind']}", own))
    b = build(_spec(f"gen_{own['kind']}", other))
    settings = dict(a.HYPERPARAMETERS)       # all of A's, defaults included
    hp_a = a.Trainer(seed=1)._hyper_vector()
    trainer_b = b.Trainer(seed=1, **settings)
    hp_b = trainer_b._hyper_vector()
    np.testing.assert_array_equal(hp_a, hp_b)
    assert a._spec_case(hp_a) and not b._spec_case(hp_b)
    X, y = _data()
    trainer_a = a.Trainer(seed=1)
    ha = trainer_a.fit(X, y, epochs=3, batch_size=8, shuffle=False, progress=False)
    hb = trainer_b.fit(X, y, epochs=3, batch_size=8, shuffle=False, progress=False)
    assert ha.loss == hb.loss
    for p, q in zip(trainer_a.params, trainer_b.params):
        np.testing.assert_array_equal(p, q)
    for name in a.STATE_NAMES:
        for s, r in zip(trainer_a.state[name], trainer_b.state[name]):
            np.testing.assert_array_equal(s, r)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_shuffled_epochs_equal_permuted_rows_read_in_place(dtype, monkeypatch):
    module = build(_spec(f"shuffle_{dtype}", {"kind": "adam", "learning_rate": 0.01}, dtype))
    monkeypatch.setattr(rt_trainer, "GATHER_BYTES", 200)     # several gathered chunks per epoch
    X, y = _data(n=61)
    shuffled = module.Trainer(seed=3)
    h1 = shuffled.fit(X, y, epochs=3, batch_size=4, shuffle=True, progress=False)
    in_place = module.Trainer(seed=3)
    rng = np.random.default_rng(3)         # the trainer's shuffling generator
    losses = []
    for _ in range(3):
        order = rng.permutation(len(X))
        losses += in_place.fit(X[order], y[order], epochs=1, batch_size=4, shuffle=False,
                               progress=False).loss
    assert h1.loss == losses
    for p, q in zip(shuffled.params, in_place.params):
        np.testing.assert_array_equal(p, q)


def test_epoch_with_smaller_last_batch_equals_steps():
    module = build(_spec("steps_f64", {"kind": "sgd", "learning_rate": 0.1, "momentum": 0.9}))
    X, y = _data(n=29)
    fitted = module.Trainer(seed=0)
    history = fitted.fit(X, y, epochs=2, batch_size=8, shuffle=False, progress=False)
    stepped = module.Trainer(seed=0)
    for epoch in range(2):
        batch_losses = [stepped.step(X[s:s + 8], y[s:s + 8]) for s in range(0, 29, 8)]
        sizes = [8, 8, 8, 5]
        assert history.loss[epoch] == pytest.approx(np.dot(batch_losses, sizes) / 29, rel=1e-15)
    assert fitted.t == stepped.t == 8
    for p, q in zip(fitted.params, stepped.params):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("lr,scale,good,status", [
    (1e100, 1.0, 2, "the loss became nan"), (1e200, 1.0, 1, "the loss became nan"),
    (1e307, 1e3, 0, "made the parameters non-finite")])
def test_divergence_keeps_the_last_finite_parameters(lr, scale, good, status):
    """Training that diverges stops with the parameters of the last finite step, after
    an even or an odd number of finite steps (the live parameters in either of the
    kernel's two buffers), whether the loss or a parameter became non-finite."""
    module = build(_spec("diverge_f64", {"kind": "sgd", "learning_rate": 0.1}, act="relu"))
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 5)) * scale, rng.integers(0, 3, size=40)
    trainer = module.Trainer(seed=0, learning_rate=lr)
    with pytest.raises(FloatingPointError, match=status):
        trainer.fit(X, y, epochs=3, batch_size=4, shuffle=False, progress=False)
    assert trainer.t == good
    reference = module.Trainer(seed=0, learning_rate=lr)
    for s in range(good):
        reference.step(X[4 * s:4 * s + 4], y[4 * s:4 * s + 4])
    for p, q in zip(trainer.params, reference.params):
        assert np.all(np.isfinite(p))
        np.testing.assert_array_equal(p, q)


NARROW = {"name": "small_products_f64", "inputs": 5, "dtype": "float64",
          "layers": [{"units": 7, "activation": "tanh"}, {"units": 2, "activation": "identity"}],
          "loss": {"kind": "mse"}, "optimizer": {"kind": "sgd", "learning_rate": 0.05, "momentum": 0.9},
          "training": {"batch_size": 8}}


@pytest.mark.parametrize("threads", [1, 2])
def test_small_product_loops_train_as_torch(threads, monkeypatch):
    """5 -> 7 tanh -> 2 identity in batches of 8: every product runs as loops, layer
    1's with the output's columns innermost ("wide"), layer 2's (2 units, 7 inputs)
    with the inputs innermost ("narrow"). Two epochs of 45 rows (a last batch of 5),
    on one thread and on two (their gradients' row blocks), equal torch.optim.SGD's
    twelve steps."""
    module = build(NARROW)
    source = open(module.__file__).read()
    assert "gW2[q, c] += A1[r, q] * v" in source and "gW1[q, c] += v * D1[r, c]" in source
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(45, 5)), rng.normal(size=(45, 2))
    params = [rng.normal(scale=0.5, size=p.shape) for p in module.init_params()]
    monkeypatch.setattr(rt_threads, "PARALLEL_MACS", 0)
    monkeypatch.setattr(rt_threads, "THREADS", threads)
    trainer = module.Trainer(params=[p.copy() for p in params])
    trainer.fit(X, Y, epochs=2, batch_size=8, shuffle=False, progress=False)
    batches = [(X[s:s + 8], Y[s:s + 8]) for s in range(0, 45, 8)]
    _, expected = torch_trajectory(params, batches, NARROW, steps=12)
    for got, want in zip(trainer.params, expected):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-13)
