"""The activation registry: one entry per activation.

An entry is only the function itself, as a SymPy expression in `x`; its
derivative, its form in terms of the output, its LaTeX and its kernel all
follow from that expression (see derive/calculus.py and codegen/printer.py).
"""
from dataclasses import dataclass

import sympy as sp

from .symbols import K, Z, j, k, x


@dataclass(frozen=True)
class Activation:
    name: str
    expr: sp.Expr            # f(x), elementwise; for a vector activation, unit j of f(z)
    latex: str               # how the derivation names it
    init: str                # default initialisation scheme for a layer using it
    vector: bool = False     # couples the units of a layer (softmax): last layer only


def _softmax():
    return sp.exp(Z[j]) / sp.Sum(sp.exp(Z[k]), (k, 1, K))


ACTIVATIONS = {
    act.name: act
    for act in (
        Activation("identity", x, r"\operatorname{id}", "xavier_uniform"),
        Activation("sigmoid", 1 / (1 + sp.exp(-x)), r"\sigma", "xavier_uniform"),
        Activation("tanh", sp.tanh(x), r"\tanh", "xavier_uniform"),
        Activation("relu", sp.Max(0, x), r"\operatorname{relu}", "he_uniform"),
        Activation("softmax", _softmax(), r"\operatorname{softmax}", "xavier_uniform", vector=True),
    )
}
