"""The weight penalties of [regularization] (and a layer's own l1 / l2): the term each
weight element adds to the loss, as SymPy, and its derivative as sympy.diff finds it.
Biases are never penalised. The derivation shows both; the kernels print them."""
import sympy as sp

w = sp.Symbol("w", real=True)                          # one weight element w_ij of a layer
l1 = sp.Symbol("lambda_1", nonnegative=True)
l2 = sp.Symbol("lambda_2", nonnegative=True)
omega = sp.Symbol("Omega", nonnegative=True)           # a layer's penalty, summed over its weights

# l1 * |w| + (l2 / 2) * w^2 per element: torch's loss + l1 * W.abs().sum() + l2 / 2 * (W ** 2).sum()
TERM = l1 * sp.Abs(w) + l2 / 2 * w ** 2
DERIVATIVE = sp.diff(TERM, w)                          # l1 * sign(w) + l2 * w (sign(0) = 0)


def layer_term(values):
    """(term, derivative) of a layer with (l1, l2) = values: the zero parts dropped."""
    subs = {l1: values[0], l2: values[1]}
    return TERM.subs(subs), DERIVATIVE.subs(subs)
