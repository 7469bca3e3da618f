#!/usr/bin/env python3
"""How an epoch's cost grows with the work (issue 19): W2's network with both hidden
layers at widths 128, 512 and 2048, in batches of 32, 128 and 512, for gradgen,
PyTorch eager, JAX's lax.scan and the GEMM floor.

    python benchmarks/scaling.py                   # the 9 configurations, 5 repetitions
    python benchmarks/scaling.py --widths 128 --batches 32 128 --reps 3
    python benchmarks/scaling.py --json out.json --chart docs/scaling.png

Every configuration is timed as run.py times a workload (one process per system,
interleaved repetitions, ratios within a repetition; OpenBLAS overrides unset for
the workers), on the first ROWS rows of W2's data. It prints one table: each
system's epoch time, and gradgen's ratio to each peer and share of the floor.
The chart plots every system's share of the floor (floor time / its time) against
the width, one panel per batch size.
"""
import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for path in (ROOT, HERE):
    if path not in sys.path:
        sys.path.insert(0, path)

from machine import machine  # noqa: E402
from stderr_log import log  # noqa: E402
from systems import SYSTEMS  # noqa: E402
from timing import ratios, run_timing  # noqa: E402
from worker import thread_env, without_openblas_overrides  # noqa: E402
from workloads import WORKLOADS, Layer, Workload, flops_per_epoch  # noqa: E402

PEERS = ("gradgen", "torch", "jax_scan", "floor")
WIDTHS = (128, 512, 2048)
BATCHES = (32, 128, 512)


def scaling_workload(width, batch):
    """W2 (784 -> 256 relu -> 128 relu -> 10 softmax, cross-entropy, Adam) with both
    hidden layers `width` wide and batches of `batch` rows."""
    w2 = WORKLOADS["W2"]
    return Workload(f"W2_h{width}_b{batch}", f"W2 at width {width}, batch {batch}", w2.data,
                    w2.inputs, (Layer(width, "relu"), Layer(width, "relu"), Layer(10, "softmax")),
                    w2.loss, w2.optimizer, dict(w2.hyper), batch_size=batch, dtype=w2.dtype)


def cell(timing, name):
    res = timing.get(name, {})
    return res.get("median_epoch_s")


def table(rows):
    """rows: [(width, batch, gflop, timing)] -> the Markdown table."""
    head = ("| width | batch | GFLOP/epoch | gradgen | PyTorch | JAX scan | floor | gradgen vs PyTorch "
            "| vs JAX scan | share of floor | JAX scan's share | peak RSS MiB (gradgen, PyTorch, JAX) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for width, batch, gflop, timing in rows:
        ms = lambda name: (f"{cell(timing, name) * 1e3:.1f} ms" if cell(timing, name) else "-")  # noqa: E731
        g = timing.get("gradgen", {})
        x = lambda key: f"{g[key]:.2f}x" if key in g else "-"  # noqa: E731
        share = lambda res: f"{res['floor_share'] * 100:.0f} %" if "floor_share" in res else "-"  # noqa: E731
        rss = ", ".join(f"{timing[n]['peak_rss_mib']:.0f}" if "peak_rss_mib" in timing.get(n, {}) else "-"
                        for n in ("gradgen", "torch", "jax_scan"))
        lines.append(f"| {width} | {batch} | {gflop:.1f} | {ms('gradgen')} | {ms('torch')} | "
                     f"{ms('jax_scan')} | {ms('floor')} | {x('x_torch')} | {x('x_jax_scan')} | "
                     f"{share(g)} | {share(timing.get('jax_scan', {}))} | {rss} |")
    return "\n".join(lines)


def chart(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    batches = sorted({b for _, b, _, _ in rows})
    fig, axes = plt.subplots(1, len(batches), figsize=(4.2 * len(batches), 3.6), sharey=True, squeeze=False)
    for ax, batch in zip(axes[0], batches):
        mine = sorted((r for r in rows if r[1] == batch), key=lambda r: r[0])
        widths = [r[0] for r in mine]
        for name in PEERS[:-1]:
            shares = [r[3].get(name, {}).get("floor_share") for r in mine]
            if any(s is not None for s in shares):
                ax.plot(widths, [100 * s if s is not None else float("nan") for s in shares],
                        marker="o", label=SYSTEMS[name].label)
        ax.axhline(100, color="grey", lw=0.8, ls="--")
        ax.set_xscale("log", base=2)
        ax.set_xticks(widths, [str(w) for w in widths])
        ax.set_title(f"batch {batch}")
        ax.set_xlabel("hidden width (both layers)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("share of the GEMM floor (%)")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle("784 → w relu → w relu → 10 softmax, Adam, float32: floor time / system time")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--widths", nargs="+", type=int, default=list(WIDTHS))
    ap.add_argument("--batches", nargs="+", type=int, default=list(BATCHES))
    ap.add_argument("-s", "--systems", nargs="+", default=list(PEERS), choices=list(PEERS))
    ap.add_argument("--rows", type=int, default=8192, help="rows of W2's data per epoch (default 8192)")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--target-s", type=float, default=0.8, help="seconds per repetition and system")
    ap.add_argument("--settle", type=float, default=0.5)
    ap.add_argument("--json", metavar="PATH")
    ap.add_argument("--chart", metavar="PATH", help="write the chart (PNG) here (needs matplotlib)")
    args = ap.parse_args(argv)
    os.environ.update(thread_env())
    unset = without_openblas_overrides(os.environ)
    ctx = mp.get_context("spawn")
    available = [n for n in args.systems if not SYSTEMS[n]().missing(WORKLOADS["W2"])]
    log(f"scaling: {', '.join(available)} on {args.rows} rows"
        + (f"; unset for the workers: {', '.join(unset)}" if unset else ""))
    rows, report = [], {"machine": machine() | {"openblas_overrides_unset": unset},
                        "options": vars(args), "configurations": []}
    for width in args.widths:
        for batch in args.batches:
            wl = scaling_workload(width, batch)
            log(f"{wl.id}: timing {args.reps} interleaved repetitions")
            timing = run_timing(ctx, wl, available, args.rows, args.reps, args.target_s, args.settle)
            for name, res in timing.items():
                if "error" in res:
                    log(f"  {name} failed: {res['error'].strip().splitlines()[-1]}")
            ratios(timing)
            gflop = flops_per_epoch(wl, args.rows) / 1e9
            rows.append((width, batch, gflop, timing))
            report["configurations"].append({"width": width, "batch": batch, "gemm_gflop_per_epoch": gflop,
                                             "timing": timing})
            g = timing.get("gradgen", {})
            log(f"  gradgen: {statistics.median(g.get('epoch_s') or [float('nan')]) * 1e3:.1f} ms, "
                f"{g.get('x_torch', float('nan')):.2f}x PyTorch, {g.get('x_jax_scan', float('nan')):.2f}x JAX scan, "
                f"{g.get('floor_share', float('nan')) * 100:.0f} % of the floor")
    print(table(rows), flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1, default=float)
        log(f"wrote {args.json}")
    if args.chart:
        chart(rows, args.chart)
        log(f"wrote {args.chart}")


if __name__ == "__main__":
    main()
