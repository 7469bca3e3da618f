"""Dropout in the derivation: the mask on a hidden layer's output while training
(section 1) and its factor in the chain rule (section 5), from derive/dropout.py."""
import sympy as sp

from . import dropout
from .document import Code, Para
from .section_context import note, row, rows
from .names import sup
from .notation import greek


def _layers(ctx):
    return [layer for layer in ctx.ir.layers if layer.dropout]


def model_blocks(ctx):
    layers = _layers(ctx)
    if not layers:
        return []
    equations = []
    for layer in layers:
        l = layer.index
        a_l, m_l = ctx.base("a", l), sp.IndexedBase(f"m{l}")
        shown = dropout.DROPPED.subs({dropout.a: a_l[sp.Symbol("j")], dropout.mask: m_l[sp.Symbol("j")],
                                      dropout.p: sp.Float(layer.dropout)})
        equations.append(row(ctx.show(sp.IndexedBase(f"at{l}")[sp.Symbol("j")]), ctx.show(shown),
                             keys=(f"layer{l}.dropout",)))
    return [Para(("While training (", Code("fit"), ", ", Code("step"), "; never in ", Code("forward"), ", ",
                  Code("predict"), ", ", Code("score"), " or ", Code("loss"), "), dropout keeps each output of "
                  "a layer with dropout with probability 1 - p (its mask ", note(sup("m", "l")),
                  " is 1, else 0, drawn from the trainer's seeded generator) and scales the kept ones, as ",
                  Code("torch.nn.Dropout"), "; the next layer reads the result:")), rows(*equations)]


def backprop_blocks(ctx):
    layers = _layers(ctx)
    if not layers:
        return []
    equations = []
    for layer in layers:
        l = layer.index
        factor = dropout.DERIVATIVE.subs({dropout.mask: sp.IndexedBase(f"m{l}")[sp.Symbol("i")],
                                          dropout.p: sp.Float(layer.dropout)})
        equations.append(row(ctx.show(sp.Symbol(f"dat{l}")), ctx.show(factor), keys=(f"layer{l}.dropout_delta",)))
    return [Para(("Through dropout the chain rule gains one factor, ", Code("sympy.diff"), " of the dropped "
                  "output by the activation: the error through a dropped unit is zero, through a kept one "
                  "scaled by 1/(1 - p), before the activation's derivative (", note(greek("delta")),
                  " above, and dL/dW of the next layer reads the dropped activations):")),
            rows(*equations)]
