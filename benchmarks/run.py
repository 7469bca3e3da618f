#!/usr/bin/env python3
"""gradgen against its peers on the workloads of issue 5 (see benchmarks/workloads.py).

    python benchmarks/run.py                      # every workload, every installed peer
    python benchmarks/run.py --quick              # a fast, rougher pass
    python benchmarks/run.py -w W2 W3 --reps 7 --json out.json

For each workload:
 1. the float64 check: every system trains one epoch in float64 (per-batch losses
    through its one-batch path, and the epoch mean through the timed path) and
    must match PyTorch's losses (NumPy's where PyTorch is missing);
 2. the timing: one worker process per system, all pinned to 2 threads; the first
    epoch (compilation included) is timed first, then repetitions are interleaved
    across systems (each repetition runs every system once, in rotating order), so
    machine noise falls on all of them alike. Only ratios within one run count.
 3. the GEMM floor: one epoch's matrix products alone through NumPy, and each
    system's share of it (floor time / system time).
Peers that are not installed are skipped, and the table says so.
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for path in (ROOT, HERE):
    if path not in sys.path:
        sys.path.insert(0, path)

from worker import THREADS, thread_env, without_openblas_overrides  # noqa: E402

import multiprocessing as mp  # noqa: E402

from float64_check import run_check  # noqa: E402
from machine import cpu_busy_seconds, machine, own_cpu_seconds  # noqa: E402
from report_tables import startup_table, table  # noqa: E402
from stderr_log import log  # noqa: E402
from systems import ORDER, SYSTEMS  # noqa: E402
from targets import target_report  # noqa: E402
from timing import ratios, run_timing  # noqa: E402
from workloads import WORKLOADS, flops_per_epoch, load_data  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-w", "--workloads", nargs="+", default=list(WORKLOADS),
                    choices=list(WORKLOADS), metavar="W", help="workloads (default: all)")
    ap.add_argument("-s", "--systems", nargs="+", default=ORDER, choices=ORDER, metavar="S",
                    help=f"systems (default: all of {', '.join(ORDER)})")
    ap.add_argument("--reps", type=int, default=None, help="timed repetitions per system (default 7; quick 3)")
    ap.add_argument("--target-s", type=float, default=None,
                    help="seconds per repetition: a system runs as many epochs per repetition "
                         "(one fit call for gradgen) as take about this long, 1 to 1000 "
                         "(default 1.5; quick 0.3)")
    ap.add_argument("--rows", type=int, default=None,
                    help="train on the first ROWS rows only (W2/W3 have 60000, W4 20000, "
                         "W5 16384; quick: 12000)")
    ap.add_argument("--check-rows", type=int, default=None,
                    help="rows for the float64 check (default: all; quick: 2048)")
    ap.add_argument("--settle", type=float, default=1.0,
                    help="pause before each timed call (s): an idle worker's BLAS threads spin for "
                         "a few tenths of a second after its last call, on the cores the next needs")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions and rows: a rough pass")
    ap.add_argument("--no-check", action="store_true", help="skip the float64 check")
    ap.add_argument("--startup", choices=("yes", "no", "auto"), default="auto",
                    help="fixed costs: derive+generate of a 10x4096 spec, import + first step "
                         "with a warm cache (auto: yes unless --quick or -w/-s narrows the run)")
    ap.add_argument("--json", metavar="PATH", help="write every number to PATH as JSON")
    args = ap.parse_args(argv)
    # every process this run starts (workers, start-up probes) inherits the pinning;
    # set here, not at import, so that importing this module changes nothing
    os.environ.update(thread_env())
    # and none of them gets the workplace's OpenBLAS overrides (worker.OPENBLAS_OVERRIDES):
    # this process loaded OpenBLAS with them, but times nothing; the workers report theirs
    unset = without_openblas_overrides(os.environ)
    reps = args.reps if args.reps is not None else (3 if args.quick else 7)
    target_s = args.target_s if args.target_s is not None else (0.3 if args.quick else 1.5)
    if reps < 1 or target_s <= 0:
        ap.error("--reps must be >= 1 and --target-s > 0")

    ctx = mp.get_context("spawn")
    report = {"machine": machine() | {"openblas_overrides_unset": unset}, "options": vars(args) | {"reps": reps, "target_s": target_s},
              "systems": {name: {"label": SYSTEMS[name].label, "how": SYSTEMS[name].note}
                          for name in args.systems},
              "workloads": {}}
    log(f"machine: {report['machine']['cpu']}, {report['machine']['cores']} cores; "
        f"every system pinned to {THREADS} threads"
        + (f"; unset for them: {', '.join(f'{k}={v}' for k, v in unset.items())}" if unset else ""))
    tables = []
    for wl_id in args.workloads:
        wl = WORKLOADS[wl_id]
        try:
            n = len(load_data(wl, rows=args.rows or (12000 if args.quick else None))[0])
        except ImportError as err:        # W1's digits come with scikit-learn
            log(f"{wl_id}: skipped: its data needs {err.name} ({err})")
            continue
        check_rows = min(n, args.check_rows or (2048 if args.quick else n))
        skipped = {}
        systems = []
        for name in args.systems:
            why = SYSTEMS[name]().missing(wl)
            if why:
                skipped[name] = why
                log(f"{wl_id}: skipping {name}: {why}")
            else:
                systems.append(name)
        result = {"selected": list(args.systems),
                  "workload": {"id": wl.id, "title": wl.title, "network": wl.network(), "loss": wl.loss,
                               "optimizer": wl.optimizer, "hyper": wl.hyper,
                               "batch_size": wl.batch_size, "dtype": wl.dtype, "rows": n,
                               "gemm_gflop_per_epoch": flops_per_epoch(wl, n) / 1e9},
                  "skipped": skipped}
        if args.no_check:
            result["check"] = {"systems": {}}
        else:
            log(f"{wl_id}: float64 check on {check_rows} rows")
            result["check"] = run_check(ctx, wl, systems, check_rows)
            for name, c in result["check"]["systems"].items():
                log(f"  {name}: " + ("ok" if c["ok"] else "MISMATCH") +
                    (f", max rel diff {c['max_rel_diff']:.2e}" if "max_rel_diff" in c else
                     f": {c.get('error', '')}"))
        log(f"{wl_id}: timing {reps} interleaved repetitions")
        busy0, own0, wall0 = cpu_busy_seconds(), own_cpu_seconds(), time.perf_counter()
        result["timing"] = run_timing(ctx, wl, systems, n, reps, target_s, args.settle)
        wall = time.perf_counter() - wall0
        if busy0 is not None:       # what other processes took from the machine meanwhile
            others = max(0.0, cpu_busy_seconds() - busy0 - (own_cpu_seconds() - own0))
            result["other_load"] = {"cpu_s": others, "wall_s": wall,
                                    "cores_busy": others / wall}
        ratios(result["timing"])
        report["workloads"][wl_id] = result
        tables.append(table(wl, n, result))
        print(tables[-1] + "\n", flush=True)
    startup = args.startup == "yes" or (args.startup == "auto" and not args.quick
                                          and set(args.workloads) == set(WORKLOADS)
                                          and set(args.systems) == set(ORDER))
    if startup:
        import startup as fixed
        log("fixed costs: derive+generate, import + first step")
        report["startup"] = fixed.measure()
        print(startup_table(report["startup"]) + "\n")
    text, verdicts = target_report(report["workloads"], report.get("startup"))
    report["targets"] = verdicts
    print(text)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1, default=float)
        log(f"wrote {args.json}")


if __name__ == "__main__":
    main()
