"""One training of a sweep, as a Dask worker runs it (or the caller, for a check).

A task is plain data (the module's path and source, its Trainer's overrides, the
fold); the data set comes once per worker (scattered). The module is imported
from its file where the worker shares the caller's disk, so that it loads
Numba's cache compiled before the sweep fanned out; a worker elsewhere writes the
source to a folder of its own and compiles it there once.
"""
import hashlib
import math
import os
import tempfile
import time
from pathlib import Path

_MODULES = {}       # (name, source digest) -> the imported module, once per process


def module_for(name, path, source):
    """The generated module `name`: from `path` when it holds `source`, else from a
    copy in this machine's temporary folder; imported once per process."""
    key = (name, hashlib.sha256(source.encode()).hexdigest())
    if key not in _MODULES:
        from .loader import import_generated
        from .runtime.files import write_atomic
        where = Path(path)
        try:
            same = where.read_text(encoding="utf-8") == source
        except OSError:
            same = False
        if not same:
            where = Path(tempfile.gettempdir()) / f"gradgen-sweep-{key[1][:16]}" / f"{name}.py"
            if not where.exists():
                where.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(where, source)
        _MODULES[key] = import_generated(where)
    return _MODULES[key]


def run_training(task, data):
    """Train one combination on one fold; returns its result row (task["row"] plus
    status, epochs_run, the train and validation loss and score, seconds). A
    training that diverges is a row with status "diverged"; it does not raise.
    Runs on one thread of gradgen's (a sweep runs trainings side by side)."""
    from .runtime import threads
    module = module_for(task["module"], task["path"], task["source"])
    X, y, fold_of = data["X"], data["y"], data["fold_of"]
    val = fold_of == task["fold"]
    X_train, y_train, X_val, y_val = X[~val], y[~val], X[val], y[val]
    overrides = dict(task["overrides"])
    seed = overrides.pop("seed", task["seed"])
    if task.get("epochs") is not None:
        overrides["epochs"] = task["epochs"]
    metric = "r2" if module.TASK == "regression" else "accuracy"
    row = dict(task["row"], status="ok", epochs_run=0, train_loss=None, val_loss=None,
               **{f"train_{metric}": None, f"val_{metric}": None}, seconds=None)
    saved, threads.THREADS = threads.THREADS, 1
    started = time.perf_counter()
    try:
        trainer = module.Trainer(seed=seed, **overrides)
        try:
            history = trainer.fit(X_train, y_train, validation_data=(X_val, y_val), progress=False)
        except module.DivergenceError as err:
            history = trainer.history
            row.update(status="diverged", error=" ".join(str(err).split()))
        row["epochs_run"] = history.epochs_run
        if history.loss:
            row.update(train_loss=_number(history.loss[-1]), val_loss=_number(history.val_loss[-1]))
        if row["status"] == "ok":
            row[f"train_{metric}"] = _number(trainer.score(X_train, y_train))
            row[f"val_{metric}"] = _number(trainer.score(X_val, y_val))
    finally:
        threads.THREADS = saved
    row["seconds"] = time.perf_counter() - started
    row["worker"] = f"{os.uname().nodename}:{os.getpid()}"
    return row


def _number(value):
    value = float(value)
    return value if math.isfinite(value) else None

