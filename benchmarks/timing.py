"""The timing: first epochs, then repetitions interleaved across systems, and the ratios."""
import statistics
import time

from stderr_log import log
from worker_client import Worker


def blas_text(blas):
    """worker.blas_info()'s libraries in a few words each."""
    return ", ".join(f"{b['internal_api']} {b['version']} ({b['prefix']}): {b['architecture']} kernels"
                     for b in blas or []) or "none loaded, or threadpoolctl missing"


def run_timing(ctx, wl, systems, rows, reps, target_s, settle):
    workers = {name: Worker(ctx, name, wl, wl.dtype, rows) for name in systems}
    out = {}
    try:
        for name, w in list(workers.items()):
            if not w.ready():
                out[name] = {"error": w.error}
                w.close()
                del workers[name]
            else:
                out[name] = dict(w.info)
                log(f"  {name}: BLAS {blas_text(w.info.get('blas'))}")
        per_rep = {}
        for name, w in workers.items():          # first epoch (compilation), one at a time
            time.sleep(settle)
            first, _ = w.call("epochs", 1)
            time.sleep(settle)
            warm, _ = w.call("epochs", 1)
            per_rep[name] = max(1, min(1000, round(target_s / warm)))
            out[name].update(first_epoch_s=first, calibration_epoch_s=warm,
                             epochs_per_rep=per_rep[name], epoch_s=[])
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
        for name, w in workers.items():     # after every epoch it ran: its peak so far
            out[name].update(w.call("memory")[0])
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
        for peer in ("gradgen_1t", "torch", "jax_scan", "numba"):
            r = paired(peer, name)
            if r is not None:
                res[f"x_{peer}"] = r
        if name != "floor":
            r = paired("floor", name)
            if r is not None:
                res["floor_share"] = r
