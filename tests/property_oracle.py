"""The property test's oracle, built from a spec independently of the generator:
built-in names map to torch functions (tests/helpers.py's shared tables, plus the
two classification losses from the logits), and a formula is evaluated in torch by
walking the SymPy expression that `derive.formula.parse_formula` returns
(`sympy_to_torch`, no lambdify, no generated code). A registry name or a SymPy node
without a torch counterpart fails loudly; it is never skipped."""
from __future__ import annotations

import functools
import operator

import numpy as np
import sympy as sp
import torch
import torch.nn.functional as F

import helpers
from derive.activations import ACTIVATIONS
from derive.formula import parse_formula


TORCH_ACTIVATIONS = helpers.TORCH_ACTIVATION_FN   # the shared oracle table

# loss(Z_last, A_last, target) -> scalar; PyTorch's own losses, reduction="mean":
# the elementwise ones (on the outputs A) from tests/helpers.py's shared table, the
# two classification losses from the logits Z
TORCH_LOSSES = {
    **{name: (lambda fn: lambda Z, A, Y: fn(A, Y))(fn) for name, fn in helpers._ELEMENT_LOSSES.items()},
    "binary_cross_entropy":
        lambda Z, A, Y: F.binary_cross_entropy_with_logits(Z, Y, reduction="mean"),
    "cross_entropy": lambda Z, A, Y: F.cross_entropy(Z, Y, reduction="mean"),
}


def torch_activation(name):
    try:
        return TORCH_ACTIVATIONS[name]
    except KeyError:
        raise AssertionError(
            f"activation {name!r} is in derive.activations.ACTIVATIONS but has no torch "
            f"oracle: add it to TORCH_ACTIVATION_FN in tests/helpers.py") from None


def torch_loss(name):
    try:
        return TORCH_LOSSES[name]
    except KeyError:
        raise AssertionError(
            f"loss {name!r} is in derive.losses.LOSSES but has no torch oracle: "
            f"add it to TORCH_LOSSES in tests/property_oracle.py") from None


_SYMPY_UNARY = {
    sp.exp: torch.exp, sp.log: torch.log, sp.Abs: torch.abs,
    sp.sin: torch.sin, sp.cos: torch.cos, sp.tan: torch.tan,
    sp.sinh: torch.sinh, sp.cosh: torch.cosh, sp.tanh: torch.tanh,
    sp.asinh: torch.asinh, sp.atan: torch.atan, sp.erf: torch.erf,
}


def _tensor(v):
    return v if isinstance(v, torch.Tensor) else torch.tensor(float(v), dtype=torch.float64)


def sympy_to_torch(expr, env):
    """Evaluate a SymPy expression with torch ops; env maps symbol names to tensors.

    Raises NotImplementedError (failing the test, loudly) on any node it does
    not know, so a new formula function cannot slip through untested."""
    if expr.is_Symbol:
        if expr.name not in env:
            raise NotImplementedError(f"symbol {expr.name!r} has no value in the torch oracle")
        return env[expr.name]
    if expr.is_number:                      # 2, 1/2, 0.25, pi, E, sqrt(2), log(3), ...
        value = complex(expr.evalf(30))
        if value.imag != 0:
            raise NotImplementedError(f"non-real constant {expr}")
        return value.real
    if isinstance(expr, sp.Add):
        return functools.reduce(operator.add, [sympy_to_torch(a, env) for a in expr.args])
    if isinstance(expr, sp.Mul):
        return functools.reduce(operator.mul, [sympy_to_torch(a, env) for a in expr.args])
    if isinstance(expr, sp.Pow):
        base = sympy_to_torch(expr.base, env)
        if expr.exp.is_Integer:
            return base ** int(expr.exp)
        if expr.exp == sp.Rational(1, 2):
            return torch.sqrt(_tensor(base))
        return _tensor(base) ** sympy_to_torch(expr.exp, env)
    if isinstance(expr, (sp.Max, sp.Min)):
        op = torch.maximum if isinstance(expr, sp.Max) else torch.minimum
        return functools.reduce(op, [_tensor(sympy_to_torch(a, env)) for a in expr.args])
    fn = _SYMPY_UNARY.get(expr.func)
    if fn is not None and len(expr.args) == 1:
        return fn(_tensor(sympy_to_torch(expr.args[0], env)))
    raise NotImplementedError(
        f"the torch oracle has no mapping for SymPy {expr.func.__name__} (in {expr}); "
        f"extend sympy_to_torch in tests/test_property.py")


def formula_activation(text):
    expr = parse_formula(text, ("x",))
    return lambda z: sympy_to_torch(expr, {"x": z}) + 0 * z     # + 0*z: a constant broadcasts


def formula_loss(text):
    expr = parse_formula(text, ("yhat", "y"))
    return lambda A, Y: (sympy_to_torch(expr, {"yhat": A, "y": Y}) + 0 * A).mean()


def torch_reference(structure, params, X, y):
    hidden, out, loss = structure
    tparams = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in params]
    A = torch.tensor(X, dtype=torch.float64)
    Z = None
    for l, act in enumerate((*hidden, out)):
        Z = A @ tparams[2 * l] + tparams[2 * l + 1]
        fn = torch_activation(act) if act in ACTIVATIONS else formula_activation(act)
        A = fn(Z)
    y = np.asarray(y)
    if loss[0] == "kind":
        if np.issubdtype(y.dtype, np.integer):
            Y = torch.tensor(y, dtype=torch.int64)
        else:
            Y = torch.tensor(y.reshape(len(y), -1), dtype=torch.float64)
        L = torch_loss(loss[1])(Z, A, Y)
    else:
        Y = torch.tensor(y.reshape(len(y), -1), dtype=torch.float64)
        L = formula_loss(loss[1])(A, Y)
    grads = torch.autograd.grad(L, tparams, allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(tparams, grads)]
    return float(L.detach()), [g.detach().numpy().copy() for g in grads]
