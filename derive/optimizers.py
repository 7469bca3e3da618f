"""The optimizer registry: hyper-parameters (with torch.optim's defaults and checks)
and the update rule as ordered SymPy assignments.

An update rule is imperative, like torch.optim's code and its documentation:
per-step scalars first (bias corrections and the like), then per-element
assignments `target <- expr` where a target is a temporary, a state buffer or
the parameter `p`. Conditions on hyper-parameters are Piecewise, so one kernel
serves every setting and the derivation can show the spec's own case.
"""
import math
from dataclasses import dataclass

import sympy as sp

from .clipping import with_clipping
from .symbols import g, p, t

# hyper-parameter symbols (runtime values of the generated kernels)
lr = sp.Symbol("lr", positive=True)
momentum = sp.Symbol("momentum", nonnegative=True)
dampening = sp.Symbol("dampening", real=True)
nesterov = sp.Symbol("nesterov")
amsgrad = sp.Symbol("amsgrad")
weight_decay = sp.Symbol("weight_decay", nonnegative=True)
beta1, beta2 = sp.symbols("beta1 beta2", positive=True)
eps = sp.Symbol("eps", positive=True)
alpha = sp.Symbol("alpha", nonnegative=True)
centered = sp.Symbol("centered")
lr_decay = sp.Symbol("lr_decay", nonnegative=True)
initial_accumulator_value = sp.Symbol("initial_accumulator_value", nonnegative=True)

# state buffers, one per parameter element
buf = sp.Symbol("momentum_buffer", real=True)
exp_avg = sp.Symbol("exp_avg", real=True)
exp_avg_sq = sp.Symbol("exp_avg_sq", real=True)
max_exp_avg_sq = sp.Symbol("max_exp_avg_sq", real=True)
square_avg = sp.Symbol("square_avg", real=True)
grad_avg = sp.Symbol("grad_avg", real=True)
state_sum = sp.Symbol("state_sum", real=True)
avg = sp.Symbol("avg", positive=True)            # a per-element temporary

# per-step scalars
bias_correction1, bias_correction2 = sp.symbols("bias_correction1 bias_correction2", positive=True)
step_size = sp.Symbol("step_size", positive=True)
clr = sp.Symbol("clr", positive=True)


@dataclass(frozen=True)
class Hyper:
    """One hyper-parameter: its spec key, default, type and allowed range."""

    name: str
    default: object
    kind: str = "float"              # "float" | "bool" | "pair" | "optional" (None: off, else > 0)
    symbols: tuple = ()              # the runtime symbols it sets (two for a pair)
    minimum: float | None = 0.0      # inclusive lower bound
    below: float | None = None       # exclusive upper bound

    def validate(self, value):
        """Return the value normalised (float, bool or tuple of floats); raise ValueError."""
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"must be true or false, not {value!r}")
            return value
        if self.kind == "optional":
            if value is None:
                return None
            value = self._number(value)
            if value <= 0:
                raise ValueError(f"must be > 0 (leave it out for none), not {value:g}")
            return value
        if self.kind == "pair":
            if not isinstance(value, (list, tuple)) or len(value) != 2:
                raise ValueError(f"must be a list of two numbers, not {value!r}")
            return tuple(self._number(v) for v in value)
        return self._number(value)

    def _number(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"must be a number, not {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"must be finite, not {value!r}")
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"must be >= {self.minimum:g}, not {value:g}")
        if self.below is not None and value >= self.below:
            raise ValueError(f"must be in [{self.minimum:g}, {self.below:g}), not {value:g}")
        return value


@dataclass(frozen=True)
class Rule:
    """An optimizer's update: per-step scalars, then per-element assignments."""

    scalars: tuple        # ((symbol, expr), ...) computed once per step and parameter group
    element: tuple        # ((target, expr), ...) in order, per parameter element
    states: tuple         # state buffer symbols, zero-initialised like torch's lazily made state
    initial: tuple = ()   # ((state, hyper-parameter name), ...): states that start at a value


@dataclass(frozen=True)
class Optimizer:
    name: str
    title: str
    hyperparameters: tuple
    rule: Rule
    refusals: tuple = ()              # Refusal entries: cross-field rules on the hyper-parameters
    doc: str = ""
    cycled: str | None = None         # the hyper-parameter one_cycle's cycle_momentum moves (torch's rule)

    @property
    def runtime_symbols(self):
        """The hyper-parameter symbols a kernel takes at run time, in a fixed order."""
        return tuple(s for h in self.hyperparameters for s in h.symbols)

    def runtime_values(self, values):
        """Values of runtime_symbols, from a validated hyper-parameter dict."""
        out = []
        for h in self.hyperparameters:
            v = values[h.name]
            if h.kind == "optional" and v is None:
                v = 0.0                   # off
            out.extend(v if h.kind == "pair" else [float(v)] if h.symbols else [])
        return out


LEARNING_RATE = "learning_rate"   # per parameter group, not one of runtime_symbols


def _with_weight_decay():
    return (g, sp.Piecewise((g + weight_decay * p, sp.Ne(weight_decay, 0)), (g, True)))


def _sgd_rule():
    use_momentum = sp.Ne(momentum, 0)
    return Rule(
        scalars=(),
        element=(
            _with_weight_decay(),
            (buf, sp.Piecewise(
                (g, sp.And(use_momentum, sp.Eq(t, 1))),
                (momentum * buf + (1 - dampening) * g, use_momentum),
                (buf, True))),
            (g, sp.Piecewise(
                (g + momentum * buf, sp.And(use_momentum, nesterov)),
                (buf, use_momentum),
                (g, True))),
            (p, p - lr * g),
        ),
        states=(buf,),
    )


def _adam_rule(decoupled=False):
    """Adam; AdamW (decoupled) shrinks the parameter instead of adding to the gradient."""
    second = sp.Piecewise((max_exp_avg_sq, amsgrad), (exp_avg_sq, True))
    decay = ((p, sp.Piecewise((p * (1 - lr * weight_decay), sp.Ne(weight_decay, 0)), (p, True)))
             if decoupled else _with_weight_decay())
    return Rule(
        scalars=(
            (bias_correction1, 1 - beta1 ** t),
            (bias_correction2, 1 - beta2 ** t),
            (step_size, lr / bias_correction1),
        ),
        element=(
            decay,
            (exp_avg, beta1 * exp_avg + (1 - beta1) * g),
            (exp_avg_sq, beta2 * exp_avg_sq + (1 - beta2) * g ** 2),
            (max_exp_avg_sq, sp.Piecewise((sp.Max(max_exp_avg_sq, exp_avg_sq), amsgrad),
                                          (max_exp_avg_sq, True))),
            (p, p - step_size * exp_avg / (sp.sqrt(second) / sp.sqrt(bias_correction2) + eps)),
        ),
        states=(exp_avg, exp_avg_sq, max_exp_avg_sq),
    )


def _rmsprop_rule():
    use_momentum = momentum > 0
    return Rule(
        scalars=(),
        element=(
            _with_weight_decay(),
            (square_avg, alpha * square_avg + (1 - alpha) * g ** 2),
            (grad_avg, sp.Piecewise((alpha * grad_avg + (1 - alpha) * g, centered), (grad_avg, True))),
            (avg, sp.Piecewise((sp.sqrt(square_avg - grad_avg ** 2), centered),
                               (sp.sqrt(square_avg), True)) + eps),
            (buf, sp.Piecewise((momentum * buf + g / avg, use_momentum), (buf, True))),
            (p, sp.Piecewise((p - lr * buf, use_momentum), (p - lr * g / avg, True))),
        ),
        states=(square_avg, grad_avg, buf),
    )


def _adagrad_rule():
    return Rule(
        scalars=((clr, lr / (1 + (t - 1) * lr_decay)),),
        element=(
            _with_weight_decay(),
            (state_sum, state_sum + g ** 2),
            (p, p - clr * g / (sp.sqrt(state_sum) + eps)),
        ),
        states=(state_sum,),
        initial=((state_sum, "initial_accumulator_value"),),
    )


@dataclass(frozen=True)
class Refusal:
    """A combination of hyper-parameters the optimizer refuses, as torch.optim does: a
    SymPy condition on the runtime symbols, the key it is reported under, and why.
    The spec's validation evaluates it; the generated module prints it (Trainer
    overrides are checked the same way)."""
    when: object
    key: str
    message: str

    def holds(self, values):
        """Whether the condition holds at a validated hyper-parameter dict."""
        subs = {s: (sp.true if values[s.name] else sp.false) if isinstance(values[s.name], bool)
                else 0 if values[s.name] is None else values[s.name] for s in self.when.free_symbols}
        return bool(self.when.subs(subs))


_SGD_REFUSALS = (Refusal(sp.And(nesterov, sp.Or(momentum <= 0, sp.Ne(dampening, 0))), "nesterov",
                         "Nesterov momentum requires a momentum > 0 and zero dampening"),)


def _lr(default):
    return Hyper(LEARNING_RATE, default, symbols=())


OPTIMIZERS = {
    opt.name: with_clipping(opt, Hyper, Refusal)   # every optimizer takes clip_grad_norm / _value
    for opt in (
        Optimizer(
            "sgd", "Stochastic gradient descent",
            (_lr(1e-3),
             Hyper("momentum", 0.0, symbols=(momentum,)),
             Hyper("dampening", 0.0, symbols=(dampening,), minimum=None),
             Hyper("nesterov", False, kind="bool", symbols=(nesterov,)),
             Hyper("weight_decay", 0.0, symbols=(weight_decay,))),
            _sgd_rule(), refusals=_SGD_REFUSALS, cycled="momentum",
            doc="torch.optim.SGD: weight decay added to the gradient; the momentum "
                "buffer starts as the first gradient."),
        Optimizer(
            "adam", "Adam",
            (_lr(1e-3),
             Hyper("betas", (0.9, 0.999), kind="pair", symbols=(beta1, beta2), below=1.0),
             Hyper("eps", 1e-8, symbols=(eps,)),
             Hyper("weight_decay", 0.0, symbols=(weight_decay,)),
             Hyper("amsgrad", False, kind="bool", symbols=(amsgrad,))),
            _adam_rule(), cycled="betas",
            doc="torch.optim.Adam: weight decay added to the gradient (L2), bias-corrected moments."),
        Optimizer(
            "adamw", "AdamW",
            (_lr(1e-3),
             Hyper("betas", (0.9, 0.999), kind="pair", symbols=(beta1, beta2), below=1.0),
             Hyper("eps", 1e-8, symbols=(eps,)),
             Hyper("weight_decay", 1e-2, symbols=(weight_decay,)),
             Hyper("amsgrad", False, kind="bool", symbols=(amsgrad,))),
            _adam_rule(decoupled=True), cycled="betas",
            doc="torch.optim.AdamW: decoupled weight decay (the parameter shrinks by "
                "lr * weight_decay before the Adam step)."),
        Optimizer(
            "rmsprop", "RMSprop",
            (_lr(1e-2),
             Hyper("alpha", 0.99, symbols=(alpha,)),
             Hyper("eps", 1e-8, symbols=(eps,)),
             Hyper("weight_decay", 0.0, symbols=(weight_decay,)),
             Hyper("momentum", 0.0, symbols=(momentum,)),
             Hyper("centered", False, kind="bool", symbols=(centered,))),
            _rmsprop_rule(), cycled="momentum",
            doc="torch.optim.RMSprop: eps added outside the square root; centered subtracts "
                "the squared running mean gradient."),
        Optimizer(
            "adagrad", "Adagrad",
            (_lr(1e-2),
             Hyper("lr_decay", 0.0, symbols=(lr_decay,)),
             Hyper("eps", 1e-10, symbols=(eps,)),
             Hyper("weight_decay", 0.0, symbols=(weight_decay,)),
             Hyper("initial_accumulator_value", 0.0, symbols=(initial_accumulator_value,))),
            _adagrad_rule(),
            doc="torch.optim.Adagrad: the step size decays as lr / (1 + (t - 1) lr_decay); "
                "the sum of squared gradients starts at initial_accumulator_value."),
    )
}
