"""Sample and class weights against torch: the data term is sum_n w_n l_n / sum_n w_n
(torch: reduction="none", then that weighted mean; CrossEntropyLoss(weight=c) for class
weights alone), for every loss and head, float32 and float64, one step and 30-step
trajectories, on one thread and two; the refusals; and integer weights equal to
repeated rows for a deterministic, unshuffled, full-batch fit (the equivalence
scikit-learn's check_sample_weight_equivalence expects)."""
import os
import sys

import numpy as np
import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from helpers import _t, _torch_forward, build, make_torch_optimizer, max_rel_err, random_targets  # noqa: E402

from derive import SpecError, load_spec  # noqa: E402
from gradgen.runtime import threads as rt_threads  # noqa: E402

N, BATCH = 30, 6
F = torch.nn.functional


def _spec(name, acts, units, loss, dtype="float64", class_weight=None, optimizer=None):
    spec = {"name": name, "inputs": 4, "dtype": dtype,
            "layers": [{"units": u, "activation": a} for u, a in zip(units, acts)],
            "loss": ({"formula": "(yhat - y)**2"} if loss == "formula" else {"kind": loss})
            | ({"class_weight": class_weight} if class_weight is not None else {}),
            "optimizer": optimizer or {"kind": "sgd", "learning_rate": 0.1, "momentum": 0.9},
            "training": {"batch_size": BATCH, "epochs": 5, "shuffle": False}}
    return spec


HEADS = {
    "multiclass": (["tanh", "softmax"], [6, 3], "cross_entropy"),
    "binary": (["relu", "sigmoid"], [6, 1], "binary_cross_entropy"),
    "multilabel": (["tanh", "sigmoid"], [6, 3], "binary_cross_entropy"),
    "mse": (["sigmoid", "identity"], [6, 2], "mse"),
    "mae": (["tanh", "identity"], [6, 2], "mae"),
    "huber": (["relu", "identity"], [6, 1], "huber"),
    "formula": (["tanh", "identity"], [6, 2], "formula"),      # (yhat - y)**2: torch's mse per element
}


def _per_row(Z, A, y, spec):
    """torch's loss of each row: reduction="none", then a row's mean over its outputs
    (its sum for cross_entropy, whose terms are per row already)."""
    kind = spec["loss"].get("kind", "mse")          # the formula loss is mse's term
    y = np.asarray(y)
    if kind == "cross_entropy":
        return F.cross_entropy(Z, torch.tensor(y.astype(np.int64)), reduction="none")
    Y = _t(y).reshape(Z.shape)
    elementwise = {"binary_cross_entropy": lambda: F.binary_cross_entropy_with_logits(Z, Y, reduction="none"),
                   "mse": lambda: F.mse_loss(A, Y, reduction="none"), "mae": lambda: F.l1_loss(A, Y, reduction="none"),
                   "huber": lambda: F.huber_loss(A, Y, reduction="none", delta=1.0)}[kind]()
    return elementwise.mean(dim=1)


def _torch_weighted(tparams, X, y, w, spec):
    Z, A = _torch_forward(tparams, _t(X), spec)
    w = _t(w)
    return (_per_row(Z, A, y, spec) * w).sum() / w.sum()


def _data(spec, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, 4))
    y = random_targets(spec, N, rng)
    w = rng.uniform(0.0, 3.0, N)
    w[[2, 7]] = 0.0                             # zero weights are allowed
    return X, y, w


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("head", sorted(HEADS))
def test_one_weighted_step_is_torch(head, dtype):
    acts, units, loss = HEADS[head]
    spec = _spec(f"sw_{head}_{dtype[-2:]}", acts, units, loss, dtype,
                 optimizer={"kind": "sgd", "learning_rate": 1.0})
    module = build(spec)
    X, y, w = _data(spec)
    params = [p.astype(np.float64) for p in module.init_params(seed=4)]
    tparams = [_t(p, requires_grad=True) for p in params]
    want = _torch_weighted(tparams, X, y, w, spec)
    grads = torch.autograd.grad(want, tparams)
    trainer = module.Trainer(params=params)
    got = trainer.step(X, y, sample_weight=w)
    tol = 1e-12 if dtype == "float64" else 2e-5
    assert abs(got - float(want.detach())) <= tol * abs(float(want.detach()))
    for name, p, q, g in zip(module.PARAM_NAMES, params, trainer.params, grads):
        assert max_rel_err(p - q.astype(np.float64), g.numpy()) < (1e-10 if dtype == "float64" else 1e-3), name


def _torch_trajectory(spec, params, X, y, w, epochs):
    """(the parameters after `epochs` epochs, each epoch's loss: its batches' weighted
    losses, each counted by the batch's total weight)."""
    tparams = [_t(p, requires_grad=True) for p in params]
    opt = make_torch_optimizer(tparams, spec)
    epoch_losses = []
    for _ in range(epochs):
        total = 0.0
        for lo in range(0, N, BATCH):
            opt.zero_grad(set_to_none=True)
            loss = _torch_weighted(tparams, X[lo:lo + BATCH], y[lo:lo + BATCH], w[lo:lo + BATCH], spec)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * w[lo:lo + BATCH].sum()
        epoch_losses.append(total / w.sum())
    return [p.detach().numpy() for p in tparams], epoch_losses


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("head, optimizer", [("multiclass", {"kind": "adam", "learning_rate": 0.01}),
                                             ("binary", {"kind": "adagrad", "learning_rate": 0.05}),
                                             ("multilabel", {"kind": "rmsprop", "learning_rate": 0.01}),
                                             ("mse", {"kind": "adamw", "learning_rate": 0.01}),
                                             ("mae", {"kind": "sgd", "learning_rate": 0.05, "nesterov": True,
                                                      "momentum": 0.5}),
                                             ("huber", {"kind": "sgd", "learning_rate": 0.1, "momentum": 0.9}),
                                             ("formula", {"kind": "adam", "learning_rate": 0.02})])
def test_weighted_fit_follows_torch_for_30_steps(head, optimizer, threads, monkeypatch):
    acts, units, loss = HEADS[head]
    spec = _spec(f"swt_{head}", acts, units, loss, optimizer=optimizer)
    module = build(spec)
    X, y, w = _data(spec, seed=1)
    params = module.init_params(seed=2)
    monkeypatch.setattr(rt_threads, "PARALLEL_MACS", 0)
    monkeypatch.setattr(rt_threads, "THREADS", threads)
    assert rt_threads.thread_count(BATCH, params) == threads
    trainer = module.Trainer(params=params)
    history = trainer.fit(X, y, epochs=6, sample_weight=w, progress=False)
    theirs, epoch_losses = _torch_trajectory(spec, params, X, y, w, 6)
    assert max(max_rel_err(a, b) for a, b in zip(trainer.params, theirs)) < 1e-9
    # History.loss: the epoch's batch losses, each counted by its batch's total weight
    np.testing.assert_allclose(history.loss, epoch_losses, rtol=1e-10)


@pytest.mark.parametrize("class_weight", [[0.2, 1.0, 3.0], "balanced"])
def test_class_weights_alone_are_cross_entropy_with_weight(class_weight):
    acts, units, loss = HEADS["multiclass"]
    spec = _spec("cw_" + ("list" if isinstance(class_weight, list) else "balanced"), acts, units, loss,
                 class_weight=class_weight, optimizer={"kind": "sgd", "learning_rate": 1.0})
    module = build(spec)
    X, y, _ = _data(spec)
    if class_weight == "balanced":
        from sklearn.utils.class_weight import compute_class_weight
        c = compute_class_weight("balanced", classes=np.arange(3), y=y)
    else:
        c = np.array(class_weight)
    params = module.init_params(seed=4)
    tparams = [_t(p, requires_grad=True) for p in params]
    Z, _ = _torch_forward(tparams, _t(X), spec)
    want = F.cross_entropy(Z, torch.tensor(y.astype(np.int64)), weight=_t(c))
    grads = torch.autograd.grad(want, tparams)
    trainer = module.Trainer(params=params)
    assert abs(trainer.step(X, y) - float(want.detach())) < 1e-12
    for p, q, g in zip(params, trainer.params, grads):
        assert max_rel_err(p - q, g.numpy()) < 1e-10
    # with sample weights too: w_n = s_n c_{y_n}
    s = np.linspace(0.5, 2.0, N)
    both = module.Trainer(params=params)
    tp2 = [_t(p, requires_grad=True) for p in params]
    Z2, _ = _torch_forward(tp2, _t(X), spec)
    rows = F.cross_entropy(Z2, torch.tensor(y.astype(np.int64)), reduction="none") * _t(s * c[y])
    assert abs(both.step(X, y, sample_weight=s) - float((rows.sum() / float((s * c[y]).sum())).detach())) < 1e-12


def test_binary_class_weights_on_one_unit():
    acts, units, loss = HEADS["binary"]
    spec = _spec("cw_binary", acts, units, loss, class_weight=[3.0, 0.5],
                 optimizer={"kind": "sgd", "learning_rate": 1.0})
    module = build(spec)
    X, y, _ = _data(spec)
    params = module.init_params(seed=4)
    tparams = [_t(p, requires_grad=True) for p in params]
    w = np.where(np.asarray(y).reshape(-1) > 0.5, 0.5, 3.0)
    want = _torch_weighted(tparams, X, y, w, spec)
    assert abs(module.Trainer(params=params).step(X, y) - float(want.detach())) < 1e-12


def test_integer_weights_are_repeated_rows_on_one_unshuffled_batch():
    acts, units, loss = HEADS["multiclass"]
    spec = _spec("sw_repeat", acts, units, loss, optimizer={"kind": "adam", "learning_rate": 0.01})
    module = build(spec)
    X, y, _ = _data(spec)
    counts = np.random.default_rng(5).integers(0, 4, N)
    counts[0] = 2
    params = module.init_params(seed=1)
    weighted = module.Trainer(params=params)
    weighted.fit(X, y, epochs=10, batch_size=N, shuffle=False, sample_weight=counts, progress=False)
    repeated = module.Trainer(params=params)
    rows = np.repeat(np.arange(N), counts)
    repeated.fit(X[rows], y[rows], epochs=10, batch_size=len(rows), shuffle=False, progress=False)
    for a, b in zip(weighted.params, repeated.params):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
    # and the Estimator's fit, as scikit-learn's check does it
    est = module.Estimator(batch_size=N, shuffle=False, epochs=10).fit(X, y, sample_weight=counts)
    rep = module.Estimator(batch_size=len(rows), shuffle=False, epochs=10).fit(X[rows], y[rows])
    np.testing.assert_allclose(est.predict_proba(X), rep.predict_proba(X), rtol=1e-9, atol=1e-12)


def test_unit_weights_change_nothing():
    acts, units, loss = HEADS["mse"]
    module = build(_spec("sw_ones", acts, units, loss))
    X, y, _ = _data(_spec("x", acts, units, loss))
    a, b = module.Trainer(seed=3), module.Trainer(seed=3)
    a.fit(X, y, progress=False)
    b.fit(X, y, sample_weight=np.ones(N), progress=False)
    for p, q in zip(a.params, b.params):
        assert np.array_equal(p, q)


@pytest.mark.parametrize("bad, message", [
    (lambda w: -w, ">= 0"), (lambda w: np.where(np.arange(N) == 3, np.nan, w), "NaN"),
    (lambda w: w[:-1], "shape"), (lambda w: np.zeros(N), "zero"), (lambda w: ["a"] * N, "numbers"),
])
def test_bad_sample_weights_are_refused_before_training(bad, message):
    acts, units, loss = HEADS["multiclass"]
    spec = _spec("sw_bad", acts, units, loss)
    module = build(spec)
    X, y, w = _data(spec)
    trainer = module.Trainer(seed=1)
    before = [p.copy() for p in trainer.params]
    for call in (lambda: trainer.fit(X, y, sample_weight=bad(w), progress=False),
                 lambda: trainer.step(X, y, sample_weight=bad(w))):
        with pytest.raises(ValueError, match=message):
            call()
    assert trainer.t == 0 and all(np.array_equal(p, q) for p, q in zip(trainer.params, before))


@pytest.mark.parametrize("loss, units, class_weight, field", [
    ("cross_entropy", 3, [1.0, 2.0], "loss.class_weight"),
    ("cross_entropy", 3, [1.0, -2.0, 1.0], "loss.class_weight[1]"),
    ("cross_entropy", 3, [0.0, 0.0, 0.0], "loss.class_weight"),
    ("cross_entropy", 3, "balance", "loss.class_weight"),
    ("mse", 2, [1.0, 1.0], "loss.class_weight"),
    ("binary_cross_entropy", 3, [1.0, 1.0], "loss.class_weight"),
])
def test_bad_class_weights_are_refused(loss, units, class_weight, field):
    out = {"cross_entropy": "softmax", "mse": "identity", "binary_cross_entropy": "sigmoid"}[loss]
    spec = _spec("cw_bad", ["tanh", out], [4, units], loss, class_weight=class_weight)
    with pytest.raises(SpecError) as err:
        load_spec(spec)
    assert err.value.field == field, str(err.value)


def test_estimator_class_weight_dict_and_balanced():
    acts, units, loss = HEADS["multiclass"]
    module = build(_spec("cw_est", acts, units, loss))
    X, y, _ = _data(_spec("x", acts, units, loss))
    labels = np.array(["a", "b", "c"])[y]
    kw = dict(shuffle=False, epochs=3)
    by_dict = module.Estimator(class_weight={"a": 2.0, "c": 0.5}, **kw).fit(X, labels)
    by_rows = module.Estimator(**kw).fit(X, labels, sample_weight=np.array([2.0, 1.0, 0.5])[y])
    for p, q in zip(by_dict.trainer_.params, by_rows.trainer_.params):
        assert np.array_equal(p, q)
    from sklearn.utils.class_weight import compute_class_weight
    c = compute_class_weight("balanced", classes=np.unique(labels), y=labels)
    balanced = module.Estimator(class_weight="balanced", **kw).fit(X, labels)
    by_c = module.Estimator(**kw).fit(X, labels, sample_weight=c[y])
    for p, q in zip(balanced.trainer_.params, by_c.trainer_.params):
        assert np.array_equal(p, q)
    with pytest.raises(ValueError, match="not in y"):
        module.Estimator(class_weight={"z": 1.0}).fit(X, labels)
