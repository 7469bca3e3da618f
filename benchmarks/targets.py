"""gradgen's targets (issue 19's, and issue 5's against PyTorch, which 19 keeps), and
the report that judges a run's results against them."""
from systems import SYSTEMS

TARGETS = {    # gradgen's ratio to each peer, and its share of the GEMM floor
    "torch": {"W0": 300.0, "W1": 30.0, "W2": 1.8, "W3": 1.2},       # issue 5
    "jax_scan": {"W0": 3.0, "W1": 2.0, "W2": 1.2, "W3": 1.1,        # issue 19
                 "W4": 1.2, "W5": 1.2},                             # issue 19's rules, on W4/W5
    "floor": {"W2": 0.85, "W3": 0.90},                              # issue 19
    "numba": {"W0": 1.0, "W1": 1.0, "W2": 1.0, "W3": 1.0,           # issue 19: never below it
              "W4": 1.0, "W5": 1.0},
}
COMPILE_OVERHEAD_S = 1.0       # issue 19: W2's first epoch at most this much over a warm one


def target_report(results, startup=None):
    lines, verdicts = ["targets (gradgen, issues 19 and 5):"], []
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
        ok = w2["compile_overhead_s"] <= COMPILE_OVERHEAD_S
        lines.append(f"  W2 first epoch - warm epoch (Numba compilation): {w2['compile_overhead_s']:.2f} s "
                     f"(target <= {COMPILE_OVERHEAD_S:g} s) {'met' if ok else 'NOT MET'}")
        verdicts.append({"workload": "W2", "measure": "compile_overhead_s", "target": COMPILE_OVERHEAD_S,
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
