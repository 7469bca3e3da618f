#!/usr/bin/env python3
"""A sweep on a local Dask cluster against the same trainings one after another in
one process, and what going through Dask costs each training.

    python benchmarks/sweep_overhead.py [--workers 2] [--epochs 10] [--folds 3]

The digits example, learning rate x 4 and hidden units x 2 on every fold. The
sequential run calls the sweep's own task function in this process, after the
same compilation; the sweep's wall time is timed from the cluster's start to the
last row (its compile-first step apart). The overhead per training is the time the
workers were not training: (wall x workers - the trainings' own seconds) / trainings.
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--folds", type=int, default=3)
    args = ap.parse_args(argv)
    os.environ.pop("OPENBLAS_CORETYPE", None)
    os.environ.pop("OPENBLAS_L2_SIZE", None)

    from derive.spec import load_spec
    from gradgen import sweep as sweep_mod
    from gradgen.data import load_data
    from gradgen.sweep_grid import combinations, folds
    from gradgen.sweep_task import run_training

    spec_path = os.path.join(os.path.dirname(HERE), "examples", "digits.toml")
    grid = {"optimizer.learning_rate": [0.002, 0.005, 0.01, 0.02], "layers.1.units": [16, 32]}
    spec = load_spec(spec_path)
    with tempfile.TemporaryDirectory(prefix="gradgen-sweep-bench-") as tmp:
        out = os.path.join(tmp, "sweep")
        X, y = load_data(spec.data_source())
        fold_of = folds(y, args.folds, spec.training.seed, True)
        tasks = sweep_mod._tasks(spec, grid, combinations(spec, grid), args.folds, spec.data_source(),
                                 args.folds, args.epochs, Path(out))
        started = time.perf_counter()
        sweep_mod._compile(tasks, X, y, fold_of)
        compile_s = time.perf_counter() - started
        started = time.perf_counter()
        alone = [run_training(t, {"X": X, "y": y, "fold_of": fold_of}) for t in tasks]
        sequential_s = time.perf_counter() - started
        started = time.perf_counter()
        client, cluster = sweep_mod._client(None, None, args.workers, False)
        up_s = time.perf_counter() - started
        rows = []
        try:
            sweep_mod._run(tasks, {"X": X, "y": y, "fold_of": fold_of}, rows, grid, Path(out),
                           client, None, None, False, False)
        finally:
            client.close()
            cluster.close()
        wall_s = time.perf_counter() - started
    n = len(tasks)
    trained_s = sum(r["seconds"] for r in rows)
    print(f"{n} trainings of the digits example ({args.epochs} epochs, {args.folds} folds), "
          f"{args.workers} workers on {os.cpu_count()} cores")
    print(f"  compile first (once per module and optimizer case): {compile_s:.2f} s")
    print(f"  one after another in one process: {sequential_s:.2f} s "
          f"({sum(r['seconds'] for r in alone) / n * 1e3:.1f} ms per training)")
    print(f"  the sweep on a local cluster: {wall_s:.2f} s wall, {up_s:.2f} s of it starting the cluster; "
          f"{sequential_s / wall_s:.2f}x the sequential run ({sequential_s / (wall_s - up_s):.2f}x without "
          "the start)")
    print(f"  per training through Dask: {((wall_s - up_s) * args.workers - trained_s) / n * 1e3:.1f} ms "
          f"not training (the trainings themselves: {trained_s / n * 1e3:.1f} ms each on the workers)")


if __name__ == "__main__":
    main()
