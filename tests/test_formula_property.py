"""derive.formula, by property: a random formula tree, rendered to text and parsed,
evaluates as Python's math module evaluates the same tree; and any text at all gives
an expression or a FormulaError, nothing else."""
import math

import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derive import symbols as S
from derive.errors import FormulaError
from derive.formula import parse_formula

X = ("x",)


def px(text):
    return parse_formula(text, X)


_MATH_FUNCS = {
    "exp": math.exp, "log": math.log, "sqrt": math.sqrt, "abs": abs, "sin": math.sin,
    "cos": math.cos, "tan": math.tan, "sinh": math.sinh, "cosh": math.cosh,
    "tanh": math.tanh, "asinh": math.asinh, "atan": math.atan, "erf": math.erf,
    "sigmoid": lambda u: 1 / (1 + math.exp(-u)),
    "softplus": lambda u: math.log(1 + math.exp(u)),
    "max": max, "min": min,
}
_UNARY = [f for f in _MATH_FUNCS if f not in ("max", "min")]

_leaves = st.one_of(
    st.just(("x",)), st.just(("pi",)), st.just(("E",)),
    st.integers(0, 4).map(lambda n: ("num", n)),
    st.sampled_from([0.5, 1.5, 0.25, 2.75]).map(lambda f: ("num", f)),
)
_exponents = st.one_of(
    st.integers(-3, 3).map(lambda n: ("num", n)),
    st.just(("num", 0.5)), st.just(("x",)),
    st.integers(1, 3).map(lambda n: ("neg", ("num", n))),
)


def _extend(children):
    return st.one_of(
        st.tuples(st.just("neg"), children),
        st.tuples(st.just("pos"), children),
        st.tuples(st.just("bin"), st.sampled_from("+-*/"), children, children),
        st.tuples(st.just("pow"), children, _exponents),
        st.tuples(st.just("call"), st.sampled_from(_UNARY), children),
        st.tuples(st.just("call"), st.sampled_from(["max", "min"]),
                  st.lists(children, min_size=2, max_size=3)),
    )


_trees = st.recursive(_leaves, _extend, max_leaves=6)


def _render(t):
    kind = t[0]
    if kind in ("x", "pi", "E"):
        return kind
    if kind == "num":
        return repr(t[1])
    if kind == "neg":
        return f"(-{_render(t[1])})"
    if kind == "pos":
        return f"(+{_render(t[1])})"
    if kind == "bin":
        return f"({_render(t[2])} {t[1]} {_render(t[3])})"
    if kind == "pow":
        return f"({_render(t[1])})**{_render(t[2])}"
    args = t[2] if isinstance(t[2], list) else [t[2]]
    return f"{t[1]}({', '.join(_render(a) for a in args)})"


class _Undefined(Exception):
    pass


def _evaluate(t, xv, sizes):
    """The tree's value with Python's math module; raises _Undefined where math
    does not give a finite number. sizes collects |v| of every nonzero intermediate."""
    kind = t[0]
    try:
        if kind == "x":
            v = xv
        elif kind == "pi":
            v = math.pi
        elif kind == "E":
            v = math.e
        elif kind == "num":
            v = float(t[1])
        elif kind == "neg":
            v = -_evaluate(t[1], xv, sizes)
        elif kind == "pos":
            v = _evaluate(t[1], xv, sizes)
        elif kind == "bin":
            a, b = _evaluate(t[2], xv, sizes), _evaluate(t[3], xv, sizes)
            v = {"+": a + b, "-": a - b, "*": a * b}[t[1]] if t[1] != "/" else a / b
        elif kind == "pow":
            v = math.pow(_evaluate(t[1], xv, sizes), _evaluate(t[2], xv, sizes))
        else:
            args = t[2] if isinstance(t[2], list) else [t[2]]
            v = _MATH_FUNCS[t[1]](*[_evaluate(a, xv, sizes) for a in args])
    except (ValueError, ZeroDivisionError, OverflowError) as exc:
        raise _Undefined from exc
    v = float(v)
    if not math.isfinite(v):
        raise _Undefined
    if v:
        sizes.append(abs(v))
    return v


_POINTS = [-1.7, -0.3, 0.0, 0.4, 1.3, 2.6]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_trees)
def test_random_formulas_match_math(tree):
    text = _render(tree)
    defined, clean = {}, {}     # points where math gives a number; and no rounding trouble
    for xv in _POINTS:
        sizes = []
        try:
            defined[xv] = _evaluate(tree, xv, sizes)
        except _Undefined:
            continue
        # SymPy is exact: sin(pi) is 0 there, 1.2e-16 in floats; huge intermediates
        # cancel differently. Compare only where math's floats are trustworthy.
        if all(1e-9 <= size <= 1e6 for size in sizes):
            clean[xv] = defined[xv]
    try:
        expr = px(text)
    except FormulaError as exc:
        if any(m in str(exc) for m in ("not finite", "not real-valued", "cannot be built")):
            # SymPy made a pole or an imaginary part explicit (x/(x-x) -> zoo*x,
            # 0**(-x) -> zoo**x, log(sin(pi)) -> zoo, (-x*x)**0.5 -> I*|x|,
            # max(x, 1/sin(pi)) -> Max(x, zoo) cannot be compared):
            # math must fail or be near-singular somewhere too
            assert len(clean) < len(_POINTS), (text, str(exc))
        else:
            # a constant part that overflows or is not real: math fails everywhere too
            assert not defined, (text, str(exc))
        return
    f = sp.lambdify(S.x, expr, modules="math")
    for xv, want in clean.items():
        got = f(xv)
        assert isinstance(got, (int, float)), (text, xv, got)
        assert math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-6), (text, xv, got, want)


_ALPHABET = "x y0123456789.e+-*/()**,  epsqrtlogmaxinabhE_'[]:%<=!~@"


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.text(alphabet=_ALPHABET, max_size=40),
    st.lists(st.sampled_from(["x", "1", "2.5", "exp(", "max(", ",", ")", "(", "**", "-",
                              "+", "*", "/", "pi", "E", "9**", "1000", "sqrt(", "log("]),
             max_size=25).map("".join),
))
def test_any_text_gives_an_expression_or_a_formula_error(text):
    try:
        expr = px(text)
    except FormulaError as exc:
        assert str(exc).strip() and "\n" not in str(exc)
    else:
        assert isinstance(expr, sp.Expr)
        assert expr.free_symbols <= {S.x}
