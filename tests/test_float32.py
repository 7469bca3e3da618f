"""float32 kernels stay float32: no variable inside a kernel is typed float64,
except the deliberate float64 ones (the loss accumulator and the optimizer's
per-step scalars, which torch also computes in double precision).

Every kernel the public API reaches is compiled and checked: training (fit, with
the spec's optimizer case and, forced by a runtime override, the general update
loop _update_any), loss_and_grad, forward, loss, predict and score. In the
optimizer's kernels the per-step scalars may be double, but nothing computed in
the per-element loop may be: a negative control injects a float64 constant into
that loop of a generated module and checks that the check catches it."""
import importlib.util
import inspect
import pathlib
import sys
import uuid

import numba
import numpy as np
import pytest
from numba.core import ir
from numba.core.registry import CPUDispatcher

from gradgen.runtime import kernels as rt_kernels
from gradgen.runtime import threads as rt_threads
from helpers import build

# the optimizer's per-step scalars in double (named `<name>_`: hyper-parameters read
# from hp, the group learning rate, and what is computed from them once per step),
# plus the operations that compute them (beta ** t, math.sqrt(...), lr / (1 + ...));
# each is cast to DT before the per-element loop, which must have no float64 at all
# (checked separately, by source line: see _wide_in_element_loop)
_STEP_SCALARS = {
    "lr_", "momentum_", "dampening_", "nesterov_", "weight_decay_",          # sgd
    "beta1_", "beta2_", "eps_", "amsgrad_", "bias_correction1_",             # adam
    "bias_correction2_", "step_size_", "reciprocal1_",
    "alpha_", "centered_",                                                  # rmsprop
    "lr_decay_", "clr_",                                                    # adagrad
    "clip_grad_norm_", "clip_grad_value_", "clip_coef_", "grad_norm",       # clipping (grad_norm: ||g||)
    "binop_truediv",                                                        # clip_coef_ = ... / (grad_norm + eps)
    "binop_pow", "binop_add", "binop_sub", "binop_mul", "call",             # their arithmetic
}
# variables allowed to be float64 in a float32 module, by kernel
ALLOWED = {
    # the batch loss accumulates in double: total_loss += term; return total_loss / count
    # (unpack_sequence: total_loss, hits = 0.0, 0)
    "_loss_delta": {"total_loss", "binop_iadd", "binop_truediv", "return_value", "unpack_sequence",
                    # a weighted row: its weight (float64, as given), weight * value into total_loss
                    "weight", "wsum", "phi", "binary_subscr", "binop_mul", "binop_add", "cast"},
    # _loss_only returns _loss_delta's double: `value = _loss_delta(...)`, or directly
    # (the call's result) in the version that returned the loss alone
    # (unpack_sequence: the loss taken from _loss_delta's (loss, hits) tuple)
    "_loss_only": {"value", "call", "return_value", "unpack_sequence"},
    "_loss_and_grad": {"value", "unpack_sequence", "return_value", "call"},   # call: _penalty<l>'s double
    "_update": _STEP_SCALARS, "_update_any": _STEP_SCALARS,
    "_epoch": {"batch_loss", "unpack_sequence",     # from _loss_delta, stored in the float64 losses
               "wsum",                                   # the batch's total weight, summed in double
               # ||g|| for clip_grad_norm, in double from _grad_sumsq, tested on the float64 hypers
               "grad_norm", "call", "binary_subscr",
               "penalty", "binop_iadd", "binop_add"},     # the weight penalties' value, summed in double
    # ||g||**2 accumulates in double, as the batch loss does
    "_grad_sumsq": {"total", "binop_iadd", "return_value"},
    # each thread's share of the batch loss (part, from _loss_delta) and its hits go
    # through the float64 `shared` array; batch_loss and batch_hits are their sums
    # over the threads, stored in the float64 losses and the int64 correct
    "_epoch_threads": {"batch_loss", "batch_hits", "part", "unpack_sequence", "binary_subscr",
                       "binop_iadd", "grad_norm", "total", "call", "penalty", "wsum"},
}
PENALTY_SUM = {"total", "binop_iadd", "return_value"}
# the optimizer kernels: no float64 at or after the per-element loop's `for` line
_ELEMENT_LOOP_KERNELS = ("_update", "_update_any")


def _spec(act, loss, out, optimizer):
    return {"name": f"f32_{act}_{loss}_{optimizer}", "inputs": 5, "dtype": "float32",
            "layers": [{"units": 6, "activation": act}, {"units": 3, "activation": out}],
            "loss": {"kind": loss}, "optimizer": {"kind": optimizer, "momentum": 0.9}
            if optimizer in ("sgd", "rmsprop") else {"kind": optimizer}}


SPECS = [
    _spec("tanh", "cross_entropy", "softmax", "sgd"),
    _spec("relu", "binary_cross_entropy", "sigmoid", "adam"),
    _spec("sigmoid", "mse", "softmax", "rmsprop"),
    _spec("tanh", "mse", "identity", "adagrad"),
    _spec("relu", "cross_entropy", "softmax", "adam") | {"name": "f32_penalised",
                                                         "regularization": {"l1": 0.01, "l2": 0.02}},
    _spec("tanh", "mse", "identity", "sgd") | {"name": "f32_dropout", "layers": [
        {"units": 6, "activation": "tanh", "dropout": 0.25}, {"units": 3, "activation": "identity"}]},
]


def _data(spec):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(7, 5))
    y = rng.integers(0, 3, size=7) if spec["loss"]["kind"] == "cross_entropy" else \
        rng.integers(0, 2, size=(7, 3)).astype(float)
    return X, y


def _exercise(module, spec):
    """Run every public entry point, so that each kernel behind it compiles."""
    X, y = _data(spec)
    trainer = module.Trainer(seed=0)
    trainer.fit(X, y, epochs=2, batch_size=3, progress=False)       # _update: the spec's case
    # weight_decay != 0 is outside every optimizer's spec case: _epoch steps with _update_any
    general = module.Trainer(seed=0, weight_decay=0.01)
    assert not module._spec_case(general._hyper_vector()), "the override must force _update_any"
    general.fit(X, y, epochs=2, batch_size=3, progress=False)
    # and on two threads, each with a block of the rows (_epoch_threads)
    threaded = module.Trainer(seed=0)
    settings = rt_threads.PARALLEL_MACS, rt_threads.THREADS
    rt_threads.PARALLEL_MACS, rt_threads.THREADS = 0, 2
    try:
        threaded.fit(X, y, epochs=2, batch_size=4, progress=False)
    finally:
        rt_threads.PARALLEL_MACS, rt_threads.THREADS = settings
    # weighted: the weights (float64, as given) scale the loss in double and D in DT
    module.Trainer(seed=0).fit(X, y, epochs=1, batch_size=4, sample_weight=np.linspace(0.5, 1.5, len(X)),
                               progress=False)
    module.loss_and_grad(trainer.params, X, y)
    module.forward(trainer.params, X)                                # _predict, _act_*
    module.loss(trainer.params, X, y)                                # _loss_only
    trainer.predict(X)
    trainer.score(X, y)
    for t in (trainer, general, threaded):
        assert all(p.dtype == np.float32 for p in t.params)


def _wide_in_element_loop(kernel, cres):
    """(line, variable) of every float64 value computed at or after the line of the
    kernel's per-element loop (`for i in range(ranges[group_range, 0], ...)`)."""
    lines, start = inspect.getsourcelines(kernel.py_func)
    loop = [start + i for i, text in enumerate(lines) if "for i in range(ranges[group_range, 0]" in text]
    assert len(loop) == 1, f"{kernel.__name__}: cannot find its per-element loop"
    out = []
    annotation = cres.type_annotation
    for block in annotation.blocks.values():
        for stmt in block.body:
            if (isinstance(stmt, ir.Assign) and stmt.loc.line >= loop[0]
                    and not stmt.target.name.startswith("$const")
                    and str(annotation.typemap.get(stmt.target.name)) == "float64"):
                out.append((stmt.loc.line, stmt.target.name))
    return out


def _violations(module):
    """({kernel: problems}, {kernel: compiled versions}) over the module's kernels and
    the runtime's kernels it calls (their float32 versions: other tests in this process
    may have compiled float64 ones)."""
    problems, compiled = {}, {}
    kernels = [(name, getattr(module, name)) for name in dir(module)] + [("gather", rt_kernels.gather)]
    for name, kernel in kernels:
        if not isinstance(kernel, CPUDispatcher):
            continue
        # a layer's weight penalty (_penalty<l>) sums its value in double, as the batch loss
        allowed = ALLOWED.get(name, PENALTY_SUM if name.startswith("_penalty") else set())
        versions = list(kernel.overloads.values())
        if kernel.py_func.__module__ == rt_kernels.__name__:
            # the runtime's kernels load from Numba's cache, which keeps no typing: their
            # float32 versions compiled afresh, uncached, to be read
            sigs = [sig for sig in kernel.overloads
                    if not any(getattr(a, "dtype", None) == numba.float64 for a in sig)]
            options = {k: v for k, v in kernel.targetoptions.items() if k != "nopython"}
            fresh = numba.njit(**dict(options, cache=False))(kernel.py_func)
            for sig in sigs:
                fresh.compile(sig)
            versions = [fresh.overloads[sig] for sig in sigs]
        compiled[name] = len(versions)
        for cres in versions:
            typemap = cres.type_annotation.typemap
            # named variables and the results of operations ($binop..., $call...);
            # literal constants ($const) are exempt: DT(0.5) reads a double literal
            wide = {var.split(".")[0].lstrip("$").strip("0123456789") for var, typ in typemap.items()
                    if str(typ) == "float64" and not var.startswith("$const")
                    and not var.startswith("arg.")}
            if not wide <= allowed:
                problems.setdefault(name, []).append(f"float64 variables {sorted(wide - allowed)}")
            if name in _ELEMENT_LOOP_KERNELS:
                inner = _wide_in_element_loop(kernel, cres)
                if inner:
                    problems.setdefault(name, []).append(f"float64 in the element loop: {inner}")
    return problems, compiled


def _required(spec):
    """The kernels _exercise must have compiled: both optimizer loops, the forward,
    backward and loss kernels, and each layer's activation."""
    acts = [layer["activation"] for layer in spec["layers"]]
    # a spec with dropout trains on one thread: no _epoch_threads (nor its barrier and colsum)
    threaded = set() if any(layer.get("dropout") for layer in spec["layers"]) else {
        "_epoch_threads", "colsum", "barrier"}
    return ({"_update", "_update_any", "_epoch", "_predict", "_loss_only",
             "_loss_and_grad", "_loss_delta", "_forward", "_backward", "gather"} | threaded
            | {f"_act_{a}" for a in acts} | {f"_dact_{a}" for a in acts[:-1]})


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s["name"])
def test_no_float64_inside_float32_kernels(spec):
    module = build(spec)
    _exercise(module, spec)
    problems, compiled = _violations(module)
    assert not problems, problems
    missing = sorted(name for name in _required(spec) if not compiled.get(name))
    assert not missing, f"kernels never compiled, so never checked: {missing} (compiled: {compiled})"
    # nor any other kernel of the module, but the output layer's derivative, which the
    # loss's delta may fold in (sigmoid + binary cross-entropy: a - y)
    unused = {f"_dact_{spec['layers'][-1]['activation']}"}
    if any(layer.get("dropout") for layer in spec["layers"]):
        unused |= {"barrier", "colsum"}        # imported for _epoch_threads, which dropout has none of
    uncompiled = sorted(name for name, n in compiled.items() if not n and name not in unused)
    assert not uncompiled, f"kernels never compiled, so never checked: {uncompiled}"
    assert compiled["_epoch"] >= 2            # the spec's case and the general loop
    assert sum(compiled.values()) >= 8


def _import_copy(path, source):
    name = f"gg_mutant_{uuid.uuid4().hex}"
    target = pathlib.Path(path)
    target.write_text(source, encoding="utf-8")
    mspec = importlib.util.spec_from_file_location(name, target)
    module = importlib.util.module_from_spec(mspec)
    sys.modules[name] = module
    mspec.loader.exec_module(module)
    return module


def test_check_catches_a_float64_constant_in_the_element_loop(tmp_path):
    """Negative control: the generated module with a bare (float64) constant in the
    optimizer's per-element loop (adagrad, whose step scalars use binop_mul: only the
    by-line rule sees it there) fails the check; the unmodified module passes."""
    spec = SPECS[3]
    original = pathlib.Path(build(spec).__file__).read_text(encoding="utf-8")
    store = "            grads[i] = p\n"
    assert original.count(store) == 2, "the optimizer loops' store of p moved: update this control"
    clean = _import_copy(tmp_path / "clean.py", original)
    mutant = _import_copy(tmp_path / "mutant.py", original.replace(store, "            grads[i] = p * 0.5\n"))
    _exercise(clean, spec)
    assert not _violations(clean)[0]
    _exercise(mutant, spec)
    problems, _ = _violations(mutant)
    assert set(problems) >= {"_update", "_update_any"}, problems
    assert all("element loop" in " ".join(problems[k]) for k in ("_update", "_update_any")), problems
