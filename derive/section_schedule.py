"""Section 6's extra parts: the gradient's norm when clipping by norm, and the
learning rate over training as the spec's [schedule] defines it
(torch.optim.lr_scheduler's class, its rule in SymPy, its values)."""
from .clipping import clip_grad_value as CLIP_VALUE
from .document import Code, Math, Para, Table
from .notation import greek
from .schedules import T, current, e, eta, eta0, eta_e, eta_max, eta_s, mu_s, s
from .section_context import note, row, rows, value_of


def grad_norm_blocks(ctx, scalars):
    """The norm clip_grad_norm scales by, when the rule shown uses it."""
    norm, definition, _, _ = ctx.ir.optimizer.grad_norm
    if not any(norm in expr.free_symbols for _, expr in scalars):
        return []
    count = definition.args[0].limits[0][2]
    return [Para(("Gradients are clipped as ", Code("torch.nn.utils.clip_grad_norm_"),
                  " clips them, after the backward pass and before the step: every gradient "
                  "element is scaled by one factor, from the 2-norm over all ", ctx.show(count),
                  " parameter elements of the network:")),
            rows(row(ctx.show(norm), ctx.show(definition), keys=("update.grad_norm",)))]


def clip_value_blocks(ctx, element):
    """The prose for clip_grad_value, when the rule shown clamps (Rule.element's first row)."""
    if not any(n == 0 for n, _, _ in element):
        return []
    return [Para(("Gradients are clamped elementwise to [-", ctx.show(CLIP_VALUE), ", ", ctx.show(CLIP_VALUE),
                  "] as ", Code("torch.nn.utils.clip_grad_value_"), " clamps them, after the backward "
                  "pass and before the step (the first row below)."))]


def schedule_blocks(ctx):
    """The schedule's rule, its equations and its parameters (none without one)."""
    sch = ctx.ir.schedule
    if sch is None:
        return []
    head = [f"The learning rate over training: {sch.title} (", Code(sch.name), ", as ",
            Code(f"torch.optim.lr_scheduler.{sch.torch}"), "): ", sch.doc, " "]
    if sch.per_batch:
        head += ["Each parameter group (layer) has its own ", ctx.show(eta_max), " (", Code("max_lr"),
                 "); at step ", ctx.show(s), " = 0, 1, ..., ", ctx.show(T), " - 1:"]
    elif sch.rate is not None:
        head += ["Each parameter group (layer) starts at its own rate ", ctx.show(eta0),
                 " (its ", note(greek("eta")), " above); epoch ", ctx.show(e),
                 " = 0, 1, ... (counting the epochs completed) trains at:"]
    else:
        head += ["Each parameter group (layer) starts at its own rate ", note(greek("eta")),
                 " above; when a plateau is found:"]
    equations = []
    if sch.rate is not None:
        equations.append(row(ctx.show(eta_s if sch.per_batch else eta_e), ctx.show(sch.rate),
                             keys=("schedule.rate",)))
    if sch.momentum is not None:
        equations.append(row(ctx.show(mu_s), ctx.show(sch.momentum), keys=("schedule.momentum",)))
    if sch.reduced is not None:
        equations.append(row(ctx.show(eta), ctx.show(sch.reduced), op="<-", keys=("schedule.reduced",)))
    blocks = [Para(tuple(head)), rows(*equations)]
    if sch.improved is not None:
        blocks.append(Para(("An epoch improves on the best so far when ", ctx.show(sch.improved),
                            ", where ", ctx.show(current), " is its watched loss.")))
    if sch.momentum is not None:
        blocks.append(Para((ctx.show(mu_s), " replaces the optimizer's momentum (or ",
                            "beta1) at every step, as ", Code("cycle_momentum"), " does in torch.")))
    table = []
    for key, symbol in sch.symbols:
        table.append((Code(key), ctx.show(symbol) if symbol is not None else Math(None),
                      note(value_of(sch.values[key]))))
    blocks.append(Table(("parameter", "symbol", "value"), tuple(table)))
    return blocks
