"""User formulas (an activation in ``x``, a loss in ``yhat`` and ``y``) -> SymPy.

Why this module exists: a formula comes from a spec file that may not be trusted,
so its text is never given to eval, exec, sympify or parse_expr. It is read with
``ast.parse`` and then handled in two passes:

1. validation: the whole tree is walked against an allow-list (numbers, the
   allowed variables, ``pi``, ``E``, ``+ - * / **``, unary ``-``/``+`` and the
   functions in ``FUNCTIONS``). Nothing is built or run here (the only arithmetic
   is a float estimate of constant parts, to bound powers), so a hostile formula
   is refused before it can run code or make SymPy hang: huge powers, huge
   literals, overlong text and deep nesting are refused too;
2. building: only a tree that passed is turned into SymPy objects.

Numbers: ints become ``sp.Integer`` (exact); floats become ``sp.Float(value)``,
which is exactly the IEEE double Python reads from the literal (53-bit
precision) -- the same number the generated float64 kernels use.
"""
from __future__ import annotations

import ast
import math
from typing import Callable, NamedTuple

import sympy as sp

from . import symbols as _symbols
from .errors import FormulaError

MAX_LENGTH = 2000        # characters of formula text
MAX_DEPTH = 100          # nesting levels (a flat chain like a+b+c+... counts once)
MAX_EXPONENT = 1000      # |constant exponent| of a power
MAX_INT_DIGITS = 100     # digits of an integer literal
MAX_CONSTANT = 1e300     # |constant power| (estimated with floats), beyond this SymPy may crawl


class Function(NamedTuple):
    """One allowed function: how to build it in SymPy, and a float estimate of it
    (used only to bound constant powers during validation, never on user text)."""
    build: Callable
    estimate: Callable
    min_args: int = 1
    max_args: int | None = 1     # None: no upper limit


def _sigmoid_estimate(u):
    return 0.5 * (1.0 + math.tanh(0.5 * u))


def _softplus_estimate(u):
    return max(u, 0.0) + math.log1p(math.exp(-abs(u)))


# The allowed functions. Adding a function is one entry here.
FUNCTIONS: dict[str, Function] = {
    "exp": Function(sp.exp, math.exp),
    "log": Function(sp.log, math.log),
    "sqrt": Function(sp.sqrt, math.sqrt),
    "abs": Function(sp.Abs, abs),
    "sin": Function(sp.sin, math.sin),
    "cos": Function(sp.cos, math.cos),
    "tan": Function(sp.tan, math.tan),
    "sinh": Function(sp.sinh, math.sinh),
    "cosh": Function(sp.cosh, math.cosh),
    "tanh": Function(sp.tanh, math.tanh),
    "asinh": Function(sp.asinh, math.asinh),
    "atan": Function(sp.atan, math.atan),
    "erf": Function(sp.erf, math.erf),
    "sigmoid": Function(lambda u: 1 / (1 + sp.exp(-u)), _sigmoid_estimate),
    "softplus": Function(lambda u: sp.log(1 + sp.exp(u)), _softplus_estimate),
    "max": Function(sp.Max, max, 2, None),
    "min": Function(sp.Min, min, 2, None),
}

CONSTANTS = {"pi": (sp.pi, math.pi), "E": (sp.E, math.e)}

_ADDITIVE = (ast.Add, ast.Sub)
_MULTIPLICATIVE = (ast.Mult, ast.Div)
_REFUSED_OPS = {
    ast.Mod: "%", ast.FloorDiv: "//", ast.MatMult: "@", ast.LShift: "<<",
    ast.RShift: ">>", ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&",
    ast.Not: "not", ast.Invert: "~",
}
# friendly names of node kinds that are refused as a whole
_REFUSED_KINDS = {
    ast.Lambda: "lambda is", ast.ListComp: "comprehensions are",
    ast.SetComp: "comprehensions are", ast.DictComp: "comprehensions are",
    ast.GeneratorExp: "comprehensions are", ast.Subscript: "subscripts are",
    ast.Slice: "slices are", ast.Compare: "comparison is",
    ast.BoolOp: "'and' / 'or' are", ast.IfExp: "conditional expressions (... if ... else ...) are",
    ast.List: "lists are", ast.Tuple: "tuples are", ast.Dict: "dicts are", ast.Set: "sets are",
    ast.JoinedStr: "f-strings are", ast.FormattedValue: "f-strings are",
    ast.NamedExpr: "assignment expressions (:=) are", ast.Await: "await is",
    ast.Yield: "yield is", ast.YieldFrom: "yield is",
    ast.Starred: "starred arguments (*args) are",
}


def parse_formula(text: str, variables: tuple[str, ...]) -> sp.Expr:
    """Parse ``text`` into a SymPy expression in ``variables`` (names of symbols in
    ``derive.symbols``, e.g. ``("x",)`` or ``("yhat", "y")``).

    Raises FormulaError, with a one-line message naming the offending piece, for
    anything outside the allow-list described in the module docstring."""
    var_symbols = _variable_symbols(variables)
    source = _prepare(text)
    tree = _parse(source, len(text) - len(text.lstrip()))
    _Validator(source, var_symbols).check(tree.body, 1)      # pass 1: refuse, evaluate nothing
    try:
        expr = _build(tree.body, var_symbols)                 # pass 2: only on a valid tree
    except FormulaError:
        raise
    except (ArithmeticError, ValueError, TypeError, RecursionError) as exc:
        # e.g. Max(zoo, x): "The argument 'zoo' is not comparable."
        raise FormulaError(_one_line(f"formula cannot be built ({exc}); "
                                     f"is it finite and real-valued?")) from None
    if expr.has(sp.zoo, sp.oo, -sp.oo, sp.nan):
        raise FormulaError("formula is not finite (division by zero?)")
    if expr.has(sp.I):
        raise FormulaError("formula is not real-valued (e.g. sqrt or log of a negative constant)")
    return expr


# ---------------------------------------------------------------- checks before parsing

def _variable_symbols(variables) -> dict[str, sp.Symbol]:
    if isinstance(variables, str) or not all(isinstance(v, str) for v in variables):
        raise TypeError(f"variables must be a tuple of names, got {variables!r}")
    out = {}
    for name in variables:
        sym = getattr(_symbols, name, None)
        if not isinstance(sym, sp.Symbol) or name in FUNCTIONS or name in CONSTANTS:
            raise ValueError(f"{name!r} is not a formula variable in derive.symbols")
        out[name] = sym
    return out


def _prepare(text) -> str:
    if not isinstance(text, str):
        raise FormulaError(f"formula must be a string, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"formula too long ({len(text)} characters, at most {MAX_LENGTH})")
    for ch in text:
        if not (ch.isprintable() or ch in "\t\r\n"):
            raise FormulaError(f"the character U+{ord(ch):04X} is not allowed")
    if not text.strip():
        raise FormulaError("formula is empty")
    if "#" in text:
        # a comment is text the AST never sees: it could smuggle anything into a
        # file that quotes the formula
        raise FormulaError("comments (#) are not allowed")
    # line breaks and tabs act as spaces; leading blanks would be an "unexpected indent"
    return text.translate({ord("\t"): " ", ord("\r"): " ", ord("\n"): " "}).lstrip()


def _parse(source: str, lead: int) -> ast.Expression:
    try:
        return ast.parse(source, mode="eval")
    except (RecursionError, MemoryError):
        raise FormulaError("formula nested too deeply") from None
    except SyntaxError as exc:
        msg = exc.msg or "invalid syntax"
        if "nested" in msg or "too complex" in msg:
            raise FormulaError("formula nested too deeply") from None
        where = f" at column {exc.offset + lead}" if exc.offset else " at the end of the formula"
        raise FormulaError(_one_line(f"syntax error{where}: {msg}")) from None
    except ValueError as exc:          # e.g. characters the parser cannot take
        raise FormulaError(_one_line(f"syntax error: {exc}")) from None


def _one_line(message: str) -> str:
    return " ".join(message.split())


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


# ---------------------------------------------------------------- pass 1: validation

def _estimate(fn, *args) -> float:
    """fn(*args) in floats: inf on overflow, nan where undefined."""
    try:
        return float(fn(*args))
    except OverflowError:
        return math.inf
    except (ValueError, ZeroDivisionError, TypeError):
        return math.nan


def _arith(op, a, b):
    if isinstance(op, ast.Add):
        return a + b
    if isinstance(op, ast.Sub):
        return a - b
    if isinstance(op, ast.Mult):
        return a * b
    return a / b


def _chain(node, ops):
    """A left-leaning chain a op b op c ... of one precedence level, walked without
    recursion: (first operand, [(op, operand), ...])."""
    rest = []
    while isinstance(node, ast.BinOp) and isinstance(node.op, ops):
        rest.append((node.op, node.right))
        node = node.left
    rest.reverse()
    return node, rest


class _Validator:
    """Walks the tree, refuses anything not allowed. Returns, for each node, a float
    estimate if it is a constant (no variables) and None otherwise; the estimates are
    only used to bound constant powers."""

    def __init__(self, source, var_symbols):
        self.source = source
        self.variables = var_symbols

    def segment(self, node) -> str:
        return _short(_one_line(ast.get_source_segment(self.source, node) or type(node).__name__))

    def allowed_names(self) -> str:
        names = ", ".join([*self.variables, *CONSTANTS])
        return f"use {names} or one of: {', '.join(FUNCTIONS)}"

    def check(self, node, depth):
        if depth > MAX_DEPTH:
            raise FormulaError(f"formula nested too deeply (more than {MAX_DEPTH} levels)")
        method = getattr(self, "check_" + type(node).__name__, None)
        if method is not None:
            return method(node, depth)
        kind = _REFUSED_KINDS.get(type(node))
        if kind is not None:
            raise FormulaError(f"{kind} not allowed: '{self.segment(node)}'")
        raise FormulaError(f"{type(node).__name__} expressions are not allowed: "
                           f"'{self.segment(node)}'")

    def check_Constant(self, node, depth):
        value = node.value
        if isinstance(value, bool) or value is None:
            raise FormulaError(f"{value} is not allowed; use numbers")
        if isinstance(value, (str, bytes)):
            raise FormulaError(f"strings are not allowed: {self.segment(node)}")
        if isinstance(value, complex):
            raise FormulaError(f"complex numbers are not allowed: '{self.segment(node)}'")
        if isinstance(value, int):
            digits = len(str(abs(value)))
            if digits > MAX_INT_DIGITS:
                raise FormulaError(f"integer literal too long ({digits} digits, "
                                   f"at most {MAX_INT_DIGITS})")
            return float(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise FormulaError(f"number too large: '{self.segment(node)}'")
            return value
        raise FormulaError(f"'{self.segment(node)}' is not allowed")

    def check_Name(self, node, depth):
        if node.id in self.variables:
            return None
        if node.id in CONSTANTS:
            return CONSTANTS[node.id][1]
        if node.id in FUNCTIONS:
            raise FormulaError(f"'{node.id}' is a function; call it, e.g. {node.id}(...)")
        raise FormulaError(f"name {_short(node.id)!r} is not allowed; {self.allowed_names()}")

    def check_Attribute(self, node, depth):
        raise FormulaError(f"attribute access {_short(node.attr)!r} is not allowed")

    def check_UnaryOp(self, node, depth):
        if isinstance(node.op, ast.USub):
            value = self.check(node.operand, depth + 1)
            return None if value is None else -value
        if isinstance(node.op, ast.UAdd):
            return self.check(node.operand, depth + 1)
        return self.refuse_op(node.op)

    def refuse_op(self, op):
        symbol = _REFUSED_OPS.get(type(op), type(op).__name__)
        hint = "; use ** for powers" if symbol == "^" else ""
        raise FormulaError(f"the operator {symbol!r} is not allowed{hint}")

    def check_BinOp(self, node, depth):
        if isinstance(node.op, (_ADDITIVE, _MULTIPLICATIVE)):
            group = _ADDITIVE if isinstance(node.op, _ADDITIVE) else _MULTIPLICATIVE
            first, rest = _chain(node, group)
            value = self.check(first, depth + 1)
            for op, operand in rest:
                right = self.check(operand, depth + 1)
                value = None if value is None or right is None else _estimate(_arith, op, value, right)
            return value
        if isinstance(node.op, ast.Pow):
            return self.check_power(node, depth)
        return self.refuse_op(node.op)

    def check_power(self, node, depth):
        base = self.check(node.left, depth + 1)
        exponent = self.check(node.right, depth + 1)
        if exponent is None:
            return None
        if math.isnan(exponent):
            raise FormulaError(f"the exponent in '{self.segment(node)}' is not a finite real number")
        if abs(exponent) > MAX_EXPONENT:
            raise FormulaError(f"exponent too large in '{self.segment(node)}' "
                               f"(a constant exponent must lie in [-{MAX_EXPONENT}, {MAX_EXPONENT}])")
        if base is None:
            return None
        value = _estimate(math.pow, base, exponent)
        if math.isnan(value) or math.isnan(base):
            raise FormulaError(f"'{self.segment(node)}' is not a finite real number")
        if abs(value) > MAX_CONSTANT:
            raise FormulaError(f"number too large: '{self.segment(node)}'")
        return value

    def check_Call(self, node, depth):
        if not isinstance(node.func, ast.Name):
            self.check(node.func, depth + 1)        # refuses attribute access, calls, ...
            raise FormulaError(f"call of '{self.segment(node.func)}' is not allowed")
        name = node.func.id
        fn = FUNCTIONS.get(name)
        if fn is None:
            raise FormulaError(f"call of {_short(name)!r} is not allowed; "
                               f"functions: {', '.join(FUNCTIONS)}")
        if node.keywords:
            raise FormulaError(f"keyword arguments are not allowed (in the call of {name!r})")
        if any(isinstance(arg, ast.Starred) for arg in node.args):
            raise FormulaError(f"starred arguments (*args) are not allowed (in the call of {name!r})")
        n = len(node.args)
        if fn.max_args is None and n < fn.min_args:
            raise FormulaError(f"{name} takes at least {fn.min_args} arguments ({n} given)")
        if fn.max_args is not None and not fn.min_args <= n <= fn.max_args:
            raise FormulaError(f"{name} takes exactly {fn.min_args} argument ({n} given)")
        values = [self.check(arg, depth + 1) for arg in node.args]
        if name in ("max", "min") and any(v is not None and math.isnan(v) for v in values):
            raise FormulaError(f"the arguments of {name} must be real numbers: "
                               f"'{self.segment(node)}'")
        if any(v is None for v in values):
            return None
        return _estimate(fn.estimate, *values)


# ---------------------------------------------------------------- pass 2: building

def _build(node, var_symbols):
    """SymPy expression of a tree that passed validation (so every node is allowed)."""
    if isinstance(node, ast.Constant):
        return sp.Integer(node.value) if isinstance(node.value, int) else sp.Float(node.value)
    if isinstance(node, ast.Name):
        if node.id in var_symbols:
            return var_symbols[node.id]
        return CONSTANTS[node.id][0]
    if isinstance(node, ast.UnaryOp):
        operand = _build(node.operand, var_symbols)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Pow):
            return _build(node.left, var_symbols) ** _build(node.right, var_symbols)
        group = _ADDITIVE if isinstance(node.op, _ADDITIVE) else _MULTIPLICATIVE
        first, rest = _chain(node, group)
        terms = [_build(first, var_symbols)]
        for op, operand in rest:
            term = _build(operand, var_symbols)
            if isinstance(op, ast.Sub):
                term = -term
            elif isinstance(op, ast.Div):
                term = 1 / term
            terms.append(term)
        return sp.Add(*terms) if group is _ADDITIVE else sp.Mul(*terms)
    if isinstance(node, ast.Call):
        return FUNCTIONS[node.func.id].build(*[_build(arg, var_symbols) for arg in node.args])
    raise AssertionError(f"unvalidated node {type(node).__name__}")  # pragma: no cover
