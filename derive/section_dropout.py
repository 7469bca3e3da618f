"""Dropout in the derivation: the mask on a hidden layer's output while training
(section 1) and its factor in the chain rule (section 5), from derive/dropout.py."""
import sympy as sp

from . import dropout
from .document import Code, Para
from .section_context import note, row, rows
from .names import sup
from .notation import greek


def _equations(ctx, parts):
    """One row per layer with dropout: parts(l) -> (left side, dropout's expression,
    its symbols for layer l, the equation's key); p is the layer's dropout."""
    out = []
    for layer in ctx.ir.layers:
        if layer.dropout:
            lhs, expr, names, key = parts(layer.index)
            shown = expr.subs(names | {dropout.p: sp.Float(layer.dropout)})
            out.append(row(ctx.show(lhs), ctx.show(shown), keys=(key,)))
    return out


def model_blocks(ctx):
    j = sp.Symbol("j")
    equations = _equations(ctx, lambda l: (
        sp.IndexedBase(f"at{l}")[j], dropout.DROPPED, {dropout.a: ctx.base("a", l)[j],
                                                       dropout.mask: sp.IndexedBase(f"m{l}")[j]},
        f"layer{l}.dropout"))
    if not equations:
        return []
    return [Para(("While training (", Code("fit"), ", ", Code("step"), "; never in ", Code("forward"), ", ",
                  Code("predict"), ", ", Code("score"), " or ", Code("loss"), "), dropout keeps each output of "
                  "a layer with dropout with probability 1 - p (its mask ", note(sup("m", "l")),
                  " is 1, else 0, drawn from the trainer's seeded generator) and scales the kept ones, as ",
                  Code("torch.nn.Dropout"), "; the next layer reads the result:")), rows(*equations)]


def backprop_blocks(ctx):
    equations = _equations(ctx, lambda l: (
        sp.Symbol(f"dat{l}"), dropout.DERIVATIVE, {dropout.mask: sp.IndexedBase(f"m{l}")[sp.Symbol("i")]},
        f"layer{l}.dropout_delta"))
    if not equations:
        return []
    return [Para(("Through dropout the chain rule gains one factor, ", Code("sympy.diff"), " of the dropped "
                  "output by the activation: the error through a dropped unit is zero, through a kept one "
                  "scaled by 1/(1 - p), before the activation's derivative (", note(greek("delta")),
                  " above, and dL/dW of the next layer reads the dropped activations):")),
            rows(*equations)]
