"""SymPy -> Numba scalar code. Every kernel expression in a generated module is
printed here; templates only hold loops and structure.

Printing decisions (not derivation changes):
- constants are typed to the module's dtype (`DT(0.5)`), so float32 kernels never
  upcast to float64; small integer powers become products;
- Heaviside and sign print as branches, Max/Min as builtins, Piecewise as ternaries;
- log(1 + exp(u)) prints as the stable softplus max(u, 0) + log1p(exp(-|u|)).
"""
import sympy as sp
from sympy.codegen.cfunctions import log1p
from sympy.printing.pycode import PythonCodePrinter


class PrintError(ValueError):
    """An expression has a function with no Numba-compatible code."""


_ALLOWED = {"exp", "log", "sqrt", "Abs", "sin", "cos", "tan", "sinh", "cosh", "tanh",
            "asinh", "acosh", "atanh", "atan", "asin", "acos", "erf", "erfc", "Max", "Min",
            "Heaviside", "sign", "Piecewise", "log1p", "expm1"}


def stable_softplus(expr):
    """Rewrite log(1 + exp(u)) -> max(u, 0) + log1p(exp(-|u|)), equal for real u."""
    def is_softplus(e):
        if not isinstance(e, sp.log) or not isinstance(e.args[0], sp.Add):
            return False
        terms = e.args[0].args
        return len(terms) == 2 and sp.S.One in terms and any(isinstance(t, sp.exp) for t in terms)

    def rewrite(e):
        u = next(t for t in e.args[0].args if isinstance(t, sp.exp)).args[0]
        return sp.Max(u, 0) + log1p(sp.exp(-sp.Abs(u)))
    return expr.replace(is_softplus, rewrite)


class KernelPrinter(PythonCodePrinter):
    """Prints scalar expressions for @njit code; `const` wraps every number."""

    def __init__(self, const="DT({})", names=None):
        super().__init__({"fully_qualified_modules": True, "standard": "python3"})
        self._const = const
        self._names = names or {}

    # numbers -----------------------------------------------------------
    def _number(self, text):
        return self._const.format(text)

    def _print_Integer(self, e):
        return self._number(f"{int(e)}.0" if "." not in self._const else str(int(e)))

    def _print_Rational(self, e):
        return self._number(repr(float(e)))

    def _print_Float(self, e):
        return self._number(repr(float(e)))

    def _print_Half(self, e):
        return self._print_Rational(e)

    def _print_NegativeOne(self, e):
        return self._number("-1.0")

    def _print_One(self, e):
        return self._number("1.0")

    def _print_Zero(self, e):
        return self._number("0.0")

    def _print_Pi(self, e):
        return self._number("math.pi")

    def _print_Exp1(self, e):
        return self._number("math.e")

    def _print_BooleanTrue(self, e):
        return "True"

    def _print_BooleanFalse(self, e):
        return "False"

    def _print_Symbol(self, e):
        return self._names.get(e, e.name)

    # operators ---------------------------------------------------------
    def _print_Pow(self, e, rational=False):
        base, exp = e.args
        if exp == sp.S.Half:
            return f"math.sqrt({self._print(base)})"
        if exp == -sp.S.Half:
            return f"({self._print(sp.S.One)} / math.sqrt({self._print(base)}))"
        if exp.is_Integer and 1 <= abs(int(exp)) <= 4:
            b = self.parenthesize(base, sp.printing.precedence.PRECEDENCE["Mul"] + 1)
            prod = " * ".join([b] * abs(int(exp)))
            return f"({prod})" if exp > 0 else f"({self._print(sp.S.One)} / ({prod}))"
        if exp.is_Integer and base.is_Symbol and not base.is_real is False:
            return f"({self._print(base)} ** {int(exp)})"
        return f"({self._print(base)} ** {self._print(exp)})"

    def _print_Heaviside(self, e):
        u, h0 = e.args if len(e.args) == 2 else (e.args[0], sp.S.Half)
        one, zero, mid = self._print(sp.S.One), self._print(sp.S.Zero), self._print(h0)
        u = self._print(u)
        if h0 == 0:
            return f"({one} if {u} > {zero} else {zero})"
        return f"({one} if {u} > {zero} else ({zero} if {u} < {zero} else {mid}))"

    def _print_sign(self, e):
        u = self._print(e.args[0])
        one, zero = self._print(sp.S.One), self._print(sp.S.Zero)
        return f"({one} if {u} > {zero} else (-{one} if {u} < {zero} else {zero}))"

    def _print_Abs(self, e):
        return f"abs({self._print(e.args[0])})"

    def _minmax(self, fn, e):
        args = [self._print(arg) for arg in e.args]
        out = args[0]
        for other in args[1:]:
            out = f"{fn}({out}, {other})"
        return out

    def _print_Max(self, e):
        return self._minmax("max", e)

    def _print_Min(self, e):
        return self._minmax("min", e)

    def _print_log1p(self, e):
        return f"math.log1p({self._print(e.args[0])})"

    def _print_expm1(self, e):
        return f"math.expm1({self._print(e.args[0])})"

    def _print_Function(self, e):
        raise PrintError(f"no kernel code for the function {e.func.__name__}")

    def doprint_checked(self, expr):
        expr = stable_softplus(sp.sympify(expr))
        for f in expr.atoms(sp.Function):
            if type(f).__name__ not in _ALLOWED:
                raise PrintError(f"no kernel code for {type(f).__name__} in {expr}")
        return self.doprint(expr)


def kernel_code(expr, const="DT({})", names=None):
    """Print one scalar expression for a jitted kernel."""
    return KernelPrinter(const, names).doprint_checked(expr)
