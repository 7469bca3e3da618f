"""The benchmark of issue 5 runs as the README says, and its reports say what was
measured. Timings are never asserted (the machines are noisy): only that every
number the report rests on is there, and that the float64 check compares systems."""
import json
import multiprocessing as mp
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
sys.path.insert(0, str(BENCH))

import run  # noqa: E402
import startup  # noqa: E402
from float64_check import run_check  # noqa: E402
from systems import SYSTEMS  # noqa: E402
from workloads import WORKLOADS  # noqa: E402


def test_run_py_trains_checks_and_reports(tmp_path):
    """A short run of W0 with gradgen, PyTorch, NumPy, plain Numba and the floor: the float64 check
    passes against PyTorch's losses, every system is timed, the ratios to PyTorch and
    to the floor are computed and the targets report judges W0 against PyTorch. Run
    with the workplace's OpenBLAS overrides set, it unsets them for its workers (and
    says so), and each worker reports the BLAS kernels it loaded."""
    out = tmp_path / "w0.json"
    env = dict(os.environ, OPENBLAS_CORETYPE="Haswell", OPENBLAS_L2_SIZE="1048576")
    proc = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "-w", "W0", "-s", "gradgen", "torch", "numpy", "numba", "floor",
         "--reps", "2", "--settle", "0", "--rows", "512", "--check-rows", "64", "--target-s", "0.01",
         "--startup", "no", "--json", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["machine"]["openblas_overrides_unset"] == {"OPENBLAS_CORETYPE": "Haswell",
                                                            "OPENBLAS_L2_SIZE": "1048576"}
    assert "unset for them: OPENBLAS_CORETYPE=Haswell, OPENBLAS_L2_SIZE=1048576" in proc.stderr
    w0 = report["workloads"]["W0"]
    assert w0["check"]["reference"] == "torch"
    assert {name for name, res in w0["check"]["systems"].items() if res["ok"]} == {"gradgen", "torch", "numpy",
                                                                                 "numba"}
    timing = w0["timing"]
    for name in ("gradgen", "torch", "numpy", "numba", "floor"):
        assert len(timing[name]["epoch_s"]) == 2 and timing[name]["median_epoch_s"] > 0
        assert timing[name]["openblas_overrides"] == {}, name
    # NumPy's OpenBLAS, as threadpoolctl names the kernel it picked for this processor
    numpy_blas = [lib for lib in timing["numpy"]["blas"] if lib["internal_api"] == "openblas"]
    assert numpy_blas and all(lib["architecture"] for lib in numpy_blas), timing["numpy"]["blas"]
    assert "BLAS kernels (threadpoolctl): openblas " in proc.stdout
    assert timing["gradgen"]["x_torch"] > 0 and timing["gradgen"]["floor_share"] > 0
    assert timing["gradgen"]["x_numba"] > 0
    for name in ("gradgen", "torch", "numpy", "numba", "floor"):     # each worker's memory
        assert timing[name]["peak_rss_mib"] >= timing[name]["rss_data_mib"] > 0, name
    assert "peak RSS (MiB; with the data loaded, before setup): gradgen (Numba) " in proc.stdout
    judged = {(v["workload"], v["measure"]) for v in report["targets"]}
    assert ("W0", "x_torch") in judged and ("W0", "x_numba") in judged
    assert "W0 speed vs PyTorch eager" in proc.stdout


@pytest.mark.parametrize("wl_id", ["W4", "W5"])
def test_float64_check_of_w4_and_w5(wl_id):
    """W4 (elu, RMSprop, float64) and W5 (leaky_relu and identity, AdamW, mse, float32):
    gradgen and the hand-written NumPy and Numba train their float64 first epoch on 256
    rows (4 and 16 batches) to PyTorch's losses (NumPy's without PyTorch), per batch and
    through the timed path; scikit-learn, which has neither network nor optimizer, says
    so. No timing. (JAX, a bench extra, is checked the same way before every run's timing.)"""
    wl = WORKLOADS[wl_id]
    systems = [name for name in ("gradgen", "torch", "numpy", "numba") if SYSTEMS[name]().missing(wl) is None]
    assert {"gradgen", "numpy", "numba"} <= set(systems)
    check = run_check(mp.get_context("spawn"), wl, systems, 256)
    assert check["reference"] == ("torch" if "torch" in systems else "numpy")
    assert set(check["systems"]) == set(systems)
    for name, res in check["systems"].items():
        assert res["ok"] and res["max_rel_diff"] < 1e-10, (name, res)
    why = SYSTEMS["sklearn"]().missing(wl)
    assert why and (why == "scikit-learn is not installed"
                    or wl.layers[0].activation in why and wl.optimizer in why), why


def test_scaling_py_times_each_configuration_and_draws_the_chart(tmp_path):
    """benchmarks/scaling.py on two tiny configurations: every system timed in each,
    gradgen's ratios and share of the floor in the table and the JSON, and the chart."""
    out, png = tmp_path / "scaling.json", tmp_path / "scaling.png"
    proc = subprocess.run(
        [sys.executable, str(BENCH / "scaling.py"), "--widths", "16", "32", "--batches", "8",
         "-s", "gradgen", "torch", "floor", "--rows", "64", "--reps", "2", "--target-s", "0.01",
         "--settle", "0", "--json", str(out), "--chart", str(png)],
        capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert [(c["width"], c["batch"]) for c in report["configurations"]] == [(16, 8), (32, 8)]
    for conf in report["configurations"]:
        g = conf["timing"]["gradgen"]
        assert len(g["epoch_s"]) == 2 and g["x_torch"] > 0 and g["floor_share"] > 0 and g["peak_rss_mib"] > 0
    assert "| 32 | 8 |" in proc.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _startup(first_step_s, alone_s=None):
    res = lambda s: {"cold": {"module_import_and_first_step_s": 2 * s, "numpy_numba_import_s": 0.2},  # noqa: E731
                     "warm": {"module_import_and_first_step_s": s, "numpy_numba_import_s": 0.2}}
    st = {"derive_generate_10x4096": {"generate_s": 0.25, "import_s": 0.5},
          "derive_generate_10x8": {"generate_s": 0.24, "import_s": 0.5},
          "first_step_digits_example": res(first_step_s), "first_step_W2": res(0.4)}
    if alone_s is not None:
        st["first_step_numba_floor"] = res(alone_s)
    return st


@pytest.mark.parametrize("got, met", [(0.29, True), (0.31, False)])
def test_target_report_puts_numba_alone_beside_the_first_step(got, met):
    text, verdicts = run.target_report({}, _startup(got, alone_s=0.375))
    first = [v for v in verdicts if v["measure"] == "first_step"]
    assert first == [{"workload": "-", "measure": "first_step", "target": 0.3, "got": got, "met": met,
                      "numba_alone": 0.375}]
    assert "Numba alone, one cached kernel measured the same way: 0.375 s" in text
    assert "Numba alone" in run.startup_table(_startup(got, alone_s=0.375))
    # results from before the floor was measured still print
    text, verdicts = run.target_report({}, _startup(got))
    assert "Numba alone" not in text and "numba_alone" not in verdicts[-1]
    assert "Numba alone" not in run.startup_table(_startup(got))


def test_numba_floor_runs_in_fresh_processes():
    """startup.numba_floor writes its one-kernel module, imports it and calls it in
    fresh processes, cold and warm, and reports the numbers first_step reports (a
    child that failed, or printed no timing, would raise here)."""
    res = startup.numba_floor(repeats=1)
    for state in ("cold", "warm"):
        r = res[state]
        assert set(r) == {"numpy_numba_import_s", "module_import_s", "first_step_s",
                          "module_import_and_first_step_s"}
        assert all(0 < v < 60 for v in r.values())
