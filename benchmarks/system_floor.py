"""The GEMM floor: one epoch's matrix products alone, the bound no system beats."""
import numpy as np

from system_base import System
from workloads import batches, gemm_shapes


class GemmFloor(System):
    name, label = "floor", "GEMM floor (NumPy)"
    note = "one epoch's matrix products alone: np.dot(a, b, out=) on preallocated operands"

    def setup(self, wl, dtype, X, y, params):
        self.X = X
        rng = np.random.default_rng(0)
        by_rows = {}
        self.plan = []
        for s, e in batches(len(X), wl.batch_size):
            if e - s not in by_rows:
                ops = []
                for kind, layer, a, b, ta, tb in gemm_shapes(wl, e - s):
                    # the first layer's products read the batch's rows of X itself
                    A = None if layer == 0 and kind != "delta" else rng.standard_normal(a).astype(dtype)
                    B = rng.standard_normal(b).astype(dtype)
                    out = np.empty((a[1] if ta else a[0], b[0] if tb else b[1]), dtype)
                    ops.append((A, B, ta, tb, out))
                by_rows[e - s] = ops
            self.plan.append((s, e, by_rows[e - s]))

    def run(self, epochs):
        for _ in range(epochs):
            for s, e, ops in self.plan:
                xb = self.X[s:e]
                for A, B, ta, tb, out in ops:
                    A = xb if A is None else A
                    np.dot(A.T if ta else A, B.T if tb else B, out=out)
        return [0.0] * epochs
