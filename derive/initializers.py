"""The weight-initialisation registry: each scheme is a distribution and its
scale as a SymPy expression in fan_in and fan_out (printed into the generated
module's init_params). Biases start at zero, except for `uniform`, which is
torch.nn.Linear's default for both W and b."""
from dataclasses import dataclass

import sympy as sp

fan_in, fan_out = sp.symbols("fan_in fan_out", positive=True)


@dataclass(frozen=True)
class Init:
    name: str
    distribution: str          # "uniform" (bound) | "normal" (std) | "zeros"
    scale: sp.Expr             # the uniform bound or the normal std
    bias: bool = False         # biases drawn from the same distribution


INITIALIZERS = {
    init.name: init
    for init in (
        Init("xavier_uniform", "uniform", sp.sqrt(6 / (fan_in + fan_out))),
        Init("xavier_normal", "normal", sp.sqrt(2 / (fan_in + fan_out))),
        Init("he_uniform", "uniform", sp.sqrt(6 / fan_in)),
        Init("he_normal", "normal", sp.sqrt(2 / fan_in)),
        Init("uniform", "uniform", 1 / sp.sqrt(fan_in), bias=True),
        Init("zeros", "zeros", sp.S.Zero),
    )
}
