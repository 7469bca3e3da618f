"""Fixed costs, each measured in fresh interpreters (subprocesses):

- derive + generate: `codegen.generate` on a 10-layer, 4096-wide spec (SymPy's work
  must not grow with the width), and on the 8-wide spec of the same depth;
- import + first step with Numba's cache warm: a generated module is imported and
  trained one step after a first process compiled it and filled the cache; the
  time of `import numpy, numba` (the interpreter's part, not the module's) is
  reported beside it.

    python benchmarks/startup.py            # prints JSON
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _python(code, env=None):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, env=dict(os.environ, **(env or {})), check=True)
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
t1 = time.perf_counter()
codegen.generate(wide_spec({width}, {depth}), out_dir=tempfile.mkdtemp())
t2 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "generate_s": t2 - t1}}))
"""
    runs = [_python(code) for _ in range(repeats)]
    return min(runs, key=lambda r: r["generate_s"])


def first_step(spec, rows=32, repeats=3):
    """With the cache warm: import numpy+numba, import the module, Trainer(), one step."""
    folder = tempfile.mkdtemp(prefix="gradgen_startup_")
    sys.path.insert(0, ROOT)
    from codegen import generate
    path = generate(spec, out_dir=folder)
    code = f"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np, numba
t1 = time.perf_counter()
sys.path.insert(0, {folder!r})
import {path.stem} as module
t2 = time.perf_counter()
rng = np.random.default_rng(0)
X = rng.normal(size=({rows}, module.PARAM_SHAPES[0][0])).astype(module.DTYPE)
y = rng.integers(0, module.PARAM_SHAPES[-1][0], size={rows})
t3 = time.perf_counter()
trainer = module.Trainer(seed=0)
trainer.step(X, y)
t4 = time.perf_counter()
print(json.dumps({{"numpy_numba_import_s": t1 - t0, "module_import_s": t2 - t1,
                  "first_step_s": t4 - t3, "module_import_and_first_step_s": t2 - t1 + t4 - t3}}))
"""
    cold = _python(code)                  # compiles and fills the cache
    warm = [_python(code) for _ in range(repeats)]
    best = min(warm, key=lambda r: r["module_import_and_first_step_s"])
    return {"cold": cold, "warm": best}


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
    }


if __name__ == "__main__":
    print(json.dumps(measure(), indent=1))
