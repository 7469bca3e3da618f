"""The float64 check: every system's first epoch in float64 against the reference's losses."""
import numpy as np

from worker_client import Worker
from workloads import epoch_mean

CHECK_RTOL = {"default": 1e-6,
              # sklearn's Adam adds eps after the bias correction: eps * sqrt(1 - beta2^t)
              "sklearn/adam": 1e-3}


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
