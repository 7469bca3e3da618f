"""What every system of the benchmark answers (systems.py lists them). A system has
    missing()             -> None, or why it cannot run here (not installed, does not apply)
    setup(wl, dtype, X, y, params)   builds the model; no training, no compilation
    run(epochs)           -> [mean loss of each epoch]  (the timed call)
    batch_losses()        -> per-batch losses of one epoch, or None (the float64 check)
"""
import importlib.util


def _installed(module):
    return importlib.util.find_spec(module) is not None


class System:
    name = ""
    label = ""
    note = ""

    def missing(self, wl):
        return None

    def setup(self, wl, dtype, X, y, params):
        raise NotImplementedError

    def run(self, epochs):
        raise NotImplementedError

    def batch_losses(self):
        return None
