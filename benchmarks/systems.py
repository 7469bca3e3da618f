"""The systems the benchmark compares. Each one trains a workload's network on the
same data, from the same initial weights, with the same batches (no shuffling);
system_base.py says what a system answers, and each system_*.py holds one family.

The peers are written as a user of each library would write them: idiomatic code,
the library's own optimizer where it has one, data staged once before timing.
"""
from system_floor import GemmFloor
from system_gradgen import Gradgen, GradgenOneThread
from system_jax import JaxJit, JaxScan
from system_numba import NumbaRef
from system_numpy import NumpyRef
from system_sklearn import Sklearn
from system_torch import TorchEager

SYSTEMS = {s.name: s for s in (Gradgen, GradgenOneThread, TorchEager, JaxJit, JaxScan, Sklearn, NumpyRef, NumbaRef, GemmFloor)}
ORDER = ["gradgen", "gradgen_1t", "torch", "jax_jit", "jax_scan", "sklearn", "numpy", "numba", "floor"]
