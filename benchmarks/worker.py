"""One system on one workload, in its own process, driven over a pipe.

Each system gets a process of its own: its libraries' thread pools, JIT caches and
memory do not touch the others', and an idle worker sleeps in conn.recv() while
another one is timed. The first command after setup times the first epoch, which
includes any compilation (Numba, XLA): gradgen's module is generated into a fresh
folder, so its Numba cache is cold.
"""
import os
import time
import traceback

THREADS = 2
# set by the workplace on some processors for older OpenBLAS builds; a current one then
# runs its older kernels at about half speed. A run unsets them for its own processes
# only (run.py), never for tests or CI, and each worker reports the kernel it loaded.
OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def thread_env(threads=THREADS):
    """Environment that pins every library's thread pool to `threads` (set before import)."""
    n = str(threads)
    return {
        "OMP_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n, "MKL_NUM_THREADS": n,
        "NUMBA_NUM_THREADS": n, "VECLIB_MAXIMUM_THREADS": n,
        "XLA_FLAGS": f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={n}",
        "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "2",
    }


def without_openblas_overrides(environ):
    """Remove OPENBLAS_OVERRIDES from environ (before any process that loads OpenBLAS
    starts); returns what was set, {name: value}."""
    return {name: environ.pop(name) for name in OPENBLAS_OVERRIDES if name in environ}


def blas_info():
    """Each BLAS library this process has loaded, as threadpoolctl sees it: its
    implementation, the kernel it picked for this processor ("architecture"), its
    version and threads; [] without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keys = ("internal_api", "prefix", "architecture", "version", "num_threads")
    return [{k: lib.get(k) for k in keys} for lib in threadpool_info() if lib.get("user_api") == "blas"]


def _limit_threads(threads):
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(threads)


def memory_mib():
    """This process's resident memory now and at its peak so far, in MiB, from Linux's
    /proc/self/status (VmRSS, VmHWM); None elsewhere. Not getrusage's ru_maxrss: Linux
    carries that across fork and exec, so a worker would report run.py's own peak."""
    found = {}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    found[key] = int(value.split()[0]) / 1024          # kB
    except OSError:
        pass
    return {"rss_mib": found.get("VmRSS"), "peak_rss_mib": found.get("VmHWM")}


def serve(conn, system, wl, dtype, rows, threads=THREADS):
    """Build `system` for workload `wl` (a workloads.Workload) in `dtype` and answer commands:
    ("epochs", k) -> ("ok", seconds, [epoch mean losses]);
    ("check",)    -> ("ok", per-batch losses or None, mean loss of one epoch through run);
    ("memory",)   -> ("ok", memory_mib());
    ("quit",).
    Its "ready" reply holds its BLAS libraries and its memory with the data loaded
    (`rss_data_mib`) and after setup (`rss_setup_mib`)."""
    try:
        os.environ.update(thread_env(threads))
        from systems import SYSTEMS
        from workloads import init_weights, load_data
        X, y = load_data(wl, dtype, rows)
        params = init_weights(wl)
        rss_data = memory_mib()["rss_mib"]
        limits = _limit_threads(threads)
        make = SYSTEMS[system]
        sys_ = make()
        sys_.setup(wl, dtype, X, y, params)
        if limits is not None:      # libraries loaded by setup get the limit too
            limits = _limit_threads(threads)
        conn.send(("ready", {"blas": blas_info(), "openblas_overrides": {
            name: os.environ[name] for name in OPENBLAS_OVERRIDES if name in os.environ},
            "rss_data_mib": rss_data, "rss_setup_mib": memory_mib()["rss_mib"]}))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
        return
    while True:
        cmd = conn.recv()
        try:
            if cmd[0] == "quit":
                return
            if cmd[0] == "epochs":
                start = time.perf_counter()
                losses = sys_.run(cmd[1])
                elapsed = time.perf_counter() - start
                conn.send(("ok", elapsed, losses))
            elif cmd[0] == "memory":
                conn.send(("ok", memory_mib()))
            elif cmd[0] == "check":
                per_batch = sys_.batch_losses()
                fresh = make()
                fresh.setup(wl, dtype, X, y, params)
                mean = fresh.run(1)[0]
                conn.send(("ok", None if per_batch is None else [float(v) for v in per_batch],
                           float(mean)))
            else:
                conn.send(("error", f"unknown command {cmd!r}"))
        except BaseException:
            conn.send(("error", traceback.format_exc()))
