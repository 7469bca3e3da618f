"""The weight penalties in the derivation: their terms in the loss (section 2) and
their derivatives in the weights' gradients (section 5), each layer's from its own
l1 / l2 or [regularization]'s; the kernels print the same expressions."""
import sympy as sp

from .document import Code, Para
from .names import sup
from .notation import greek
from .penalties import w
from .section_context import note, row, rows
from .symbols import i, j


def _penalised(ctx):
    return [layer for layer in ctx.ir.layers if layer.penalty_term is not None]


def _element(ctx, layer):
    return ctx.base("w", layer.index)[i, j]


def loss_blocks(ctx):
    """Omega^(l) of each penalised layer, and the loss that is minimised and reported."""
    layers = _penalised(ctx)
    if not layers:
        return []
    equations = []
    for layer in layers:
        term = layer.penalty_term.subs(w, _element(ctx, layer))
        total = sp.Sum(sp.Sum(term, (j, 1, layer.n_out)), (i, 1, layer.n_in))
        equations.append(row(ctx.show(sp.Symbol(f"Omega{layer.index}")), ctx.show(total),
                             keys=(f"layer{layer.index}.penalty",)))
    loss = sp.Symbol("L")
    penalised = loss + sum(sp.Symbol(f"Omega{layer.index}") for layer in layers)
    equations.append(row(ctx.show(sp.Symbol("L_pen")), ctx.show(penalised), keys=("loss.penalised",)))
    return [Para(("The loss minimised and reported (", Code("loss"), ", ", Code("step"), ", ",
                  Code("History.loss"), "; not ", Code("score"), ") adds the penalties on the weights "
                  "(", Code("l1"), ", ", Code("l2"), " of ", Code("[regularization]"), " or of the layer; "
                  "never the biases), ", note(greek("lambda")), "-weighted sums over each layer's ",
                  note(sup("W", "l")), ":")), rows(*equations)]


def gradient_blocks(ctx):
    """The derivative each penalised layer's weights add to their gradient."""
    layers = _penalised(ctx)
    if not layers:
        return []
    equations = []
    for layer in layers:
        derivative = layer.penalty_derivative.subs(w, _element(ctx, layer))     # sympy.diff's, in the IR
        equations.append(row(ctx.show(sp.Symbol(f"dOmega{layer.index}")), ctx.show(derivative),
                             keys=(f"layer{layer.index}.dpenalty",)))
    return [Para(("A penalised layer's weight gradient also gets its penalty's derivative, as ",
                  Code("sympy.diff"), " finds it (sign(0) = 0, as torch's), added to the batch's "
                  "product above:")), rows(*equations)]
