"""The tables printed after each workload and after the fixed costs."""
import os

from systems import ORDER, SYSTEMS
from workloads import flops_per_epoch


def fmt_time(s):
    return f"{s * 1e3:9.2f} ms" if s < 10 else f"{s:9.2f} s "


def table(wl, rows, result):
    lines = [f"{wl.id}: {wl.network()}; {wl.loss}, {wl.optimizer} "
             f"{', '.join(f'{k} {v:g}' for k, v in wl.hyper.items())}; batch {wl.batch_size}, "
             f"{wl.dtype}, {rows} samples, {flops_per_epoch(wl, rows) / 1e9:.2f} GFLOP of GEMM per epoch"]
    head = (f"  {'system':28s} {'first epoch':>12s} {'epoch':>12s} {'samples/s':>13s} "
            f"{'vs 1 thread':>12s} {'vs PyTorch':>11s} {'vs JAX scan':>12s} {'vs Numba':>11s} {'GEMM floor':>11s}  check")
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
                     f"{res['samples_per_s']:13,.0f} {x('x_gradgen_1t'):>12s} {x('x_torch')} {x('x_jax_scan'):>12s} "
                     f"{x('x_numba')} {share}  {ctext}")
    kernels = {}
    for name in ORDER:
        for lib in timing.get(name, {}).get("blas", []):
            kernels.setdefault(f"{lib['internal_api']} {lib['architecture']}", []).append(name)
    if kernels:
        lines.append("  BLAS kernels (threadpoolctl): " + "; ".join(
            f"{kernel} ({', '.join(dict.fromkeys(names))})" for kernel, names in kernels.items()))
    rss = [(SYSTEMS[name].label, timing[name]) for name in ORDER
           if timing.get(name, {}).get("peak_rss_mib") is not None]
    if rss:
        lines.append("  peak RSS (MiB; with the data loaded, before setup): " + "; ".join(
            f"{label} {res['peak_rss_mib']:.0f} ({res['rss_data_mib']:.0f})" for label, res in rss))
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
