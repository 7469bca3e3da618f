"""What a generated module tells the runtime about its spec: names, shapes, the
optimizer's settings and its compiled kernels, bound once at import (Model); and
the module-level API built on them: init_params, forward, loss, loss_and_grad."""
from dataclasses import dataclass, field

import numpy as np

from . import validation


@dataclass(frozen=True)
class Kernels:
    """The spec's compiled kernels (see a generated module for their docstrings)."""
    predict: object           # (X, W1, b1, ...) -> output activations
    loss_only: object         # (X, Y, W1, b1, ...) -> (mean loss, correct predictions)
    loss_and_grad: object     # (X, Y, W1, b1, ...) -> (mean loss, (gW1, gb1, ...))
    epoch: object             # the fused epoch on one thread
    epoch_threads: object     # the same on several threads (threads.run_threads)
    spec_case: object         # hyper-parameter vector -> whether the specialised update applies
    init_scale: object        # (scheme, fan_in, fan_out) -> uniform bound or normal std


@dataclass(frozen=True, eq=False)
class Model:
    """One generated module's spec, as the runtime's Trainer and Estimator read it."""
    name: str
    spec: dict
    spec_digest: str
    dtype: np.dtype
    param_names: list
    param_shapes: list
    task: str                         # "multiclass" | "binary" | "regression"
    loss_kind: str
    optimizer: str
    layer_activations: list
    layer_inits: list
    layer_learning_rates: list        # None: the optimizer's learning_rate
    init_kinds: dict                  # scheme -> (distribution, whether the bias is drawn too)
    hyperparameters: dict             # the spec's optimizer settings (defaults of the Trainer)
    hyper_order: list                 # the hyper-parameters the kernels take, in order
    hyper_rules: dict                 # name -> (kind, minimum, exclusive upper bound)
    state_names: list
    state_initial: dict               # state -> the hyper-parameter it starts at (else 0)
    training: dict                    # the spec's [training] settings
    keeps_z: list                     # per layer: whether the epoch keeps Z (the backward pass reads it)
    kernels: Kernels = field(repr=False)
    check_settings: object = None     # hyper dict -> None, or raises ValueError (cross-field rules)

    @property
    def n_layers(self):
        return len(self.param_names) // 2

    # -- the module-level API (CONTRACT §5)
    def init_params(self, seed=0, widths=None):
        """Fresh parameters [W1, b1, ...] from each layer's init scheme, seeded.

        widths: (n_inputs, n_1, ..., n_out) for a network of other widths than the
        spec's (the kernels take the widths from the arrays); default the spec's."""
        rng = np.random.default_rng(seed)
        if widths is None:
            shapes = self.param_shapes[::2]
        else:
            widths = validation.check_widths(self.n_layers, widths)
            shapes = list(zip(widths[:-1], widths[1:]))
        params = []
        for (n_in, n_out), scheme in zip(shapes, self.layer_inits):
            kind, bias_too = self.init_kinds[scheme]
            scale = self.kernels.init_scale(scheme, n_in, n_out)
            for shape, draw in (((n_in, n_out), True), ((n_out,), bias_too)):
                if kind == "uniform" and draw:
                    value = rng.uniform(-scale, scale, size=shape)
                elif kind == "normal" and draw:
                    value = rng.normal(0.0, scale, size=shape)
                else:
                    value = np.zeros(shape)
                params.append(np.ascontiguousarray(value, dtype=self.dtype))
        return params

    def data(self, params, X, y=None):
        """(params, X, Y) checked and converted as the kernels take them."""
        params = validation.check_params(self, params)
        X = validation.check_X(self, X, params)
        if y is None:
            return params, X, None
        return params, X, validation.check_y(self, y, X.shape[0], params[-1].shape[0])

    def forward(self, params, X):
        """Output-layer activations for X, shape (n, n_out)."""
        params, X, _ = self.data(params, X)
        return self.kernels.predict(X, *params)

    def loss(self, params, X, y):
        """Mean loss of (X, y), as PyTorch computes it."""
        params, X, Y = self.data(params, X, y)
        return float(self.kernels.loss_only(X, Y, *params)[0])

    def loss_and_grad(self, params, X, y):
        """(mean loss, [dL/dW1, dL/db1, ...]) in param_names order."""
        params, X, Y = self.data(params, X, y)
        value, grads = self.kernels.loss_and_grad(X, Y, *params)
        return float(value), list(grads)
