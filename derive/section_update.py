"""Section 6: the optimizer's update rule, specialised to the spec's hyper-parameters
(conditions decided, identities dropped), with its hyper-parameters and the learning
rate of every parameter group."""
from .document import Code, Math, Para, Section, Table
from .names import EQ, L_, sup
from .notation import Partial, calligraphic, greek, letter, listing, relation, sign
from .optimizers import LEARNING_RATE, OPTIMIZERS
from .optimizers import lr as LR
from .section_context import note, row, rows, value_of
from .section_schedule import clip_value_blocks, grad_norm_blocks, schedule_blocks
from .symbols import p, t


def update_rule(ir):
    """The rule as section 6 shows it: (scalars, element, states), where element is
    ((index in the registry's Rule.element, target, expr), ...) specialised to the spec's
    values with identities (x <- x) dropped, and scalars the per-step scalars they use."""
    opt = ir.optimizer
    element = [(n, target, opt.specialised(expr)) for n, (target, expr) in enumerate(opt.rule.element)]
    element = [(n, target, expr) for n, target, expr in element if expr != target]
    used = set()
    for _, _, expr in element:
        used |= expr.free_symbols
    scalars = []
    for sym, expr in reversed(opt.rule.scalars):
        if sym in used:
            expr = opt.specialised(expr)
            scalars.insert(0, (sym, expr))
            used |= expr.free_symbols
    assigned = {target for _, target, _ in element}
    states = tuple(s for s in opt.rule.states if s in assigned)
    return tuple(scalars), tuple(element), states


def update_section(ctx):
    opt = ctx.ir.optimizer
    scalars, element, states = update_rule(ctx.ir)
    gradient = relation(letter("g"), EQ, Partial(calligraphic("L"), greek("theta")))
    blocks = [Para((f"{opt.title} (", Code(opt.name), "). ", opt.doc, " For every parameter "
                    "element ", ctx.show(p), " (an entry of some ", note(sup("W", L_)), " or ",
                    note(sup("b", L_)), ") with gradient ", note(gradient),
                    " from section 5, at step ", ctx.show(t), " = 1, 2, ...:"))]
    blocks += clip_value_blocks(ctx, element) + grad_norm_blocks(ctx, scalars)
    if scalars:
        blocks.append(Para(("Once per step and parameter group:",)))
        blocks.append(rows(*(row(ctx.show(s), ctx.show(e), keys=(f"update.scalar.{s.name}",))
                             for s, e in scalars)))
    blocks.append(Para(("Then for each element, in this order (" if scalars else
                        "For each element, in this order (",
                        note(sign(r"\leftarrow", "←")), " assigns):")))
    blocks.append(rows(*(row(ctx.show(target), ctx.show(e), op="<-", keys=(f"update.{n}",))
                         for n, target, e in element)))
    hypers = {h.name: h for h in OPTIMIZERS[opt.name].hyperparameters}
    if states:
        blocks.append(Para(_initial_states(ctx, states, hypers)))
    blocks.append(Para(("This is the rule specialised to the spec's hyper-parameters; "
                        "conditions on them are decided by these values:",)))
    table = []
    for key, value in opt.values.items():
        h = hypers.get(key)
        if key == LEARNING_RATE:
            symbol = ctx.show(LR)
        elif h is not None and h.symbols:
            shown = [ctx.show(s) for s in h.symbols]
            symbol = Math(listing(*h.symbols), tuple(n for m in shown for n in m.names))
        else:
            symbol = Math(None)
        table.append((Code(key), symbol, note(value_of(value))))
    blocks.append(Table(("hyper-parameter", "symbol", "value"), tuple(table)))
    blocks.append(Para(("Learning rates per parameter group (a layer's own ", Code("learning_rate"),
                        " overrides the optimizer's):",)))
    groups = []
    for layer, rate in zip(ctx.ir.layers, opt.learning_rates):
        parameters = note(listing(sup("W", layer.index), sup("b", layer.index)))
        source = "layer" if layer.learning_rate is not None else "optimizer"
        groups.append((str(layer.index), parameters, note(value_of(rate)), source))
    blocks.append(Table(("layer", "parameters", note(greek("eta")), "from"), tuple(groups)))
    blocks += schedule_blocks(ctx)
    return Section("The update rule", tuple(blocks))


def _initial_states(ctx, states, hypers):
    """The prose on how the state buffers start: zero, or a hyper-parameter's value."""
    opt = ctx.ir.optimizer
    initial = dict(opt.rule.initial)
    zero = [s for s in states if s not in initial]
    parts = []
    if zero:
        parts = ["State buffers, one per parameter element, start at zero: "]
        for n, s in enumerate(zero):
            parts += [", " if n else "", ctx.show(s)]
        parts.append(". ")
    for s in states:
        if s in initial:
            hyper = hypers[initial[s]].symbols[0]
            parts += [ctx.show(s), " starts at ", ctx.show(hyper), " = ",
                      f"{opt.values[initial[s]]:g}", " (", Code(initial[s]), "). "]
    return tuple(parts)
