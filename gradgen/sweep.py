"""Sweeps: many trainings of one spec's variations on a Dask distributed cluster.

    from gradgen.sweep import sweep
    rows = sweep("examples/digits.toml", {"optimizer.learning_rate": [0.01, 0.1],
                                          "layers.1.units": [16, 32]}, folds=3)

runs every combination of the settings on every fold: on a local cluster that
this call starts (one worker process per core, listening on 127.0.0.1 only) and
stops, on the cluster at `scheduler`, or through a Dask `Client` given. Each
distinct module is generated and compiled here first (the workers then load
Numba's cache), the data go to every worker once, and each result is written to
out_dir as it arrives; an interrupted sweep, run again, trains only what is
missing. sweep_grid, sweep_task and sweep_output hold the parts.
"""
import os
import sys
from pathlib import Path

import numpy as np

from derive.spec import load_spec

from .data import DataError, load_data
from .sweep_grid import SweepError, combinations, digest, folds as fold_numbers
from .sweep_output import best, page, read_rows, toml, write_results
from .sweep_task import module_for, run_training

__all__ = ["sweep", "SweepError"]

# each worker process trains one model at a time on one core: no library spawns threads
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "NUMBA_NUM_THREADS": "1"}


def sweep(spec, settings, *, data=None, folds=None, epochs=None, client=None, scheduler=None,
          workers=None, dashboard=False, out_dir=None, progress=None):
    """Train every combination of `settings` ({dotted spec key: [values]}) on every
    fold; returns the result rows (those of earlier runs into out_dir included).

    data: a data source (default the spec's [data]); folds: K for K-fold cross-
    validation (stratified for classifiers), else the spec's test split validates;
    epochs: every training's epochs (default the spec's); client: a
    dask.distributed Client to use, or scheduler: the address of a cluster, or
    workers: the local cluster's worker processes (default one per core);
    dashboard: give the local cluster a dashboard (on 127.0.0.1:8787);
    out_dir: where the results go (default sweeps/<name>)."""
    spec = load_spec(spec)
    settings = {str(k): list(v) for k, v in dict(settings).items()}
    empty = [k for k, v in settings.items() if not v]
    if empty:
        raise SweepError(f"--set {empty[0]}: no values")
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        raise SweepError(f"--epochs {epochs!r}: must be an integer >= 1")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise SweepError(f"--workers {workers!r}: must be an integer >= 1")
    if sum(x is not None for x in (client, scheduler, workers)) > 1:
        raise SweepError("give at most one of a client, --scheduler and --workers")
    combos = combinations(spec, settings)
    source = spec.data_source(data)
    X, y = load_data(source)
    fold_of, fold_count = _validation_rows(spec, y, folds)
    out = Path(out_dir if out_dir is not None else os.path.join("sweeps", spec.name))
    tasks = _tasks(spec, settings, combos, fold_count, source, folds, epochs, out)
    rows = read_rows(out)
    done = {r["run_id"] for r in rows}
    pending = [t for t in tasks if t["row"]["run_id"] not in done]
    if pending:
        _dask()            # installed, before anything is compiled
    _compile(pending, X, y, fold_of)
    try:
        if pending:
            _run(pending, {"X": X, "y": y, "fold_of": fold_of}, rows, settings, out, client, scheduler,
                 workers, dashboard, progress)
    finally:            # interrupted too: best.toml and the page of the rows so far
        _finish(spec, settings, combos, rows, out, epochs, data)
    return rows


def _validation_rows(spec, y, folds):
    """(fold of each row, number of folds): with folds, K-fold; without, the spec's
    seeded test split as fold 0 (the other rows -1, always trained on)."""
    seed, n = spec.training.seed, len(y)
    if folds is not None:
        if isinstance(folds, bool) or not isinstance(folds, int):
            raise SweepError(f"--folds {folds!r}: must be an integer")
        return fold_numbers(y, folds, seed, spec.classification), folds
    fraction = spec.data.test_fraction if spec.data else 0.2
    n_test = int(round(n * fraction))
    if n_test < 1 or n_test >= n:
        raise DataError(f"test_fraction {fraction} leaves no train or no validation rows of {n}")
    fold_of = np.full(n, -1, np.int64)
    fold_of[np.random.default_rng(seed).permutation(n)[:n_test]] = 0
    return fold_of, 1


def _tasks(spec, settings, combos, fold_count, source, folds, epochs, out):
    from codegen.generator import render
    modules = {}
    tasks = []
    for values, whole, module_spec, overrides in combos:
        name = module_spec["name"]
        if name not in modules:
            modules[name] = render(module_spec)
        for fold in range(fold_count):
            run_id = digest([whole, fold, folds, source, epochs])[:16]
            row = dict(zip(settings, values), fold=fold, run_id=run_id)
            tasks.append({"module": name, "path": str((out / "modules" / f"{name}.py").resolve()),
                          "source": modules[name], "overrides": overrides, "seed": spec.training.seed,
                          "fold": fold, "epochs": epochs, "row": row})
    return tasks


def _compile(tasks, X, y, fold_of):
    """Write each module and compile what its trainings will run (the fused epoch for
    each optimizer case, the loss and score kernels) on a few rows, here, once: the
    workers then load Numba's cache instead of compiling the same module side by side.
    A combination the Trainer refuses (a setting out of range for it) fails here."""
    from .runtime import threads
    from .runtime.files import write_atomic
    seen = set()
    for task in tasks:
        key = (task["module"], repr(sorted(task["overrides"].items())))
        if key in seen:
            continue
        seen.add(key)
        path = Path(task["path"])
        if not path.exists() or path.read_text(encoding="utf-8") != task["source"]:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, task["source"])
        module = module_for(task["module"], task["path"], task["source"])
        overrides = {k: v for k, v in task["overrides"].items() if k not in ("seed", "epochs")}
        rows = min(len(X), 2 * int(overrides.get("batch_size", module.TRAINING["batch_size"])))
        saved, threads.THREADS = threads.THREADS, 1
        try:
            trainer = module.Trainer(**overrides)
            trainer.fit(X[:rows], y[:rows], epochs=1, validation_data=(X[:rows], y[:rows]), progress=False)
            trainer.score(X[:rows], y[:rows])
        except module.DivergenceError:
            pass
        except (TypeError, ValueError) as err:
            setting = ", ".join(f"{k}={v!r}" for k, v in task["row"].items() if k not in ("fold", "run_id"))
            raise SweepError(f"{setting}: {' '.join(str(err).split())}") from None
        finally:
            threads.THREADS = saved


def _dask():
    """dask.distributed, or SweepError saying how to install it."""
    try:
        import dask.distributed
    except ImportError:
        raise SweepError("sweeps run on Dask's distributed: pip install 'gradgen[sweep]'") from None
    return dask.distributed


def _client(client, scheduler, workers, dashboard):
    """(client, cluster this call started or None)."""
    distributed = _dask()
    Client, LocalCluster = distributed.Client, distributed.LocalCluster
    if client is not None:
        return client, None
    if scheduler is not None:
        return Client(scheduler), None      # that cluster's own security (TLS) settings apply
    # every port on 127.0.0.1; without a dashboard the scheduler's HTTP server (health and
    # metrics only) takes a free port, not the dashboard's 8787
    cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address="127.0.0.1:8787" if dashboard else None,
                           scheduler_kwargs={} if dashboard else {"dashboard_address": "127.0.0.1:0"},
                           worker_dashboard_address=None, env=WORKER_ENV)
    return Client(cluster), cluster


def _run(tasks, payload, rows, settings, out, client, scheduler, workers, dashboard, progress):
    as_completed = _dask().as_completed
    client, cluster = _client(client, scheduler, workers, dashboard)
    bar = _bar(len(tasks), progress)
    futures = []
    try:
        [data] = client.scatter([payload], broadcast=True, hash=False)
        futures = [client.submit(run_training, task, data, key=f"gradgen-sweep-{task['row']['run_id']}",
                                 retries=2, pure=False) for task in tasks]
        by_key = {f.key: t for f, t in zip(futures, tasks)}
        for future in as_completed(futures):
            if future.status == "error":
                row = dict(by_key[future.key]["row"], status="error",
                           error=" ".join(str(future.exception()).split()))
            else:
                row = future.result()
            rows.append(row)
            write_results(out, settings, rows)
            if bar is not None:
                ok = [r["val_loss"] for r in rows if r.get("val_loss") is not None and r.get("status") == "ok"]
                bar.set_postfix_str(f"best val_loss {min(ok):.4g}" if ok else "")
                bar.update(1)
    except KeyboardInterrupt:
        for future in futures:
            future.cancel()
        raise
    finally:
        if bar is not None:
            bar.close()
        if cluster is not None:
            client.close()
            cluster.close()


def _bar(total, progress):
    if progress is False:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    if progress is None and not sys.stderr.isatty():
        return None
    return tqdm(total=total, unit="training", desc="sweep")


def _finish(spec, settings, combos, rows, out, epochs, data):
    """best.toml (the best combination's whole spec, with the sweep's epochs and data
    source where it gave them) and sweep.html from the rows."""
    from .runtime.files import write_atomic
    out.mkdir(parents=True, exist_ok=True)
    write_results(out, settings, rows)
    found = best(rows, list(settings))
    best_values = None
    if found is not None:
        best_values = found[0]
        for values, whole, _, _ in combos:
            if values == best_values:
                whole = dict(whole, training=dict(whole["training"], **({"epochs": epochs} if epochs else {})))
                if data is not None:
                    whole["data"] = dict(whole.get("data") or {}, source=data)
                write_atomic(out / "best.toml", f"# the best of the sweep: mean validation loss {found[1]:.6g} "
                             f"over {len(found[2])} fold(s)\n" + toml(whole))
                break
    write_atomic(out / "sweep.html", page(f"gradgen sweep: {spec.name}", list(settings), rows, best_values))
