"""SymPy -> Numba scalar code. Every kernel expression in a generated module is
printed here; templates only hold loops and structure.

Printing decisions (not derivation changes):
- constants are typed to the module's dtype (`DT(0.5)`), so float32 kernels never
  upcast to float64; small integer powers become products;
- Heaviside and sign print as branches, Max/Min as builtins, Piecewise as ternaries;
- log(1 + exp(u)) prints as the stable softplus max(u, 0) + log1p(exp(-|u|));
- exp(p*u) / (1 + exp(u))**q (0 < p <= q integers) prints as
  1/((1 + exp(-u))**p * (1 + exp(u))**(q - p)): every factor lies in [0, 1], so
  no inf/inf or inf*0 for large |u| (sigmoid', silu', softplus');
- c*exp(u) - c prints as c*expm1(u), accurate near u = 0 (elu, selu; torch uses expm1);
- c + c*erf(u) prints as c*erfc(-u), accurate where erf(u) is near -1 (gelu, gelu'
  for z << 0, where 1 + erf cancels: gelu'(-6) is then right to rounding);
- tanh(u) prints as sign(u)*(1 - exp(-2|u|))/(1 + exp(-2|u|)), for speed: libm's
  tanh is several times slower than its exp (tanhf about 18 ns, expf 3 ns here),
  and a tanh layer's step was dominated by it. exp(-2|u|) lies in (0, 1]: no
  overflow, finite for every real u; the error is within a few units in the last
  place of 1 (absolute), as tanh's values near +-1 are; near u = 0 the relative
  error grows as 1 - exp(-2|u|) cancels (about 1e-9 at |u| = 1e-7 in float64).
  That is the float64 form. In float32 kernels tanh(u) prints as _tanh_f32(u), a
  helper (tanh_f32_source) with Eigen's 13/6 rational minimax approximation, the one
  XLA and JAX use: no exp at all, so a layer's loop vectorises (W1's step 25 %
  faster), and it is the more accurate of the two in float32 (at most 6 ulp from
  tanh over every float32, against 500 ulp near u = 1e-3 for the exp form, whose
  1 - exp(-2|u|) cancels).
Each rewrite is an identity for real arguments (tests/test_stability.py and
tests/test_printer_rewrites.py check them).
"""
import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p
from sympy.printing.pycode import PythonCodePrinter


class PrintError(ValueError):
    """An expression has a function with no Numba-compatible code."""


_ALLOWED = {"exp", "log", "sqrt", "Abs", "sin", "cos", "tan", "sinh", "cosh", "tanh",
            "asinh", "acosh", "atanh", "atan", "asin", "acos", "erf", "erfc", "Max", "Min",
            "Heaviside", "sign", "Piecewise", "log1p", "expm1", "tanh_f32", "floor"}


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


def _logistic_base(e):
    """u when e is 1 + exp(u), else None."""
    if isinstance(e, sp.Add) and len(e.args) == 2 and sp.S.One in e.args:
        other = e.args[0] if e.args[1] == sp.S.One else e.args[1]
        if isinstance(other, sp.exp):
            return other.args[0]
    return None


def stable_logistic(expr):
    """Rewrite exp(p*u) / (1 + exp(u))**q -> 1 / ((1 + exp(-u))**p * (1 + exp(u))**(q - p))
    for integers 0 < p <= q: equal for real u, since exp(u) / (1 + exp(u)) = 1 / (1 + exp(-u))."""
    def match(e):
        if not isinstance(e, sp.Mul):
            return None
        factors = e.args
        for den in factors:
            if not (isinstance(den, sp.Pow) and den.exp.is_Integer and den.exp < 0):
                continue
            u = _logistic_base(den.base)
            if u is None:
                continue
            q = -int(den.exp)
            for num in factors:
                if isinstance(num, sp.exp):
                    p = sp.simplify(num.args[0] / u)
                    if p.is_Integer and 0 < p <= q:
                        return den, num, u, int(p), q
        return None

    def rewrite(e):
        den, num, u, p, q = match(e)
        rest = [f for f in e.args if f is not den and f is not num]
        return sp.Mul(*rest, sp.Pow(1 + sp.exp(-u), -p), sp.Pow(1 + sp.exp(u), p - q))

    previous = None
    while previous != expr:    # a product may hold more than one such quotient
        previous, expr = expr, expr.replace(lambda e: match(e) is not None, rewrite)
    return expr


def _complement(expr, fn, sign, rewrite_as):
    """In every sum, c*fn(u) + sign*c -> rewrite_as(c, u) (c a number, 1 included)."""
    def split(term):
        coeff, rest = term.as_coeff_Mul()
        return (coeff, rest.args[0]) if isinstance(rest, fn) else (None, None)

    def match(e):
        if not isinstance(e, sp.Add):
            return None
        const = next((t for t in e.args if t.is_Number), None)
        if const is None:
            return None
        for term in e.args:
            c, u = split(term)
            if c is not None and c == sign * const:
                return const, term, c, u
        return None

    def rewrite(e):
        const, term, c, u = match(e)
        rest = [t for t in e.args if t is not const and t is not term]
        return sp.Add(*rest, rewrite_as(c, u))
    return expr.replace(lambda e: match(e) is not None, rewrite)


def use_expm1(expr):
    """Rewrite c*exp(u) - c -> c*expm1(u) in every sum (c a number, 1 included)."""
    return _complement(expr, sp.exp, -1, lambda c, u: c * expm1(u))


def use_erfc(expr):
    """Rewrite c + c*erf(u) -> c*erfc(-u) in every sum (and c*erf(u) - c -> -c*erfc(u)):
    no cancellation where erf(u) is near -1 (gelu and gelu' for z << 0)."""
    expr = _complement(expr, sp.erf, 1, lambda c, u: c * sp.erfc(-u, evaluate=False))
    return _complement(expr, sp.erf, -1, lambda c, u: -c * sp.erfc(u))


def exp_tanh(expr):
    """Rewrite tanh(u) -> sign(u)*(1 - exp(-2|u|))/(1 + exp(-2|u|)), equal for real u.
    Applied last, so that use_expm1 does not turn 1 - exp(..) into the slower expm1."""
    def rewrite(e):
        u = e.args[0]
        t = sp.exp(-2 * sp.Abs(u))
        return sp.sign(u) * (1 - t) / (1 + t)
    return expr.replace(lambda e: isinstance(e, sp.tanh), rewrite)


class tanh_f32(sp.Function):
    """tanh(u) in a float32 kernel: printed as a call of the helper _tanh_f32."""
    nargs = 1


# Eigen's generic_fast_tanh_float: tanh(x) ~ x*P(x**2)/Q(x**2) on x clamped to
# +-TANH_F32_CLAMP (beyond it tanh rounds to +-1 in float32, and there the rational
# is exactly 1, never above), and x itself below TANH_F32_TINY.
TANH_F32_CLAMP = 7.90531110763549805
TANH_F32_TINY = 0.0004
TANH_F32_P = (4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05,
              5.12229709037114e-08, -8.60467152213735e-11, 2.00018790482477e-13,
              -2.76076847742355e-16)            # coefficients of x**0, x**2, ... in P
TANH_F32_Q = (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04,
              1.19825839466702e-06)             # of x**0, x**2, ... in Q


def _horner(coefficients, x2):
    """c0 + x2*(c1 + x2*(c2 + ...)) with SymPy Floats, unexpanded."""
    out = sp.Float(coefficients[-1], 17)
    for c in reversed(coefficients[:-1]):
        out = sp.Add(sp.Float(c, 17), sp.Mul(x2, out, evaluate=False), evaluate=False)
    return out


def tanh_f32_source(decorator):
    """The helper _tanh_f32(u) that float32 kernels call for tanh(u): statements
    around the two printed polynomials, each a multiply-add chain."""
    x2 = sp.Symbol("x2")
    p, q = (KernelPrinter().doprint(_horner(c, x2)) for c in (TANH_F32_P, TANH_F32_Q))
    clamp, tiny = (KernelPrinter().doprint(sp.Float(v, 17)) for v in (TANH_F32_CLAMP, TANH_F32_TINY))
    return (f"{decorator}\n"
            "def _tanh_f32(u):\n"
            '    """tanh(u) in float32 without exp, so that loops over it vectorise: Eigen\'s\n'
            "    13/6 rational minimax approximation x*P(x**2)/Q(x**2), x = u clamped to\n"
            f"    +-{TANH_F32_CLAMP!r} (beyond it tanh(u) rounds to +-1), and u itself for\n"
            f"    |u| < {TANH_F32_TINY!r}. Within 6 float32 ulp of tanh (tests/test_tanh_rewrite.py).\"\"\"\n"
            f"    x = min(max(u, -{clamp}), {clamp})\n"
            "    x2 = x * x\n"
            f"    p = x * ({p})\n"
            f"    q = {q}\n"
            f"    return u if abs(u) < {tiny} else p / q\n")


def helper_sources(codes, decorator):
    """The sources of the helpers that printed code (strings) calls."""
    return [tanh_f32_source(decorator)] if any("_tanh_f32(" in c for c in codes) else []


def stable_form(expr, dtype="float64"):
    """The expression as printed: the printing rewrites above, in order; tanh in a
    float32 kernel becomes tanh_f32 instead of the exp form."""
    expr = use_erfc(use_expm1(stable_logistic(stable_softplus(sp.sympify(expr)))))
    if dtype == "float32":
        return expr.replace(lambda e: isinstance(e, sp.tanh), lambda e: tanh_f32(e.args[0]))
    return exp_tanh(expr)


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
        power = self._print(exp)
        return f"({self._print(base)} ** {power if exp.is_Atom else '(' + power + ')'})"

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

    def _print_floor(self, e):
        return f"math.floor({self._print(e.args[0])})"

    def _print_tanh_f32(self, e):
        return f"_tanh_f32({self._print(e.args[0])})"

    def _print_Function(self, e):
        raise PrintError(f"no kernel code for the function {e.func.__name__}")

    def doprint_checked(self, expr, dtype="float64"):
        expr = stable_form(expr, dtype)
        for f in expr.atoms(sp.Function):
            if type(f).__name__ not in _ALLOWED:
                raise PrintError(f"no kernel code for {type(f).__name__} in {expr}")
        return self.doprint(expr)


def kernel_code(expr, const="DT({})", names=None, dtype="float64"):
    """Print one scalar expression for a jitted kernel of a `dtype` module."""
    return KernelPrinter(const, names).doprint_checked(expr, dtype)
