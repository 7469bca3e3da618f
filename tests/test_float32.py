"""float32 kernels stay float32: no variable inside a kernel is typed float64,
except the deliberate float64 ones (the loss accumulator and the optimizer's
per-step scalars, which torch also computes in double precision)."""
import numpy as np
import pytest
from numba.core.registry import CPUDispatcher

from helpers import build

# variables allowed to be float64 in a float32 module, by kernel
ALLOWED = {
    # the batch loss accumulates in double: total_loss += term; return total_loss / count
    "_loss_delta": {"total_loss", "binop_iadd", "binop_truediv", "return_value"},
    "_loss_only": {"return_value"}, "_loss_and_grad": {"value"},
    "_update": "*",          # per-step scalars in double, cast to DT for the element loop
    "_epoch": {"batch_loss", "binary_subscr"},   # lrs[l]: the group's rate, passed to _update
}


def _spec(act, loss, out, optimizer):
    return {"name": f"f32_{act}_{loss}_{optimizer}", "inputs": 5, "dtype": "float32",
            "layers": [{"units": 6, "activation": act}, {"units": 3, "activation": out}],
            "loss": {"kind": loss}, "optimizer": {"kind": optimizer, "momentum": 0.9}
            if optimizer in ("sgd", "rmsprop") else {"kind": optimizer}}


@pytest.mark.parametrize("spec", [
    _spec("tanh", "cross_entropy", "softmax", "sgd"),
    _spec("relu", "binary_cross_entropy", "sigmoid", "adam"),
    _spec("sigmoid", "mse", "softmax", "rmsprop"),
    _spec("tanh", "mse", "identity", "adagrad"),
], ids=lambda s: s["name"])
def test_no_float64_inside_float32_kernels(spec):
    module = build(spec)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(7, 5))
    y = rng.integers(0, 3, size=7) if spec["loss"]["kind"] == "cross_entropy" else \
        rng.integers(0, 2, size=(7, 3)).astype(float)
    trainer = module.Trainer(seed=0)
    trainer.fit(X, y, epochs=2, batch_size=3, progress=False)
    module.loss_and_grad(trainer.params, X, y)
    assert all(p.dtype == np.float32 for p in trainer.params)
    checked = 0
    for name in dir(module):
        kernel = getattr(module, name)
        if not isinstance(kernel, CPUDispatcher):
            continue
        allowed = ALLOWED.get(name, set())
        for cres in kernel.overloads.values():
            typemap = cres.type_annotation.typemap
            # named variables and the results of operations ($binop..., $call...);
            # literal constants ($const) are exempt: DT(0.5) reads a double literal
            wide = {var.split(".")[0].lstrip("$").strip("0123456789") for var, typ in typemap.items()
                    if str(typ) == "float64" and not var.startswith("$const")
                    and not var.startswith("arg.")}
            if allowed != "*":
                assert wide <= allowed, f"{name}: float64 variables {sorted(wide - allowed)}"
            checked += 1
    assert checked >= 8
