"""The form of an activation's derivative that the backward pass uses, found by
searches whose extent is fixed by the expressions alone, never by a clock.

- `in_terms_of_output`: f'(z) rewritten in the unit's output a = f(z) where that
  is exact (sigmoid' = a(1-a), tanh' = 1-a^2), so the backward pass reuses
  stored activations. Each candidate is verified numerically.
- `simplified`: otherwise a simpler equal form in z (softsign' = 1/(1+|z|)^2),
  verified the same way, kinks included; `backward_form` picks between them.
- `bounded_simplify`: SymPy's simplify where the expression is small enough.

Why deterministic bounds: SymPy's simplify and solve can take practically forever
on some inputs (a cubic's radicals). A time limit made the result depend on the
machine's load and on the thread (signals work only in the main thread), so the
same spec could derive differently. Instead every search is gated by the size of
its input (`SEARCH_OPS`, operations as sympy.count_ops counts them), candidates by
theirs (`CANDIDATE_OPS`), and solve is asked only for an inverse that a fixed set
of rules says exists in closed form (`has_closed_inverse`).
"""
import math

import sympy as sp

from .symbols import a, z

SEARCH_OPS = 40          # largest input (count_ops) a simplify or output-form search takes
CANDIDATE_OPS = 60       # largest candidate (count_ops) handed to simplify
INVERSE_DEGREE = 2       # largest polynomial degree in z solved for an inverse

KINKS = (sp.Abs, sp.Max, sp.Min, sp.Piecewise, sp.Heaviside, sp.sign)   # non-invertible, kinked
_PROBES = (-2.7, -1.3, -0.6, -0.05, 0.0, 0.04, 0.5, 1.1, 2.3, 3.1)
# one-argument functions that are injective on the reals, so a = g(u) has one u
_INJECTIVE = (sp.exp, sp.log, sp.tanh, sp.sinh, sp.asinh, sp.atan, sp.erf)
_SEARCH_ERRORS = (NotImplementedError, ValueError, TypeError, ZeroDivisionError)


def small(expr, limit=None):
    """True when expr has at most `limit` (default SEARCH_OPS) operations: the bound of
    every search. 40 keeps the property test's 588 formulas under 2.5 s each; without
    a bound one of them takes 34 s in simplify."""
    return sp.count_ops(expr) <= (SEARCH_OPS if limit is None else limit)


def bounded_simplify(expr):
    """factor(simplify(expr)) when expr is small enough to search (SEARCH_OPS), else expr."""
    if not small(expr):
        return expr
    try:
        return sp.factor(sp.simplify(expr))
    except _SEARCH_ERRORS:
        return expr


def optional(search, fallback, seconds=None):
    """search(), or fallback when fallback (the expression the search would rewrite)
    is too big to search: for rewrites that only make a correct expression cheaper
    or prettier, never for the derivation itself. `seconds` is ignored (it was a
    time limit; kept so that older callers keep working)."""
    if fallback is not None and not small(fallback):
        return fallback
    try:
        return search()
    except _SEARCH_ERRORS:
        return fallback


def _value(expr, zv, fz):
    try:
        v = complex(expr.subs({z: zv, a: fz}).evalf())
    except (TypeError, ValueError):
        return None
    return v.real if abs(v.imag) < 1e-12 else None


def agrees(candidate, original, f):
    """True when candidate(a = f(z)) equals original(z) at every probe point."""
    checked = 0
    for zv in _PROBES:
        fz = _value(f, zv, 0)
        want = _value(original, zv, fz)
        got = _value(candidate, zv, fz)
        if want is None or not math.isfinite(want):
            continue
        if got is None or not math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12):
            return False
        checked += 1
    return checked >= 3


def new_functions(cand, dz):
    """True when cand uses a kind of function that dz does not."""
    def kinds_in(e):
        return {type(f) for f in e.atoms(sp.Function)}
    return bool(kinds_in(cand) - kinds_in(dz))


# --------------------------------------------------------------------------- in the output a

def _root_or_odd_power(n):
    """u**n that solve inverts by one root or power: n an odd integer or 1/n. Not a
    float or a fraction such as 3/2, which solve turns into a polynomial of higher
    degree and its radicals (log(1 + (1 + e^z)^1.5) took 44 s)."""
    return bool(n.is_Rational and (n.q == 1 and n.p % 2 or abs(n.p) == 1))


def _single_chain(f):
    """True when f is z passed through injective one-argument steps (z occurs once):
    constant shifts and factors, odd or fractional powers, exp, log, tanh, ..."""
    while f != z:
        if isinstance(f, (sp.Add, sp.Mul)):
            dependent = [arg for arg in f.args if arg.has(z)]
            if len(dependent) != 1:
                return False
            f = dependent[0]
        elif isinstance(f, sp.Pow):
            if f.exp.has(z):
                if f.base.has(z):
                    return False
                f = f.exp                     # c**u: injective for a constant base
            elif _root_or_odd_power(f.exp):
                f = f.base
            else:
                return False
        elif isinstance(f, _INJECTIVE) and len(f.args) == 1:
            f = f.args[0]
        else:
            return False
    return True


def _low_degree_rational(f):
    """True when a = f(z) is a polynomial equation of degree <= INVERSE_DEGREE in z
    once its denominator is cleared (a Moebius map, a quadratic)."""
    num, den = sp.fraction(sp.together(f))
    if not (num.is_polynomial(z) and den.is_polynomial(z)):
        return False
    return bool(sp.degree(sp.expand(a * den - num), z) <= INVERSE_DEGREE)


def has_closed_inverse(f):
    """Whether sympy.solve is asked to invert a = f(z): only for small kink-free f
    that a fixed set of rules inverts in closed form (_single_chain,
    _low_degree_rational). Others (z + sin z, z^3/(1 + z^2), z tanh z) have no
    usable inverse, and solve could search them for a long time."""
    if f.has(*KINKS) or not small(f):
        return False
    return bool(_single_chain(f) or _low_degree_rational(f))


def _sign_tests(expr):
    """The sign tests of z that expr's steps make, as a set of "pos" (z > 0) and
    "neg" (z < 0); None if a step tests anything else (e.g. Heaviside(2 - z))."""
    tests = set()
    for e in expr.atoms(sp.Heaviside, sp.sign):
        u = sp.expand(e.args[0])
        if isinstance(e, sp.sign) and u in (z, -z):
            tests |= {"pos", "neg"}
        elif u == z:
            tests.add("pos")
        elif u == -z:
            tests.add("neg")
        else:
            return None
    for pw in expr.atoms(sp.Piecewise):
        for _, cond in pw.args:
            if cond in (sp.true, sp.false):
                continue
            if not isinstance(cond, sp.core.relational.Relational) or cond.rhs != 0 or cond.lhs != z:
                return None
            # z > 0 and z <= 0 ask "is z positive"; z < 0 and z >= 0 "is z negative"
            tests.add("pos" if isinstance(cond, (sp.StrictGreaterThan, sp.LessThan)) else "neg")
    return tests


def _same_sign_tests(f, tests):
    """Each test gives the same answer on a = f(z) as on z, at every probe."""
    points = _PROBES + (-1e-3, 1e-3, -40.0, 40.0)
    values = [(zv, _value(f, zv, 0)) for zv in points]
    if any(v is None for _, v in values):
        return False
    return all(("pos" not in tests or (fz > 0) == (zv > 0)) and
               ("neg" not in tests or (fz < 0) == (zv < 0)) for zv, fz in values)


def _piece_in_output(value, piece):
    """value (one piece of dz) in terms of a, where a = piece (f's piece under the same
    condition): by substitution, else through the piece's closed inverse; or None. The
    piece's float constants (selu's) are symbols meanwhile, so that c (a / c + 1) comes
    out as a + c exactly, not (c / c) a rounded."""
    if z not in value.free_symbols:
        return value
    found = value.subs(piece, a)
    if z not in found.free_symbols:
        return found
    if not has_closed_inverse(piece):
        return None
    floats = sorted(piece.atoms(sp.Float) | value.atoms(sp.Float), key=sp.srepr)
    named = {c: sp.Symbol(f"_c{i}", positive=bool(c > 0), negative=bool(c < 0))
             for i, c in enumerate(floats) if c != 0}
    try:
        inverses = sp.solve(sp.Eq(a, piece.xreplace(named)), z)
    except _SEARCH_ERRORS:
        return None
    for inverse in inverses:
        if not inverse.has(sp.I):
            found = bounded_simplify(value.xreplace(named).subs(z, inverse))
            if z not in found.free_symbols:
                return sp.expand(found.xreplace({s: c for c, s in named.items()}))
    return None


def _piecewise_output_form(dz, f, tests):
    """dz and f Piecewise on the same conditions, sign tests of z that answer alike on
    a = f(z): each piece of dz in terms of a through f's piece, the conditions in a
    (elu' = 1 if a > 0 else a + 1, since a + 1 = exp(z) where z <= 0); else None."""
    if not (isinstance(dz, sp.Piecewise) and isinstance(f, sp.Piecewise) and tests):
        return None
    if [cond for _, cond in dz.args] != [cond for _, cond in f.args] or not _same_sign_tests(f, tests):
        return None
    pieces = []
    for (value, cond), (piece, _) in zip(dz.args, f.args):
        form = _piece_in_output(value, piece)
        if form is None:
            return None
        pieces.append((form, cond.subs(z, a)))
    return sp.Piecewise(*pieces)


def _output_candidates(dz, f):
    """In two rounds: dz with f(z) replaced by a (exact by construction); dz with z replaced by a
    where z enters dz through sign tests alone (relu' = H(z)) and each test answers
    alike on a = f(z) (probes cannot vouch for a rewrite like H(2 - z) -> H(2 - a),
    wrong between them for min(x, 2) + x/4); a Piecewise dz piece by piece through
    f's pieces (_piecewise_output_form); then dz at each real inverse z = f^-1(a),
    a search (sympy.solve) that in_terms_of_output skips when the first round gave a
    form: tanh's 1 - a^2 costs 0.7 s less to derive."""
    candidates = [dz.subs(f, a)]
    tests = _sign_tests(dz)
    stepwise = all(not e.has(z) or isinstance(e, (sp.Heaviside, sp.sign, sp.Piecewise))
                   for e in sp.Mul.make_args(dz) + sp.Add.make_args(dz)) and \
        all(not value.has(z) for pw in dz.atoms(sp.Piecewise) for value, _ in pw.args)
    if tests and stepwise and _same_sign_tests(f, tests):
        candidates.append(dz.subs(z, a))
    by_piece = _piecewise_output_form(dz, f, tests)
    if by_piece is not None:
        candidates.append(by_piece)
    yield candidates
    if has_closed_inverse(f):
        try:
            inverses = sp.solve(sp.Eq(a, f), z)
        except _SEARCH_ERRORS:
            inverses = []
        # a real inverse only: complex radicals make simplify crawl
        yield [dz.subs(z, inv) for inv in inverses if not inv.has(sp.I)]


def _better_output_form(cand, best, dz, f):
    """cand, simplified, where it is an exact output form cheaper than best; else best."""
    if z in cand.free_symbols or not small(cand, CANDIDATE_OPS):
        return best
    cand = min((cand, sp.factor(sp.simplify(cand))), key=sp.count_ops)
    # an output form with exp or log only where dz has log: such forms are
    # rarely cheaper and can print unstably (softplus' = (e^a - 1) e^-a is
    # inf*0 at large a), while the z-form prints stably (codegen/printer.py)
    if z in cand.free_symbols or cand.has(sp.log, sp.exp) and not dz.has(sp.log):
        return best
    if sp.count_ops(cand) > sp.count_ops(dz) or not agrees(cand, dz, f):
        return best
    if best is None or sp.count_ops(cand) < sp.count_ops(best):
        return cand
    return best


def in_terms_of_output(dz, f):
    """dz (in z) in terms of a = f(z) when exact and no costlier; else None."""
    if z not in dz.free_symbols:
        return dz
    if not small(dz):
        return None
    best = None
    for stage in _output_candidates(dz, f):
        for cand in stage:
            best = _better_output_form(cand, best, dz, f)
        if best is not None:
            break                 # the next round is a costlier search
    return best


# --------------------------------------------------------------------------- in z

def _abs_from_sign(expr):
    """u*sign(u) -> |u| in every product (an identity for real u, 0 at u = 0 too)."""
    def match(e):
        return isinstance(e, sp.Mul) and any(
            isinstance(f, sp.sign) and f.args[0] in e.args for f in e.args)

    def rewrite(e):
        s = next(f for f in e.args if isinstance(f, sp.sign) and f.args[0] in e.args)
        rest = list(e.args)
        rest.remove(s)
        rest.remove(s.args[0])
        return sp.Mul(*rest, sp.Abs(s.args[0]))
    return expr.replace(match, rewrite)


def simplified(dz, f):
    """A simpler form of dz (in z) when there is one; else None.

    Candidates: dz with u*sign(u) = |u|, over a common denominator (together,
    then factor), and SymPy's simplify of it. One is taken only when it has
    fewer operations, uses no function dz does not, brings in no Piecewise, and
    agrees with dz numerically at every probe point, 0 (the usual kink)
    included. A derivative with exponentials is left as sympy.diff found it:
    rearranging it moves exp(+-z) across the fraction bar, which turns forms
    that print stably (silu' = z/((1 + e^-z)(1 + e^z)) + ...) into ones that
    overflow to inf*0 for large |z|. A dz over SEARCH_OPS is not searched."""
    if not dz.free_symbols or dz.has(sp.exp) or not small(dz):
        return None
    base = _abs_from_sign(dz)
    candidates = [base]
    for step in (sp.together, sp.factor, sp.simplify):
        try:
            candidates.append(step(candidates[-1]))
        except _SEARCH_ERRORS:
            break
    best = None
    for cand in candidates:
        if sp.count_ops(cand) >= sp.count_ops(best if best is not None else dz):
            continue
        if new_functions(cand, dz) or (cand.has(sp.Piecewise) and not dz.has(sp.Piecewise)):
            continue
        if not agrees(cand, dz, f):
            continue
        best = cand
    return best


def backward_form(dz, f):
    """The derivative the backward pass uses: in the output a where exact and no
    costlier, else the simplest equal form in z, else dz as sympy.diff found it."""
    out = in_terms_of_output(dz, f)
    if out is not None:
        return out
    simpler = simplified(dz, f)
    return dz if simpler is None else simpler
