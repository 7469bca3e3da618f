"""The learning-rate schedule registry: each torch.optim.lr_scheduler class the spec's
[schedule] names, as its parameters (torch's defaults and checks) and its rate as a
SymPy expression, from which the derivation shows eta and the generated module
prints the function that computes it.

An epoch schedule's rate is a closed form in e, the epochs completed, and eta_0, a
parameter group's own rate (torch's base_lr); one_cycle's is a piecewise form in s,
the optimizer steps taken, and T, the total steps, with eta_max per group; plateau
has no closed form: it lowers the rate, eta <- max(eta * factor, eta_min), when the
watched loss has not improved (improved(current, best)) for `patience` epochs.
"""
import math
import numbers
from dataclasses import dataclass

import sympy as sp

e = sp.Symbol("e", integer=True, nonnegative=True)         # epochs completed
s = sp.Symbol("s", integer=True, nonnegative=True)         # optimizer steps taken (one_cycle)
T = sp.Symbol("T", integer=True, positive=True)            # one_cycle's total steps
eta0 = sp.Symbol("eta_0", positive=True)                   # a group's initial rate
eta_e = sp.Symbol("eta_e", positive=True)                  # the rate of epoch e
eta_s = sp.Symbol("eta_s", positive=True)                  # the rate of step s
eta = sp.Symbol("eta_now", positive=True)                  # plateau: the current rate
mu_s = sp.Symbol("mu_s", positive=True)                    # one_cycle: the cycled momentum
current, best = sp.symbols("current best", real=True)      # plateau: the watched loss

# parameter symbols, named as torch names them
gamma = sp.Symbol("gamma", positive=True)
step_size = sp.Symbol("step_size_e", integer=True, positive=True)
T_max = sp.Symbol("T_max", integer=True, positive=True)
eta_min = sp.Symbol("eta_min", nonnegative=True)
start_factor, end_factor = sp.symbols("start_factor end_factor", positive=True)
total_iters = sp.Symbol("total_iters", integer=True, positive=True)
eta_max = sp.Symbol("eta_max", positive=True)
pct_start = sp.Symbol("pct_start", positive=True)
div_factor, final_div_factor = sp.symbols("div_factor final_div_factor", positive=True)
base_momentum, max_momentum = sp.symbols("base_momentum max_momentum", positive=True)
factor = sp.Symbol("factor", positive=True)
threshold = sp.Symbol("threshold", nonnegative=True)


@dataclass(frozen=True)
class Param:
    """One schedule parameter: its key, default (None: required), kind and range."""
    name: str
    default: object = None
    kind: str = "float"        # float | int | bool | choice | ints (a list) | rate (a number or one per layer)
    minimum: float | None = 0.0
    maximum: float | None = None
    below: float | None = None      # exclusive upper bound
    above: float | None = None      # exclusive lower bound
    choices: tuple = ()
    symbol: object = None           # the symbol the rate is written in, if any

    def validate(self, value, n_layers):
        """The value normalised; ValueError saying what is wrong."""
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"expected true or false, not {value!r}")
            return value
        if self.kind == "choice":
            if value not in self.choices:
                raise ValueError(f"must be one of {', '.join(map(repr, self.choices))}, not {value!r}")
            return value
        if self.kind == "ints":
            if not isinstance(value, (list, tuple)) or not value:
                raise ValueError(f"expected a non-empty list of epochs, not {value!r}")
            out = [self._int(v) for v in value]
            if out != sorted(out):
                raise ValueError(f"must be in increasing order, not {out}")
            return tuple(out)
        if self.kind == "rate" and isinstance(value, (list, tuple)):
            if len(value) != n_layers:
                raise ValueError(f"expected one number or one per layer ({n_layers}), got {len(value)}")
            return tuple(self._float(v) for v in value)
        if self.kind == "int":
            return self._int(value)
        return self._float(value)

    def _int(self, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f"expected an integer, not {value!r}")
        return self._range(int(value))

    def _float(self, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"expected a number, not {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"must be finite, not {value!r}")
        return self._range(value)

    def _range(self, value):
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"must be >= {self.minimum:g}, not {value:g}")
        if self.above is not None and value <= self.above:
            raise ValueError(f"must be > {self.above:g}, not {value:g}")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"must be <= {self.maximum:g}, not {value:g}")
        if self.below is not None and value >= self.below:
            raise ValueError(f"must be < {self.below:g}, not {value:g}")
        return value


@dataclass(frozen=True)
class Schedule:
    """One schedule: torch's class, its parameters, and its rule (`rate(values)`: the
    rate as SymPy in eta_0 and e, or for one_cycle in eta_max, s and T, with the
    parameters as symbols; `values` supplies what is not a symbol, such as milestones)."""
    name: str
    torch: str
    title: str
    params: tuple
    rate: object = None              # values -> sp.Expr, None for plateau
    momentum: object = None          # values -> sp.Expr (one_cycle's cycled momentum)
    per_batch: bool = False          # stepped after every batch (one_cycle) instead of every epoch
    doc: str = ""

    def symbol_values(self, values):
        """{parameter symbol: its value} for the parameters the rate is written in."""
        return {p.symbol: values[p.name] for p in self.params
                if p.symbol is not None and not isinstance(values[p.name], tuple)}


def _anneal(strategy, start, end, pct):
    """OneCycleLR's _annealing_cos / _annealing_linear, from start to end as pct goes 0 -> 1."""
    if strategy == "cos":
        return end + (start - end) / 2 * (sp.cos(sp.pi * pct) + 1)
    return (end - start) * pct + start


def _phases(values, start, peak, low):
    """OneCycleLR's phases as a Piecewise in s: (end_step, from, to) each; the last
    phase takes every later step, as torch's loop does."""
    initial = values["_initial"]
    ends = ([pct_start * T - 1, T - 1] if not values["three_phase"]
            else [pct_start * T - 1, 2 * pct_start * T - 2, T - 1])
    points = ([(start, peak), (peak, low)] if not values["three_phase"]
              else [(start, peak), (peak, initial), (initial, low)])
    pieces, begin = [], sp.S.Zero
    for n, (end_step, (a, b)) in enumerate(zip(ends, points)):
        value = _anneal(values["anneal_strategy"], a, b, (s - begin) / (end_step - begin))
        pieces.append((value, True if n == len(ends) - 1 else s <= end_step))
        begin = end_step
    return sp.Piecewise(*pieces)


def _one_cycle_rate(values):
    initial = eta_max / div_factor
    return _phases(dict(values, _initial=initial), initial, eta_max, initial / final_div_factor)


def _one_cycle_momentum(values):
    """max -> base -> max (three phases: max -> base -> max -> max), against the rate."""
    return _phases(dict(values, _initial=max_momentum), max_momentum, base_momentum, max_momentum)


def _multistep(values):
    count = sum((sp.Heaviside(e - m, 1) for m in values["milestones"]), sp.S.Zero)
    return eta0 * gamma ** count


_GAMMA = Param("gamma", 0.1, above=0.0, symbol=gamma)

SCHEDULES = {
    sch.name: sch
    for sch in (
        Schedule("step", "StepLR", "Step decay",
                 (Param("step_size", kind="int", minimum=1, symbol=step_size), _GAMMA),
                 rate=lambda v: eta0 * gamma ** sp.floor(e / step_size),
                 doc="the rate is multiplied by gamma every step_size epochs."),
        Schedule("multistep", "MultiStepLR", "Multi-step decay",
                 (Param("milestones", kind="ints", minimum=1), _GAMMA),
                 rate=_multistep,
                 doc="the rate is multiplied by gamma at each milestone epoch "
                     "(H(e - m) = 1 from epoch m on)."),
        Schedule("exponential", "ExponentialLR", "Exponential decay",
                 (Param("gamma", above=0.0, symbol=gamma),),
                 rate=lambda v: eta0 * gamma ** e,
                 doc="the rate is multiplied by gamma after every epoch."),
        Schedule("cosine", "CosineAnnealingLR", "Cosine annealing",
                 (Param("T_max", kind="int", minimum=1, symbol=T_max),
                  Param("eta_min", 0.0, symbol=eta_min)),
                 rate=lambda v: eta_min + (eta0 - eta_min) * (1 + sp.cos(sp.pi * e / T_max)) / 2,
                 doc="half a cosine from each group's rate down to eta_min over T_max epochs "
                     "(and back up after, as torch's)."),
        Schedule("linear", "LinearLR", "Linear warm-up or decay",
                 (Param("start_factor", 1.0 / 3, above=0.0, maximum=1.0, symbol=start_factor),
                  Param("end_factor", 1.0, maximum=1.0, symbol=end_factor),
                  Param("total_iters", 5, kind="int", minimum=1, symbol=total_iters)),
                 rate=lambda v: eta0 * (start_factor + (end_factor - start_factor)
                                        * sp.Min(total_iters, e) / total_iters),
                 doc="the factor of each group's rate goes linearly from start_factor to "
                     "end_factor over total_iters epochs, then stays."),
        Schedule("one_cycle", "OneCycleLR", "One cycle",
                 (Param("max_lr", kind="rate", above=0.0, symbol=eta_max),
                  Param("pct_start", 0.3, maximum=1.0, symbol=pct_start),
                  Param("anneal_strategy", "cos", kind="choice", choices=("cos", "linear")),
                  Param("div_factor", 25.0, above=0.0, symbol=div_factor),
                  Param("final_div_factor", 1e4, above=0.0, symbol=final_div_factor),
                  Param("three_phase", False, kind="bool"),
                  Param("cycle_momentum", True, kind="bool"),
                  Param("base_momentum", 0.85, maximum=1.0, symbol=base_momentum),
                  Param("max_momentum", 0.95, maximum=1.0, symbol=max_momentum)),
                 rate=_one_cycle_rate, momentum=_one_cycle_momentum, per_batch=True,
                 doc="stepped after every batch: up from eta_max/div_factor to eta_max over "
                     "pct_start of the T = epochs x batches-per-epoch steps, then down to "
                     "eta_max/(div_factor final_div_factor); with cycle_momentum the momentum "
                     "(SGD, RMSprop) or beta1 (Adam, AdamW) moves the other way."),
        Schedule("plateau", "ReduceLROnPlateau", "Reduce on plateau",
                 (Param("mode", "min", kind="choice", choices=("min", "max")),
                  Param("factor", 0.1, above=0.0, below=1.0, symbol=factor),
                  Param("patience", 10, kind="int", minimum=0),
                  Param("threshold", 1e-4, symbol=threshold),
                  Param("threshold_mode", "rel", kind="choice", choices=("rel", "abs")),
                  Param("cooldown", 0, kind="int", minimum=0),
                  Param("min_lr", 0.0, symbol=eta_min)),
                 doc="after every epoch it watches the validation loss (the training loss "
                     "without validation data); after more than patience epochs without "
                     "improvement each group's rate is multiplied by factor (not below min_lr, "
                     "and only when that lowers it by more than 1e-8), and the next cooldown "
                     "epochs are not counted."),
    )
}


def plateau_improved(values):
    """ReduceLROnPlateau._is_better for the spec's mode and threshold_mode."""
    rel = values["threshold_mode"] == "rel"
    if values["mode"] == "min":
        return current < (best * (1 - threshold) if rel else best - threshold)
    return current > (best * (threshold + 1) if rel else best + threshold)


def plateau_reduced():
    """ReduceLROnPlateau._reduce_lr's new rate of a group."""
    return sp.Max(eta * factor, eta_min)


def check_cycled_momentum(values, cycled):
    """OneCycleLR's refusal: cycle_momentum needs an optimizer with a momentum or beta1."""
    if values.get("cycle_momentum") and cycled is None:
        raise ValueError("has no momentum or beta1 for cycle_momentum to move (torch's OneCycleLR "
                         "refuses it too); set cycle_momentum = false")
