"""Gradient clipping, as torch.nn.utils.clip_grad_norm_ and clip_grad_value_ in a
training loop: after the backward pass, before the optimizer's step (so weight
decay is added to the clipped gradient). Both are rows put in front of every
optimizer's update rule, with hyper-parameters [optimizer] clip_grad_norm and
clip_grad_value (None: no clipping, 0 in the kernels' vector), so the derivation
shows them and the kernels print them like the rest of the rule."""
import dataclasses

import sympy as sp

from .symbols import g, i

clip_grad_norm = sp.Symbol("clip_grad_norm", nonnegative=True)
clip_grad_value = sp.Symbol("clip_grad_value", nonnegative=True)
grad_norm = sp.Symbol("grad_norm", nonnegative=True)     # the 2-norm of every gradient element
clip_coef = sp.Symbol("clip_coef", positive=True)
P = sp.Symbol("P", integer=True, positive=True)            # the number of parameter elements
G = sp.IndexedBase("g", real=True)
NORM_EPS = sp.Float(1e-6)                                   # torch's, in clip_coef's denominator

# ||g|| over every parameter element (one norm for the whole network, as torch's)
GRAD_NORM = (grad_norm, sp.sqrt(sp.Sum(G[i] ** 2, (i, 1, P))))
# what a kernel adds up per element for it
GRAD_NORM_TERM = g ** 2
NORM_ON = sp.Ne(clip_grad_norm, 0)

SCALARS = ((clip_coef, sp.Min(1, clip_grad_norm / (grad_norm + NORM_EPS))),)
ELEMENT = (
    (g, sp.Piecewise((sp.Min(sp.Max(g, -clip_grad_value), clip_grad_value), sp.Ne(clip_grad_value, 0)),
                     (g, True))),
    (g, sp.Piecewise((clip_coef * g, NORM_ON), (g, True))),
)


def with_clipping(opt, hyper, refusal):
    """The optimizer with the clipping hyper-parameters, rows and refusal added."""
    hypers = (hyper("clip_grad_norm", None, kind="optional", symbols=(clip_grad_norm,)),
              hyper("clip_grad_value", None, kind="optional", symbols=(clip_grad_value,)))
    both = refusal(sp.And(sp.Ne(clip_grad_norm, 0), sp.Ne(clip_grad_value, 0)), "clip_grad_value",
                   "give clip_grad_norm or clip_grad_value, not both")
    rule = dataclasses.replace(opt.rule, scalars=SCALARS + opt.rule.scalars,
                               element=ELEMENT + opt.rule.element)
    return dataclasses.replace(opt, hyperparameters=opt.hyperparameters + hypers, rule=rule,
                               refusals=opt.refusals + (both,))
