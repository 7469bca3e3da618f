"""What a generated module tells the runtime about its spec: names, shapes, the
optimizer's settings and its compiled kernels, bound once at import (Model); and
the module-level API built on them: init_params, forward, loss, loss_and_grad."""
from dataclasses import dataclass, field

import numpy as np

from . import validation
from .schedule import ScheduleRule


@dataclass(frozen=True)
class Kernels:
    """The spec's compiled kernels (see a generated module for their docstrings)."""
    predict: object           # (X, W1, b1, ..., Z1, A1, ...): the output activations into A_L
    loss_only: object         # (X, Y, W1, b1, ..., Z1, A1, ...) -> (mean loss, correct predictions)
    loss_and_grad: object     # (X, Y, W1, ..., Z1, A1, ..., D1, ..., gW1, gb1, ...) -> mean loss
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
    schedule: ScheduleRule | None = None   # the [schedule], None without one
    class_weight: object = None       # [loss] class_weight: None, "balanced" or one weight per class
    dropout: list = field(default_factory=list)         # per layer: its dropout p while training (0: none)
    dropout_scales: list = field(default_factory=list)  # per layer: a kept unit's factor 1/(1 - p), or None

    @classmethod
    def from_namespace(cls, names):
        """The Model of a generated module, from its globals(): its constants and
        kernels under the names the generator gives them."""
        kernels = Kernels(predict=names["_predict"], loss_only=names["_loss_only"],
                          loss_and_grad=names["_loss_and_grad"], epoch=names["_epoch"],
                          epoch_threads=names["_epoch_threads"], spec_case=names["_spec_case"],
                          init_scale=names["_init_scale"])
        return cls(name=names["NAME"], spec=names["SPEC"], spec_digest=names["SPEC_DIGEST"],
                   dtype=names["DTYPE"], param_names=names["PARAM_NAMES"],
                   param_shapes=names["PARAM_SHAPES"], task=names["TASK"], loss_kind=names["LOSS"],
                   optimizer=names["OPTIMIZER"], layer_activations=names["LAYER_ACTIVATIONS"],
                   layer_inits=names["LAYER_INITS"], layer_learning_rates=names["LAYER_LEARNING_RATES"],
                   init_kinds=names["INIT_KINDS"], hyperparameters=names["HYPERPARAMETERS"],
                   hyper_order=names["HYPER_ORDER"], hyper_rules=names["HYPER_RULES"],
                   state_names=names["STATE_NAMES"], state_initial=names["STATE_INITIAL"],
                   training=names["TRAINING"], keeps_z=names["KEEPS_Z"], kernels=kernels,
                   check_settings=names.get("_check_settings"),
                   schedule=ScheduleRule.from_namespace(names), class_weight=names.get("CLASS_WEIGHT"),
                   dropout=names["DROPOUT"], dropout_scales=names["DROPOUT_SCALES"])

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

    def inputs(self, params, X, y=None):
        """(X, Y) checked and converted as the kernels take them, for checked params
        (Y None when y is)."""
        X = validation.check_X(self, X, params)
        return X, None if y is None else validation.check_y(self, y, X.shape[0], params[-1].shape[0])

    def data(self, params, X, y=None):
        """(params, X, Y) checked and converted as the kernels take them."""
        params = validation.check_params(self, params)
        return (params, *self.inputs(params, X, y))

    def layer_buffers(self, rows, params):
        """Z_l and A_l of every layer for `rows` rows, as the unfused kernels take them."""
        return [np.empty((rows, W.shape[1]), self.dtype) for W in params[::2] for _ in "ZA"]

    def predict(self, X, params):
        """The output activations of checked X (the kernels' own call)."""
        buffers = self.layer_buffers(X.shape[0], params)
        self.kernels.predict(X, *params, *buffers)
        return buffers[-1]

    def loss_only(self, X, Y, params):
        """(mean loss, correct predictions) of checked X, Y."""
        return self.kernels.loss_only(X, Y, *params, *self.layer_buffers(X.shape[0], params))

    def forward(self, params, X):
        """Output-layer activations for X, shape (n, n_out)."""
        params, X, _ = self.data(params, X)
        return self.predict(X, params)

    def loss(self, params, X, y):
        """Mean loss of (X, y), as PyTorch computes it."""
        params, X, Y = self.data(params, X, y)
        return float(self.loss_only(X, Y, params)[0])

    def loss_and_grad(self, params, X, y):
        """(mean loss, [dL/dW1, dL/db1, ...]) in param_names order."""
        params, X, Y = self.data(params, X, y)
        deltas = [np.empty((X.shape[0], W.shape[1]), self.dtype) for W in params[::2]]
        grads = [np.empty_like(p) for p in params]
        value = self.kernels.loss_and_grad(X, Y, *params, *self.layer_buffers(X.shape[0], params),
                                           *deltas, *grads)
        return float(value), grads
