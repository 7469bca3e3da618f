"""The loss registry: one entry per loss, as its elementwise term in `yhat` and `y`.

The gradient with respect to the output, and the combined delta with the output
activation (softmax + cross-entropy, sigmoid + binary cross-entropy), are derived
from `term` by derive/calculus.py; nothing here is differentiated by hand.
"""
from dataclasses import dataclass

import sympy as sp

from .symbols import y, yhat


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
        Loss("cross_entropy", -y * sp.log(yhat), "rows", r"\mathrm{CE}",
             requires_output="softmax", classification=True),
        Loss("binary_cross_entropy", -(y * sp.log(yhat) + (1 - y) * sp.log(1 - yhat)),
             "elements", r"\mathrm{BCE}", requires_output="sigmoid", classification=True),
    )
}
