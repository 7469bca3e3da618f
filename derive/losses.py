"""The loss registry: one entry per loss, as its elementwise term in `yhat` and `y`.

The gradient with respect to the output, and the combined delta with the output
activation (softmax + cross-entropy, sigmoid + binary cross-entropy), are derived
from `term` in derive/model.py (loss_ir, with derive/calculus.py's helpers); nothing
here is differentiated by hand.
"""
from dataclasses import dataclass

import sympy as sp

from .symbols import y, yhat

# torch.nn.functional.huber_loss(delta=1.0): 0.5 d^2 where |d| < delta, else
# delta (|d| - delta/2). At |d| = delta both branches give 0.5 and slope d, so the
# branch chosen there is torch's (the linear one) without changing a value.
# mae is l1_loss: |d|, whose derivative SymPy finds as sign(d): 0 at d = 0, as torch.
HUBER_DELTA = sp.Integer(1)

# sample weights (CONTRACT v2 §2): row n weighs w_n = s_n c_{y_n} and the data term is
# sum_n w_n l_n / sum_n w_n, l_n the row's loss (for an elementwise loss, its mean over
# the K outputs): each element's term and error signal are scaled by weight_scale
weight = sp.Symbol("w_n", nonnegative=True)
total_weight = sp.Symbol("W_sum", positive=True)      # sum_m w_m over the batch
outputs = sp.Symbol("K", integer=True, positive=True)


def weight_scale(mean_over):
    """The factor of one element's term (and error signal) in the weighted mean."""
    return weight / total_weight / (outputs if mean_over == "elements" else 1)


@dataclass(frozen=True)
class Loss:
    name: str
    term: sp.Expr                 # loss of one output element
    mean_over: str                # "elements": mean of all n*k terms; "rows": sum over k, mean over n
    latex: str
    requires_output: str | None = None   # the output activation it is defined on
    classification: bool = False  # targets are class labels (or one-hot) and accuracy is reported


LOSSES = {
    loss.name: loss
    for loss in (
        Loss("mse", (yhat - y) ** 2, "elements", r"\mathrm{MSE}"),
        Loss("mae", sp.Abs(yhat - y), "elements", r"\mathrm{MAE}"),
        Loss("huber", sp.Piecewise((sp.Rational(1, 2) * (yhat - y) ** 2, sp.Abs(yhat - y) < HUBER_DELTA),
                                   (HUBER_DELTA * (sp.Abs(yhat - y) - sp.Rational(1, 2) * HUBER_DELTA), True)),
             "elements", r"\mathrm{Huber}"),
        Loss("cross_entropy", -y * sp.log(yhat), "rows", r"\mathrm{CE}",
             requires_output="softmax", classification=True),
        Loss("binary_cross_entropy", -(y * sp.log(yhat) + (1 - y) * sp.log(1 - yhat)),
             "elements", r"\mathrm{BCE}", requires_output="sigmoid", classification=True),
    )
}
