"""The intermediate representation: everything the derivation shows and the
kernels print, as SymPy, derived from a validated Spec.

Per layer: the activation, its derivative as sympy.diff found it, and the form
the backward pass uses (in the output a where exact, else in z). For the
output: the loss term, dL/dyhat, the loss value as the kernel evaluates it
(from the logits when the term has logarithms), and delta = dL/dz simplified
through the chain rule. For the optimizer: its update rule and hyper-parameters.
Width-independent: every expression is per unit, or in index notation.
"""
import functools
from dataclasses import dataclass, field

import sympy as sp

from . import calculus, clipping, dropout, penalties
from .activations import ACTIVATIONS
from .derivative_forms import new_functions
from .initializers import INITIALIZERS
from .losses import LOSSES, weight_scale
from .optimizers import LEARNING_RATE, OPTIMIZERS
from .schedules import SCHEDULES, plateau_improved, plateau_reduced
from .symbols import A, Y, a, j, k, x, y, yhat, z

# names of values a kernel computes per row before the elementwise loops
lse = sp.Symbol("lse", real=True)          # log sum_k exp z_k of one row


@dataclass(frozen=True)
class ActivationIR:
    name: str                 # registry name, or "formula"
    label: str                # LaTeX name of the function
    vector: bool
    definition: sp.Expr       # a = f(z) per unit (index notation for vector activations)
    dz: sp.Expr | None        # f'(z) exactly as sympy.diff gives it (elementwise only)
    backward: sp.Expr | None  # the derivative the kernel uses: in a where exact, else in z
    jacobian: sp.Expr | None  # da_k/dz_j in index notation (vector only)

    @property
    def needs_z(self):
        return self.backward is not None and z in self.backward.free_symbols


@dataclass(frozen=True)
class LayerIR:
    index: int                # 1-based: W{index}, b{index}
    n_in: int
    n_out: int
    activation: ActivationIR
    learning_rate: float | None
    init: str
    penalty: tuple = (0.0, 0.0)   # (l1, l2) on W
    penalty_term: sp.Expr | None = None        # per weight element, the zero parts dropped (None: no penalty)
    penalty_derivative: sp.Expr | None = None  # its sympy.diff in w
    dropout: float = 0.0          # p: the probability that a unit's output is zeroed while training
    keep_scale: sp.Expr | None = None   # 1/(1 - p), a kept unit's factor (None without dropout)


@dataclass(frozen=True)
class LossIR:
    name: str
    label: str
    term: sp.Expr             # loss of one element, in yhat and y
    mean_over: str            # "elements" | "rows"
    classification: bool
    dloss: sp.Expr            # dl/dyhat per element (the first chain-rule factor)
    value: sp.Expr            # the element loss as evaluated: in a, y, or z, y, lse
    delta: sp.Expr            # dl/dz_j per element (before the 1/N of the mean), in a, y, z, s
    delta_indexed: sp.Expr    # the same in index notation, as derived (for display)
    row_sum: sp.Expr | None   # s = sum_k row_sum(a_k, y_k), when delta needs it
    combined: bool            # activation and loss simplified together (e.g. a - y)
    weight_scale: sp.Expr = None   # a weighted row's factor: w_n / sum w (/ K for elementwise losses)

    @property
    def value_uses(self):
        return {str(s) for s in self.value.free_symbols}


@dataclass(frozen=True)
class OptimizerIR:
    name: str
    title: str
    doc: str
    rule: object              # optimizers.Rule (general, Piecewise on hyper-parameters)
    values: dict              # the spec's hyper-parameter values
    runtime_symbols: tuple
    runtime_values: tuple
    learning_rates: tuple     # one per layer (parameter group)
    flags: tuple = ()         # the runtime symbols that are booleans (nesterov, amsgrad)
    hyperparameters: tuple = ()   # the registry's Hyper entries: names, kinds, defaults, ranges
    refusals: tuple = ()          # the registry's Refusal entries (cross-field rules)
    grad_norm: tuple = ()         # (symbol, its definition, the per-element term a kernel sums,
                                  #  the condition under which the rule reads it): clip_grad_norm's ||g||

    def specialised(self, expr, decided=None):
        """expr with every hyper-parameter condition decided by the spec's values (the
        conditions decided are recorded in `decided`, see specialise)."""
        subs = {s: (sp.true if v else sp.false) if s in self.flags else v
                for s, v in zip(self.runtime_symbols, self.runtime_values)}
        return specialise(expr, subs, decided)


row_sum_symbol = sp.Symbol("s", real=True)


def specialise(expr, values, decided=None):
    """Resolve Piecewise branches whose conditions the given values decide. With a dict
    `decided`, each atom of a condition that the values decide (a relation among
    hyper-parameters, or a boolean flag) is recorded there with its truth value: the
    generated code tests exactly these to know when the specialised loop applies."""
    def record(c):
        atoms = [r for r in c.atoms(sp.core.relational.Relational) if r.free_symbols <= set(values)]
        atoms += [f for f in c.free_symbols if values.get(f) in (sp.true, sp.false)]
        for atom in atoms:
            value = atom.subs(values)
            if value not in (sp.true, sp.false):
                raise ValueError(f"cannot decide {atom} at {values}")
            decided.setdefault(atom, value == sp.true)

    def rule(pw):
        pieces = []
        for e, c in pw.args:
            if c not in (sp.true, sp.false) and decided is not None:
                record(c)
            c = c.subs(values) if c not in (sp.true, sp.false) else c
            if c == sp.false:
                continue
            pieces.append((specialise(e, values, decided), c))
            if c == sp.true:
                break
        if len(pieces) == 1 and pieces[0][1] == sp.true:
            return pieces[0][0]
        return sp.Piecewise(*pieces)
    return expr.replace(lambda e: isinstance(e, sp.Piecewise), rule)


@functools.lru_cache(maxsize=256)
def activation_ir(name, formula_expr=None, label=None):
    """Derive an activation's IR from its registry entry (or a parsed formula in x)."""
    if formula_expr is None:
        entry = ACTIVATIONS[name]
        expr, label, vector = entry.expr, entry.latex, entry.vector
    else:
        expr, label, vector = formula_expr, label or "f", False
    if vector:
        return ActivationIR(name, label, True, expr, None, None, calculus.softmax_jacobian(expr))
    f = expr.subs(x, z)
    dz = calculus.derivative(f, z)
    return ActivationIR(name, label, False, f, dz, calculus.backward_form(dz, f), None)


def _to_unit(expr):
    """Index notation for unit j (and a row sum over k) -> per-unit symbols."""
    sums = list(expr.atoms(sp.Sum))
    if len(sums) > 1:
        expr = sp.collect(expr, sums)
    row = None
    for s in expr.atoms(sp.Sum):
        row = s.function.subs({A[k]: a, Y[k]: y})
        expr = expr.subs(s, row_sum_symbol)
    return expr.subs({A[j]: a, Y[j]: y}), row


def loss_ir(name, out, formula_expr=None):
    """The output layer's loss, its gradient and the combined delta, all derived."""
    if formula_expr is None:
        entry = LOSSES[name]
        term, label, mean_over, classification = entry.term, entry.latex, entry.mean_over, entry.classification
    else:
        term, label, mean_over, classification = formula_expr, r"\ell", "elements", False
    dloss = sp.diff(term, yhat)
    has_log = term.has(sp.log)
    if out.vector:
        dloss_k = dloss.subs({yhat: A[k], y: Y[k]})
        delta_indexed = calculus.vector_delta(out.jacobian, dloss_k, classification)
        delta, row = _to_unit(delta_indexed)
        value = (calculus.log_sum_exp_form(term, out.definition, yhat, lse) if has_log
                 else term.subs(yhat, a))
        combined = row is None
    else:
        chained = dloss.subs(yhat, a) * out.backward
        simpler = calculus.bounded_simplify(chained)
        if new_functions(simpler, chained):
            simpler = chained   # e.g. exp -> cosh: overflows to inf/inf where the product does not
        delta = min((chained, simpler), key=sp.count_ops)
        combined = sp.count_ops(simpler) < sp.count_ops(dloss) + sp.count_ops(out.backward)
        delta_indexed, row = delta, None
        value = calculus.logit_form(term, out.definition, yhat) if has_log else term.subs(yhat, a)
    return LossIR(name, label, term, mean_over, classification, dloss, value, delta,
                  delta_indexed, row, combined, weight_scale(mean_over))


def optimizer_ir(spec):
    opt = OPTIMIZERS[spec.optimizer.kind]
    values = dict(spec.optimizer.params)
    default_lr = values[LEARNING_RATE]
    lrs = tuple(l.learning_rate if l.learning_rate is not None else default_lr for l in spec.layers)
    flags = tuple(s for h in opt.hyperparameters if h.kind == "bool" for s in h.symbols)
    return OptimizerIR(opt.name, opt.title, opt.doc, opt.rule, values, opt.runtime_symbols,
                       tuple(opt.runtime_values(values)), lrs, flags, opt.hyperparameters,
                       opt.refusals, (*clipping.GRAD_NORM, clipping.GRAD_NORM_TERM, clipping.NORM_ON))


@dataclass(frozen=True)
class ScheduleIR:
    """The [schedule]: its rule with the parameters as symbols (the derivation shows
    it; the module prints it after assigning each symbol its value, so it computes
    in torch's order), per group."""
    name: str
    torch: str
    title: str
    doc: str
    values: dict              # every parameter, defaults filled
    per_batch: bool
    rate: sp.Expr | None      # eta_e in eta_0 and e (one_cycle: eta_s in eta_max, s, T); None for plateau
    momentum: sp.Expr | None = None    # one_cycle's cycled momentum (with cycle_momentum), in s and T
    improved: object = None   # plateau: the relation of current and best that counts as better
    reduced: sp.Expr | None = None     # plateau: a group's new rate, in eta_now
    bases: tuple | None = None         # one_cycle: eta_max per layer; else None (the groups' own rates)
    cycled: sp.Symbol | None = None    # the hyper-parameter symbol cycle_momentum sets (momentum, beta1)
    constants: tuple = ()              # ((symbol, value), ...): the parameters the rule is written in
    symbols: tuple = ()                # ((parameter name, its symbol or None), ...) for the derivation's table


def schedule_ir(spec):
    sch = spec.schedule
    if sch is None:
        return None
    entry = SCHEDULES[sch.kind]
    values = dict(sch.params)
    constants = tuple(entry.symbol_values(values).items())
    symbols = tuple((p.name, p.symbol) for p in entry.params)
    if entry.rate is None:
        return ScheduleIR(entry.name, entry.torch, entry.title, entry.doc, values, False, None,
                          improved=plateau_improved(values), reduced=plateau_reduced(),
                          constants=constants, symbols=symbols)
    momentum = cycled = bases = None
    if entry.momentum is not None and values.get("cycle_momentum"):
        momentum = entry.momentum(values)
        name = OPTIMIZERS[spec.optimizer.kind].cycled
        cycled = next(h for h in OPTIMIZERS[spec.optimizer.kind].hyperparameters if h.name == name).symbols[0]
    if sch.kind == "one_cycle":
        top = values["max_lr"]
        bases = tuple(top) if isinstance(top, tuple) else (top,) * len(spec.layers)
        constants = tuple((sym, v) for sym, v in constants if sym.name != "eta_max")
    return ScheduleIR(entry.name, entry.torch, entry.title, entry.doc, values, entry.per_batch,
                      entry.rate(values), momentum, bases=bases, cycled=cycled, constants=constants,
                      symbols=symbols)


@dataclass(frozen=True)
class ModelIR:
    """Everything the code generator reads: it never goes back to the Spec or the
    registries. `spec` stays for the derivation's prose."""
    spec: object
    layers: tuple
    loss: LossIR
    optimizer: OptimizerIR
    formulas: dict = field(default_factory=dict)   # layer index -> source text of a formula
    name: str = ""
    inputs: int = 0
    dtype: str = "float32"
    source: str = ""              # the spec file's name (not its path: output must not depend on the checkout)
    digest: str = ""
    spec_dict: dict = field(default_factory=dict)  # the normalised spec, as the module's SPEC
    training: dict = field(default_factory=dict)   # [training], with target_loss and patience None when unset
    inits: tuple = ()             # the Init registry entries of the schemes the layers use, by name
    schedule: ScheduleIR | None = None
    class_weight: object = None   # [loss] class_weight: None, "balanced" or one weight per class


def build_ir(spec):
    """Spec -> ModelIR. Cost is independent of layer widths."""
    from .formula import parse_formula
    layers, formulas, cache = [], {}, {}
    n_in = spec.inputs
    for idx, layer in enumerate(spec.layers, start=1):
        key = (layer.activation, layer.formula)
        if key not in cache:
            if layer.formula:
                expr = parse_formula(layer.activation, ("x",))
                cache[key] = activation_ir("formula", expr, label=f"f_{{{idx}}}")
            else:
                cache[key] = activation_ir(layer.activation)
        if layer.formula:
            formulas[idx] = layer.activation
        penalty = spec.penalties(layer)
        term, derivative = penalties.layer_term(penalty) if any(penalty) else (None, None)
        layers.append(LayerIR(idx, n_in, layer.units, cache[key], layer.learning_rate, layer.init,
                              penalty, term, derivative, layer.dropout,
                              dropout.keep_scale(layer.dropout) if layer.dropout else None))
        n_in = layer.units
    if spec.loss.formula is not None:
        loss = loss_ir("formula", layers[-1].activation, parse_formula(spec.loss.formula, ("yhat", "y")))
    else:
        loss = loss_ir(spec.loss.kind, layers[-1].activation)
    data = spec.to_dict()
    t = spec.training
    training = data["training"] | {"target_loss": t.target_loss, "patience": t.patience,
                                   "min_delta": t.min_delta, "restore_best": t.restore_best}
    inits = tuple(INITIALIZERS[name] for name in sorted({l.init for l in spec.layers}))
    return ModelIR(spec, tuple(layers), loss, optimizer_ir(spec), formulas, name=spec.name,
                   inputs=spec.inputs, dtype=spec.dtype,
                   source=spec.source_name,
                   digest=spec.digest(), spec_dict=data, training=training, inits=inits,
                   schedule=schedule_ir(spec), class_weight=spec.loss.class_weight)
