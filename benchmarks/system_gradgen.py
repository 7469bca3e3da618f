"""gradgen itself, as a user runs it: the generated module's Trainer.fit."""
import tempfile

from system_base import System
from workloads import batches


class Gradgen(System):
    name, label = "gradgen", "gradgen (Numba)"
    note = ("Trainer.fit(X, y, epochs=k, shuffle=False); the module is generated into a fresh "
            "folder (cold Numba cache); the first epoch includes importing it and compiling")

    _modules = {}       # (workload, dtype) -> (folder, path, module): one per process

    def setup(self, wl, dtype, X, y, params):
        from codegen import generate
        from workloads import gradgen_spec
        key = (wl.id, dtype)
        if key not in self._modules:
            folder = tempfile.TemporaryDirectory(prefix="gradgen_bench_")
            path = generate(gradgen_spec(wl, dtype), out_dir=folder.name)
            self._modules[key] = [folder, path, None]
        self.key, self.wl, self.X, self.y = key, wl, X, y
        self.params = [p.astype(dtype) for p in params]
        self.trainer = None

    def _trainer(self):
        """Import the module (first use) and make the trainer: part of the first epoch."""
        if self.trainer is None:
            entry = self._modules[self.key]
            if entry[2] is None:
                from gradgen.loader import import_generated
                entry[2] = import_generated(entry[1])
            self.trainer = entry[2].Trainer(params=self.params)
        return self.trainer

    def run(self, epochs):
        history = self._trainer().fit(self.X, self.y, epochs=epochs, batch_size=self.wl.batch_size,
                                      shuffle=False, progress=False)
        return list(history.loss)

    def batch_losses(self):
        """Per-batch losses through Trainer.step (the same compiled epoch, one batch at a time)."""
        trainer = self._trainer()
        return [trainer.step(self.X[s:e], self.y[s:e])
                for s, e in batches(len(self.X), self.wl.batch_size)]


class GradgenOneThread(Gradgen):
    """The same module with its own threads off (`threads.THREADS = 1`): every epoch
    runs `_epoch`, OpenBLAS splitting the products on its two threads. Issue 19 keeps
    the threaded epoch only while gradgen beats this beyond the run's spread."""
    name, label = "gradgen_1t", "gradgen, own threads off"
    note = "as gradgen, with gradgen.runtime.threads.THREADS = 1 (BLAS keeps its 2 threads)"

    def missing(self, wl):
        import numpy as np
        from gradgen.runtime.threads import thread_count
        widths = [wl.inputs] + [layer.units for layer in wl.layers]
        weights = [np.empty((a, b), np.float32) for a, b in zip(widths, widths[1:])]
        if thread_count(wl.batch_size, [w for W in weights for w in (W, W[0])]) == 1:
            return "gradgen runs this workload on one thread already"
        return None

    def setup(self, wl, dtype, X, y, params):
        from gradgen.runtime import threads
        threads.THREADS = 1
        super().setup(wl, dtype, X, y, params)
