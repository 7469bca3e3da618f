"""gradgen's runtime: what every generated module needs but its spec does not
decide, once, tested once (CONTRACT §1). Imports only numpy, numba and the
standard library (tqdm when installed, for progress bars).

    intrinsics      every use of Numba's internals: jit options, BLAS products, atomics
    kernels         compiled kernels shared by every epoch (bias sums, barrier, gather)
    threads         how an epoch is split over threads; BLAS held to one thread meanwhile
    workspace       the flat parameter buffers and per-batch arrays an epoch works in
    validation      input checks (ValueError before any compiled code runs)
    model           a generated module's description (Model, Kernels) and its API
    trainer         the Trainer: the training loop, prediction, scoring, checkpoints
    schedule        the learning-rate schedule's state (the rates are the module's)
    checkpoint      saving and loading trainers
    estimator       scikit-learn's estimator protocol (Classifier, Regressor)
    history         History and its notebook rendering
    progress        progress bars, and Ctrl-C between an epoch's compiled calls
    files           atomic file writes
"""
VERSION = "3"     # what generated modules are generated for; bumped when their contract with it changes

__all__ = ["VERSION", "require", "Model", "Kernels", "Trainer", "DivergenceError", "History",
           "Classifier", "Regressor", "NotFittedError"]

# The public names, imported on first use: the generator needs only `files` and
# VERSION, and should not pay for importing Numba.
_PUBLIC = {"Model": "model", "Kernels": "model", "Trainer": "trainer", "DivergenceError": "trainer",
           "History": "history", "Classifier": "estimator", "Regressor": "estimator",
           "NotFittedError": "sklearn_compat"}


def __getattr__(name):
    if name in _PUBLIC:
        import importlib
        return getattr(importlib.import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class RuntimeMismatchError(ImportError):
    """A generated module was generated for another version of the runtime."""


def require(version, module_name):
    """Called first by every generated module: refuse to run a module generated for
    another runtime (its kernels' calling conventions may differ)."""
    if version != VERSION:
        raise RuntimeMismatchError(
            f"{module_name} was generated for gradgen runtime {version!r}, but this is runtime "
            f"{VERSION!r}: regenerate it (`gradgen generate SPEC`)")
