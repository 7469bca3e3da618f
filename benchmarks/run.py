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
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for path in (ROOT, HERE):
    if path not in sys.path:
        sys.path.insert(0, path)

from worker import THREADS, serve, thread_env  # noqa: E402

import multiprocessing as mp  # noqa: E402

import numpy as np  # noqa: E402

from systems import ORDER, SYSTEMS  # noqa: E402
from workloads import WORKLOADS, epoch_mean, flops_per_epoch, load_data  # noqa: E402

TARGETS = {    # issue 5: gradgen's ratio to each peer, and its share of the GEMM floor
    "torch": {"W0": 300.0, "W1": 30.0, "W2": 1.8, "W3": 1.2},
    "jax_scan": {"W0": 2.0, "W1": 1.5, "W2": 1.05, "W3": 1.0},
    "floor": {"W2": 0.85, "W3": 0.92},
}
CHECK_RTOL = {"default": 1e-6,
              # sklearn's Adam adds eps after the bias correction: eps * sqrt(1 - beta2^t)
              "sklearn/adam": 1e-3}


class Worker:
    """A system's process and the pipe to it."""

    def __init__(self, ctx, system, wl, dtype, rows):
        self.system = system
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=serve, args=(child, system, wl.id, dtype, rows, THREADS),
                                daemon=True)
        self.proc.start()
        child.close()
        self.error = None

    def ready(self, timeout=900):
        if not self.conn.poll(timeout):
            self.error = "no answer from the worker"
        else:
            reply = self.conn.recv()
            if reply[0] == "error":
                self.error = reply[1]
        return self.error is None

    def call(self, *cmd, timeout=3600):
        self.conn.send(cmd)
        if not self.conn.poll(timeout):
            raise RuntimeError(f"{self.system}: no answer to {cmd}")
        reply = self.conn.recv()
        if reply[0] == "error":
            raise RuntimeError(f"{self.system}: {reply[1]}")
        return reply[1:]

    def close(self):
        try:
            self.conn.send(("quit",))
        except (BrokenPipeError, OSError):
            pass
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join()


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {}
    for mod in ("numpy", "numba", "scipy", "torch", "jax", "jaxlib", "sklearn"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:        # not installed (or broken): reported as absent
            versions[mod] = None
    return {"cpu": model, "cores": os.cpu_count(), "threads_used": THREADS,
            "platform": platform.platform(), "python": platform.python_version(),
            "versions": versions}


def cpu_busy_seconds():
    """CPU seconds all processes have spent busy (from /proc/stat), or None."""
    try:
        with open("/proc/stat") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
    except OSError:
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds():
    import resource
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the check
def run_check(ctx, wl, systems, rows):
    """Each system's float64 first epoch on the first `rows` rows; compared with the reference."""
    results, ref_name = {}, ("torch" if "torch" in systems else "numpy")
    for name in systems:
        if name == "floor":
            continue
        worker = Worker(ctx, name, wl, "float64", rows)
        try:
            if not worker.ready():
                results[name] = {"error": worker.error}
                continue
            per_batch, mean = worker.call("check")
            results[name] = {"per_batch": per_batch, "mean": mean}
        except RuntimeError as err:
            results[name] = {"error": str(err)}
        finally:
            worker.close()
    ref = results.get(ref_name, {})
    out = {"reference": ref_name, "rows": rows, "systems": {}}
    for name, res in results.items():
        if "error" in res or "error" in ref:
            out["systems"][name] = {"ok": False, "error": res.get("error") or ref.get("error")}
            continue
        rtol = CHECK_RTOL.get(f"{name}/{wl.optimizer}", CHECK_RTOL["default"])
        worst = abs(res["mean"] - ref["mean"]) / max(abs(ref["mean"]), 1e-300)
        if res["per_batch"] is not None and ref["per_batch"] is not None:
            a, b = np.array(res["per_batch"]), np.array(ref["per_batch"])
            worst = max(worst, float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300))))
        # the one-batch path and the timed path must give the same epoch
        if res["per_batch"] is not None:
            worst = max(worst, abs(epoch_mean(res["per_batch"], rows, wl.batch_size) - res["mean"])
                        / max(abs(res["mean"]), 1e-300))
        out["systems"][name] = {"ok": bool(worst <= rtol), "max_rel_diff": worst, "rtol": rtol,
                                "first_epoch_loss": res["mean"]}
    return out


# --------------------------------------------------------------- the timing
def run_timing(ctx, wl, systems, rows, reps, target_s, settle):
    workers = {name: Worker(ctx, name, wl, wl.dtype, rows) for name in systems}
    out = {}
    try:
        for name, w in list(workers.items()):
            if not w.ready():
                out[name] = {"error": w.error}
                w.close()
                del workers[name]
        per_rep = {}
        for name, w in workers.items():          # first epoch (compilation), one at a time
            time.sleep(settle)
            first, _ = w.call("epochs", 1)
            time.sleep(settle)
            warm, _ = w.call("epochs", 1)
            per_rep[name] = max(1, min(1000, round(target_s / warm)))
            out[name] = {"first_epoch_s": first, "calibration_epoch_s": warm,
                         "epochs_per_rep": per_rep[name], "epoch_s": []}
            log(f"  {name}: first epoch {first:.3f} s, warm {warm * 1e3:.2f} ms")
        names = list(workers)
        for rep in range(reps):
            order = names[rep % len(names):] + names[:rep % len(names)]
            for name in order:
                time.sleep(settle)
                elapsed, losses = workers[name].call("epochs", per_rep[name])
                out[name]["epoch_s"].append(elapsed / per_rep[name])
                out[name]["last_loss"] = losses[-1]
            log(f"  rep {rep + 1}/{reps}: " + ", ".join(
                f"{n} {out[n]['epoch_s'][-1] * 1e3:.2f} ms" for n in names))
    finally:
        for w in workers.values():
            w.close()
    for name, res in out.items():
        if res.get("epoch_s"):
            res["median_epoch_s"] = statistics.median(res["epoch_s"])
            res["samples_per_s"] = rows / res["median_epoch_s"]
            res["compile_overhead_s"] = res["first_epoch_s"] - res["median_epoch_s"]
    return out


def ratios(timing):
    """Each system's speed relative to the peers (>1: faster) and its share of the floor:
    the median over repetitions of the ratio within each repetition (the systems of one
    repetition run back to back, so a slow stretch of the machine cancels out)."""
    def paired(peer, name):
        a, b = timing.get(peer, {}).get("epoch_s"), timing[name].get("epoch_s")
        if not a or not b:
            return None
        return statistics.median(x / y for x, y in zip(a, b))
    for name, res in timing.items():
        if "median_epoch_s" not in res:
            continue
        for peer in ("torch", "jax_scan"):
            r = paired(peer, name)
            if r is not None:
                res[f"x_{peer}"] = r
        if name != "floor":
            r = paired("floor", name)
            if r is not None:
                res["floor_share"] = r


# ------------------------------------------------------------------ output
def fmt_time(s):
    return f"{s * 1e3:9.2f} ms" if s < 10 else f"{s:9.2f} s "


def table(wl, rows, result):
    lines = [f"{wl.id}: {wl.network()}; {wl.loss}, {wl.optimizer} "
             f"{', '.join(f'{k} {v:g}' for k, v in wl.hyper.items())}; batch {wl.batch_size}, "
             f"{wl.dtype}, {rows} samples, {flops_per_epoch(wl, rows) / 1e9:.2f} GFLOP of GEMM per epoch"]
    head = (f"  {'system':28s} {'first epoch':>12s} {'epoch':>12s} {'samples/s':>13s} "
            f"{'vs PyTorch':>11s} {'vs JAX scan':>12s} {'GEMM floor':>11s}  check")
    lines += [head, "  " + "-" * (len(head) - 2)]
    timing, check = result["timing"], result["check"]["systems"]
    for name in ORDER:
        label = SYSTEMS[name].label
        if name not in result["selected"]:
            continue
        if name in result["skipped"]:
            lines.append(f"  {label:28s} skipped: {result['skipped'][name]}")
            continue
        res = timing.get(name, {})
        if "median_epoch_s" not in res:
            lines.append(f"  {label:28s} failed: {str(res.get('error', '?')).strip().splitlines()[-1]}")
            continue
        c = check.get(name)
        ctext = ("" if name == "floor" else "not run" if c is None
                 else (f"ok ({c['max_rel_diff']:.1e})" if c["ok"] else
                       f"MISMATCH {c.get('max_rel_diff', float('nan')):.1e}" if "error" not in c
                       else "error"))
        x = lambda key: f"{res[key]:10.2f}x" if key in res else f"{'':>11s}"  # noqa: E731
        share = f"{res['floor_share'] * 100:9.1f} %" if "floor_share" in res else f"{'':>11s}"
        lines.append(f"  {label:28s} {res['first_epoch_s']:10.3f} s {fmt_time(res['median_epoch_s'])} "
                     f"{res['samples_per_s']:13,.0f} {x('x_torch')} {x('x_jax_scan'):>12s} "
                     f"{share}  {ctext}")
    load = result.get("other_load")
    if load is not None:
        lines.append(f"  other processes kept {load['cores_busy']:.2f} of {os.cpu_count()} cores busy "
                     "during the timing" + ("  (NOISY: ratios are unreliable)"
                                             if load["cores_busy"] > 0.1 * os.cpu_count() else ""))
    return "\n".join(lines)


def startup_table(st):
    g, g8 = st["derive_generate_10x4096"], st["derive_generate_10x8"]
    lines = ["fixed costs (fresh processes):",
             f"  derive + generate, 10 layers x 4096 units: {g['generate_s']:.3f} s "
             f"(10 x 8: {g8['generate_s']:.3f} s; importing derive/codegen: {g['import_s']:.2f} s)"]
    for key, label in (("first_step_digits_example", "examples/digits.toml"), ("first_step_W2", "W2"),
                       ("first_step_numba_floor", "Numba alone, one cached kernel (startup.NUMBA_FLOOR)")):
        if key not in st:
            continue
        w, c = st[key]["warm"], st[key]["cold"]
        lines.append(f"  {label}: import module + first call, cache warm: "
                     f"{w['module_import_and_first_step_s']:.3f} s (cold, compiling: "
                     f"{c['module_import_and_first_step_s']:.2f} s); `import numpy, numba` before it: "
                     f"{w['numpy_numba_import_s']:.2f} s")
    return "\n".join(lines)


def target_report(results, startup=None):
    lines, verdicts = ["targets (gradgen, issue 5):"], []
    for peer, per_wl in TARGETS.items():
        for wl_id, want in per_wl.items():
            res = results.get(wl_id, {}).get("timing", {}).get("gradgen", {})
            key = "floor_share" if peer == "floor" else f"x_{peer}"
            got = res.get(key)
            what = "share of the GEMM floor" if peer == "floor" else f"speed vs {SYSTEMS[peer].label}"
            if got is None:
                if wl_id in results:
                    lines.append(f"  {wl_id} {what}: not measured")
                continue
            ok = got >= want
            verdicts.append({"workload": wl_id, "measure": key, "target": want, "got": got, "met": ok})
            unit = (lambda v: f"{v * 100:.1f} %") if peer == "floor" else (lambda v: f"{v:.2f}x")
            lines.append(f"  {wl_id} {what}: {unit(got)} (target >= {unit(want)}) "
                         f"{'met' if ok else 'NOT MET'}")
    w2 = results.get("W2", {}).get("timing", {}).get("gradgen", {})
    if "compile_overhead_s" in w2:
        ok = w2["compile_overhead_s"] <= 2.0
        lines.append(f"  W2 first epoch - warm epoch (Numba compilation): {w2['compile_overhead_s']:.2f} s "
                     f"(target <= 2 s) {'met' if ok else 'NOT MET'}")
        verdicts.append({"workload": "W2", "measure": "compile_overhead_s", "target": 2.0,
                         "got": w2["compile_overhead_s"], "met": ok})
    if startup:
        floor = startup.get("first_step_numba_floor")
        alone = floor["warm"]["module_import_and_first_step_s"] if floor else None
        for key, measure, got, want, beside in (
                ("derive_generate", "derive + generate 10 x 4096 (s)",
                 startup["derive_generate_10x4096"]["generate_s"], 2.0, None),
                ("first_step", "digits example: import module + first step, cache warm (s)",
                 startup["first_step_digits_example"]["warm"]["module_import_and_first_step_s"], 0.3, alone)):
            ok = got <= want
            lines.append(f"  {measure}: {got:.3f} (target <= {want:g}) {'met' if ok else 'NOT MET'}")
            verdicts.append({"workload": "-", "measure": key, "target": want, "got": got, "met": ok})
            if beside is not None:
                lines.append(f"    (Numba alone, one cached kernel measured the same way: {beside:.3f} s)")
                verdicts[-1]["numba_alone"] = beside
    return "\n".join(lines), verdicts


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
                    help="train on the first ROWS rows only (W2/W3 have 60000; quick: 12000)")
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
    reps = args.reps if args.reps is not None else (3 if args.quick else 7)
    target_s = args.target_s if args.target_s is not None else (0.3 if args.quick else 1.5)
    if reps < 1 or target_s <= 0:
        ap.error("--reps must be >= 1 and --target-s > 0")

    ctx = mp.get_context("spawn")
    report = {"machine": machine(), "options": vars(args) | {"reps": reps, "target_s": target_s},
              "systems": {name: {"label": SYSTEMS[name].label, "how": SYSTEMS[name].note}
                          for name in args.systems},
              "workloads": {}}
    log(f"machine: {report['machine']['cpu']}, {report['machine']['cores']} cores; "
        f"every system pinned to {THREADS} threads")
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
