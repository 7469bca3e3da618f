"""Inverted dropout on a hidden layer's output, while training only (torch.nn.Dropout):
each activation is kept with probability 1 - p and then scaled by 1/(1 - p), else
zeroed. With the mask m (1 kept, 0 dropped) the next layer reads a~ = a m / (1 - p),
and by the chain rule the error through a unit is scaled the same way: zero through a
dropped one. The derivation shows both; the kernels multiply by the same factor."""
import sympy as sp

p = sp.Symbol("p", nonnegative=True)                 # the layer's dropout probability
mask = sp.Symbol("m", nonnegative=True)              # 1 kept, 0 dropped; P(m = 1) = 1 - p
a = sp.Symbol("a", real=True)

SCALE = 1 / (1 - p)
DROPPED = mask * SCALE * a                           # what the next layer reads
DERIVATIVE = sp.diff(DROPPED, a)                     # d a~ / d a = m / (1 - p)


def keep_scale(probability):
    """1/(1 - p) at the layer's p: a kept unit's factor."""
    return SCALE.subs(p, sp.Float(probability))
