"""The activation registry: one entry per activation.

An entry is the function itself, as a SymPy expression in `x`, and the symbol
the derivation names it by (notation, derive/notation.py); its derivative, its
form in terms of the output and its kernel all follow from the expression (see
derive/calculus.py and codegen/printer.py).
"""
from dataclasses import dataclass

import sympy as sp

from .notation import Notation, function_name, greek, operator_name
from .symbols import K, Z, j, k, x


@dataclass(frozen=True)
class Activation:
    name: str
    expr: sp.Expr            # f(x), elementwise; for a vector activation, unit j of f(z)
    symbol: Notation         # how the derivation names it (in text: the registry name)
    init: str                # default initialisation scheme for a layer using it
    vector: bool = False     # couples the units of a layer (softmax): last layer only

    @property
    def latex(self):
        """The symbol's LaTeX (derive/model.py keeps it as the IR's label)."""
        return sp.latex(self.symbol)


def _softmax():
    return sp.exp(Z[j]) / sp.Sum(sp.exp(Z[k]), (k, 1, K))


# PyTorch's SELU constants (torch.nn.functional.selu), rounded to double precision
# as torch's C++ literals are (53 bits), so that scale * alpha rounds as torch's does.
SELU_ALPHA = sp.Float("1.6732632423543772848170429916717", precision=53)
SELU_SCALE = sp.Float("1.0507009873554804934193349852946", precision=53)

# torch.nn.functional.softplus(x, beta=1, threshold=20) returns x itself where
# x > 20. The registry mirrors that threshold, so the value and the derivative are
# torch's exactly (without it they differ by up to log1p(exp(-20)) = 2.1e-9 just
# above 20, about 2e-9 relative in the derivative), and the derivation shows the
# function the kernel computes.
SOFTPLUS_THRESHOLD = 20

# Kinks: the branch that holds at x = 0 decides the derivative SymPy finds there,
# and each is PyTorch's: leaky_relu'(0) = 0.01 (the slope branch holds at 0);
# elu'(0) = 1 and selu'(0) = scale * alpha (the exponential branch holds at 0).
# Default initialisation: Glorot (xavier_uniform) for the saturating, tanh-like
# functions; He (he_uniform) for the relu family, including the smooth relus
# (softplus, silu, gelu), which are linear for large x. SELU is designed for
# weights of variance 1 / fan_in (LeCun normal; torch's docs recommend
# kaiming_normal_(nonlinearity="linear")). Of the registered schemes
# xavier_normal, variance 2 / (fan_in + fan_out), is that exactly for square
# layers and close otherwise, whereas he_normal doubles it.


ACTIVATIONS = {
    act.name: act
    for act in (
        Activation("identity", x, operator_name("id", text="identity"), "xavier_uniform"),
        Activation("sigmoid", 1 / (1 + sp.exp(-x)), greek("sigma", text="sigmoid"), "xavier_uniform"),
        Activation("tanh", sp.tanh(x), function_name("tanh"), "xavier_uniform"),
        Activation("relu", sp.Max(0, x), operator_name("relu"), "he_uniform"),
        Activation("leaky_relu", sp.Piecewise((x, x > 0), (x / 100, True)),
                   operator_name("leaky_relu"), "he_uniform"),
        Activation("elu", sp.Piecewise((x, x > 0), (sp.exp(x) - 1, True)),
                   operator_name("elu"), "he_uniform"),
        Activation("selu", sp.Piecewise((SELU_SCALE * x, x > 0),
                                        (SELU_SCALE * SELU_ALPHA * (sp.exp(x) - 1), True)),
                   operator_name("selu"), "xavier_normal"),
        Activation("softplus", sp.Piecewise((x, x > SOFTPLUS_THRESHOLD), (sp.log(1 + sp.exp(x)), True)),
                   operator_name("softplus"), "he_uniform"),
        Activation("silu", x / (1 + sp.exp(-x)), operator_name("silu"), "he_uniform"),
        Activation("gelu", x / 2 * (1 + sp.erf(x / sp.sqrt(2))), operator_name("gelu"), "he_uniform"),
        Activation("softsign", x / (1 + sp.Abs(x)), operator_name("softsign"), "xavier_uniform"),
        Activation("softmax", _softmax(), operator_name("softmax"), "xavier_uniform", vector=True),
    )
}
