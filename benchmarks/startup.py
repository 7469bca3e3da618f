"""Fixed costs, each measured in fresh interpreters (subprocesses):

- derive + generate: `codegen.generate` on a 10-layer, 4096-wide spec (SymPy's work
  must not grow with the width), and on the 8-wide spec of the same depth;
- import + first step with Numba's cache warm: a generated module is imported and
  trained one step after a first process compiled it and filled the cache; the
  time of `import numpy, numba` (the interpreter's part, not the module's) is
  reported beside it. Numba's own share is measured the same way on a module of
  one cached kernel (NUMBA_FLOOR): loading any cached kernel first initialises
  Numba's compiler context, which imports its implementation modules and, through
  its BLAS check, SciPy's linalg, whatever the kernel is. Python's bytecode cache
  is on in these processes (PYTHONDONTWRITEBYTECODE is dropped), as in a default
  Python, so "cache warm" covers the module's .pyc as well as Numba's cache.

    python benchmarks/startup.py            # prints JSON
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _python(code):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def wide_spec(width, depth=10):
    return {"name": f"wide_{depth}x{width}", "inputs": width, "dtype": "float32",
            "layers": [{"units": width, "activation": "relu"} for _ in range(depth - 1)]
            + [{"units": 10, "activation": "softmax"}],
            "loss": {"kind": "cross_entropy"}, "optimizer": {"kind": "adam", "learning_rate": 1e-3}}


def derive_generate(width, depth=10, repeats=3):
    """Seconds of codegen.generate(spec) in a fresh process (imports excluded; the best
    of `repeats` processes), and of the imports it needs."""
    code = f"""
import json, sys, tempfile, time
t0 = time.perf_counter()
sys.path.insert(0, {ROOT!r}); sys.path.insert(0, {HERE!r})
import codegen
from startup import wide_spec
with tempfile.TemporaryDirectory() as folder:
    t1 = time.perf_counter()
    codegen.generate(wide_spec({width}, {depth}), out_dir=folder)
    t2 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "generate_s": t2 - t1}}))
"""
    runs = [_python(code) for _ in range(repeats)]
    return min(runs, key=lambda r: r["generate_s"])


# The least a Numba module can be: one small cached kernel, imported and called once;
# its time is Numba's own, not gradgen's.
NUMBA_FLOOR = '''from numba import njit


@njit(cache=True)
def total(a):
    s = 0.0
    for i in range(a.shape[0]):
        s += a[i]
    return s
'''


def _import_and_call(folder, module, call, repeats):
    """Seconds to import `module` from `folder` and run call = (setup, statement): the
    import and the statement are timed, the setup between them is not. In fresh
    processes: once compiling (cold), then the best of `repeats` with the caches warm."""
    code = f"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np, numba
t1 = time.perf_counter()
sys.path.insert(0, {folder!r})
import {module} as module
t2 = time.perf_counter()
{call[0]}
t3 = time.perf_counter()
{call[1]}
t4 = time.perf_counter()
print(json.dumps({{"numpy_numba_import_s": t1 - t0, "module_import_s": t2 - t1,
                  "first_step_s": t4 - t3, "module_import_and_first_step_s": t2 - t1 + t4 - t3}}))
"""
    cold = _python(code)                  # compiles and fills the caches
    warm = [_python(code) for _ in range(repeats)]
    best = min(warm, key=lambda r: r["module_import_and_first_step_s"])
    return {"cold": cold, "warm": best}


def first_step(spec, rows=32, repeats=3):
    """With the caches warm: import the module, Trainer(), one step (after numpy+numba)."""
    sys.path.insert(0, ROOT)
    from codegen import generate
    setup = (f"rng = np.random.default_rng(0)\n"
             f"X = rng.normal(size=({rows}, module.PARAM_SHAPES[0][0])).astype(module.DTYPE)\n"
             f"y = rng.integers(0, module.PARAM_SHAPES[-1][0], size={rows})")
    with tempfile.TemporaryDirectory(prefix="gradgen_startup_") as folder:
        path = generate(spec, out_dir=folder)
        return _import_and_call(folder, path.stem, (setup, "module.Trainer(seed=0).step(X, y)"), repeats)


def numba_floor(repeats=3):
    """The same measurement for NUMBA_FLOOR's one kernel, on 64 float32s."""
    with tempfile.TemporaryDirectory(prefix="gradgen_startup_") as folder:
        with open(os.path.join(folder, "numba_floor.py"), "w") as fh:
            fh.write(NUMBA_FLOOR)
        return _import_and_call(folder, "numba_floor", ("a = np.ones(64, np.float32)", "module.total(a)"),
                                repeats)


def measure():
    sys.path.insert(0, HERE)
    from workloads import WORKLOADS, gradgen_spec
    digits = os.path.join(ROOT, "examples", "digits.toml")
    from derive import load_spec
    return {
        "derive_generate_10x4096": derive_generate(4096),
        "derive_generate_10x8": derive_generate(8),
        "first_step_digits_example": first_step(load_spec(digits).to_dict()),
        "first_step_W2": first_step(gradgen_spec(WORKLOADS["W2"]), rows=128),
        "first_step_numba_floor": numba_floor(),
    }


if __name__ == "__main__":
    print(json.dumps(measure(), indent=1))
