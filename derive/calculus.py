"""Derivation steps SymPy needs a little help with, kept general and checked.

- `derivative`: f'(x) by sympy.diff, with PyTorch's convention at kinks
  (Heaviside(0) = 0, so relu'(0) = 0; |x|'(0) = sign(0) = 0).
- `in_terms_of_output`: rewrites a derivative in the unit's output a = f(z)
  where that is exact (sigmoid' = a(1-a), tanh' = 1-a^2), so the backward
  pass reuses stored activations. Each candidate is verified numerically.
- `simplified`: otherwise a simpler equal form in z (softsign' = 1/(1+|z|)^2),
  verified the same way, kinks included; `backward_form` picks between them.
- `sift`: the sifting property of Kronecker's delta inside index-notation sums,
  which SymPy's simplify does not apply on its own.
- `logit_form`: a loss term with the output activation substituted and its
  logarithms expanded, so cross-entropies are evaluated from the logits.
- `softmax_jacobian`, `vector_delta`: da_k/dz_j of a vector activation through its
  outputs, and the chain-rule sum over k that gives the output delta.
- `log_sum_exp_form`, `stable_softmax`: softmax and its log-sum-exp as evaluated
  (shifted by the row's maximum), each checked equal to the definition.
- `optional` / `time_limit`: an optional SymPy rewrite under a time limit, falling
  back to the exact form.
"""
import contextlib
import functools
import math
import signal
import threading

import sympy as sp

from .symbols import A, K, Y, Z, a, j, k, x, z

_KINKS = (sp.Abs, sp.Max, sp.Min, sp.Piecewise, sp.Heaviside, sp.sign)   # non-invertible, kinked
_PROBES = (-2.7, -1.3, -0.6, -0.05, 0.0, 0.04, 0.5, 1.1, 2.3, 3.1)


def kink_convention(expr):
    """Heaviside steps take the value 0 at 0, as PyTorch's relu' does."""
    return expr.replace(lambda e: isinstance(e, sp.Heaviside),
                        lambda e: sp.Heaviside(e.args[0], 0))


def derivative(expr, var=x):
    """d expr / d var exactly as sympy.diff finds it, with kinks resolved (no simplify:
    it would trade tanh's 1 - tanh^2 for 1/cosh^2 and lose the output form)."""
    return kink_convention(sp.diff(expr, var))


def _value(expr, zv, fz):
    try:
        v = complex(expr.subs({z: zv, a: fz}).evalf())
    except (TypeError, ValueError):
        return None
    return v.real if abs(v.imag) < 1e-12 else None


def _agrees(candidate, original, f):
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


class _TimeUp(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds):
    """Bound an optional SymPy search (simplify, solve can take practically forever on
    some formulas); raises _TimeUp. Only where signals work: the main thread, POSIX."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum, frame):
        raise _TimeUp
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def optional(search, fallback, seconds=2.0):
    """search() within a time limit, else fallback: for rewrites that only make a
    correct expression cheaper or prettier, never for the derivation itself."""
    try:
        with time_limit(seconds):
            return search()
    except _TimeUp:
        return fallback


def in_terms_of_output(dz, f):
    """Rewrite dz (in z) in terms of a = f(z) when exact and no costlier; else None."""
    if z not in dz.free_symbols:
        return dz
    return optional(lambda: _search_output_form(dz, f), None)


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


def _search_output_form(dz, f):
    # dz with f(z) replaced by a is exact by construction. dz with z replaced by a
    # only when z enters dz through sign tests alone (relu' = H(z)) and each test
    # answers alike on a = f(z): probes cannot vouch for a rewrite like
    # H(2 - z) -> H(2 - a), wrong between them (min(x, 2) + x/4)
    candidates = [dz.subs(f, a)]
    tests = _sign_tests(dz)
    stepwise = all(not e.has(z) or isinstance(e, (sp.Heaviside, sp.sign, sp.Piecewise))
                   for e in sp.Mul.make_args(dz) + sp.Add.make_args(dz)) and \
        all(not value.has(z) for pw in dz.atoms(sp.Piecewise) for value, _ in pw.args)
    if tests and stepwise and _same_sign_tests(f, tests):
        candidates.append(dz.subs(z, a))
    if not f.has(*_KINKS):
        try:
            inverses = sp.solve(sp.Eq(a, f), z)
        except (NotImplementedError, ValueError, TypeError):
            inverses = []
        # a real inverse only: complex radicals (a cubic's roots) make simplify crawl
        candidates += [dz.subs(z, inv) for inv in inverses if not inv.has(sp.I)]
    best = None
    for cand in candidates:
        if z in cand.free_symbols:
            continue
        cand = min((cand, sp.factor(sp.simplify(cand))), key=sp.count_ops)
        # an output form with exp or log only where dz has log: such forms are
        # rarely cheaper and can print unstably (softplus' = (e^a - 1) e^-a is
        # inf*0 at large a), while the z-form prints stably (codegen/printer.py)
        if z in cand.free_symbols or cand.has(sp.log, sp.exp) and not dz.has(sp.log):
            continue
        if sp.count_ops(cand) > sp.count_ops(dz) or not _agrees(cand, dz, f):
            continue
        if best is None or sp.count_ops(cand) < sp.count_ops(best):
            best = cand
    return best


def _new_functions(cand, dz):
    """True when cand uses a kind of function that dz does not."""
    def kinds_in(e):
        return {type(f) for f in e.atoms(sp.Function)}
    return bool(kinds_in(cand) - kinds_in(dz))


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
    overflow to inf*0 for large |z|."""
    if not dz.free_symbols or dz.has(sp.exp):
        return None
    base = _abs_from_sign(dz)
    candidates = [base]
    for step in (sp.together, sp.factor, sp.simplify):
        try:
            candidates.append(step(candidates[-1]))
        except (NotImplementedError, TypeError, ValueError):
            break
    best = None
    for cand in candidates:
        if sp.count_ops(cand) >= sp.count_ops(best if best is not None else dz):
            continue
        if _new_functions(cand, dz) or (cand.has(sp.Piecewise) and not dz.has(sp.Piecewise)):
            continue
        if not _agrees(cand, dz, f):
            continue
        best = cand
    return best


def backward_form(dz, f):
    """The derivative the backward pass uses: in the output a where exact and no
    costlier, else the simplest equal form in z, else dz as sympy.diff found it."""
    out = in_terms_of_output(dz, f)
    if out is not None:
        return out
    simpler = optional(lambda: simplified(dz, f), None)
    return dz if simpler is None else simpler


def sift(expr):
    """Apply sum_m f(m) * delta(m, j) = f(j) to every Sum in expr (j inside the range)."""
    def rule(s):
        (idx, lo, hi), = s.limits
        terms = sp.Add.make_args(sp.expand(s.function))
        out = []
        for term in terms:
            deltas = [d for d in sp.Mul.make_args(term)
                      if isinstance(d, sp.KroneckerDelta) and idx in d.free_symbols]
            if deltas:
                d = deltas[0]
                other = d.args[1] if d.args[0] == idx else d.args[0]
                out.append((term / d).subs(idx, other))
            else:
                out.append(sp.Sum(term, (idx, lo, hi)))
        return sp.Add(*out)
    return expr.replace(lambda e: isinstance(e, sp.Sum), rule)


def split_sums(expr):
    """Pull constant factors out of sums and split sums of sums (linearity)."""
    def rule(s):
        (idx, lo, hi), = s.limits
        out = []
        for term in sp.Add.make_args(sp.expand(s.function)):
            const, dep = term.as_independent(idx, as_Add=False)
            out.append(const * sp.Sum(dep, (idx, lo, hi)))
        return sp.Add(*out)
    return expr.replace(lambda e: isinstance(e, sp.Sum), rule)


def softmax_jacobian(definition):
    """d a_k / d z_j of a vector activation given as unit j's expression; in A[k], A[j]."""
    total = [s for s in definition.atoms(sp.Sum)]
    a_k = definition.subs(j, k)
    jac = sift(sp.diff(a_k, Z[j]))
    ssym = sp.Dummy("S", positive=True)
    jac = jac.subs({s: ssym for s in total})
    # express exp(z_i) through the outputs: exp(z_i) = a_i * S
    jac = jac.replace(lambda e: isinstance(e, sp.exp) and isinstance(e.args[0], sp.Indexed)
                      and e.args[0].base == Z,
                      lambda e: A[e.args[0].indices[0]] * ssym)
    jac = sp.factor(sp.simplify(jac))
    if ssym in jac.free_symbols:
        raise ValueError(f"could not express the Jacobian of {definition} through its outputs")
    return jac


_G = sp.IndexedBase("g", real=True)     # an opaque dL/da_k while the sum is simplified


def vector_delta(jacobian, dloss_k, targets_sum_to_one):
    """delta_j = sum_k dL/da_k * da_k/dz_j, simplified in index notation.

    A dL/da_k with kinks (mae's sign, huber's branches) is carried through the
    sum as an opaque g_k and put back afterwards: simplify would otherwise
    rewrite sign(u) as u/|u| under conditions on a_k, leaving k outside its sum."""
    opaque = dloss_k.has(*_KINKS)
    factor = _G[k] if opaque else dloss_k
    total = sp.Sum(factor * jacobian, (k, 1, K))
    delta = split_sums(sift(total))
    if targets_sum_to_one:
        delta = delta.subs(sp.Sum(Y[k], (k, 1, K)), 1)
    delta = sp.simplify(delta)
    if opaque:
        delta = delta.replace(lambda e: isinstance(e, sp.Indexed) and e.base == _G,
                              lambda e: dloss_k.subs({A[k]: A[e.indices[0]], Y[k]: Y[e.indices[0]]},
                                                     simultaneous=True))
    return delta


def logit_form(term, f, yhat):
    """The loss term with yhat = f(z) substituted and logs expanded (stable from logits)."""
    v = term.subs(yhat, f)
    v = v.replace(lambda e: isinstance(e, sp.log), lambda e: sp.log(sp.together(e.args[0])))
    return sp.expand(sp.expand_log(v, force=True))


def log_sum_exp_form(term, definition, yhat, lse):
    """Softmax outputs in a loss: log a_j = z_j - lse, where lse = log sum_k exp z_k."""
    sums = definition.atoms(sp.Sum)
    v = term.subs(yhat, definition)
    v = sp.expand(sp.expand_log(v, force=True))
    v = v.subs({sp.log(s): lse for s in sums})
    return v.subs(Z[j], z)


# symbols of the stable evaluation of a softmax row
zmax = sp.Symbol("zmax", real=True)
shifted = sp.Symbol("e", positive=True)
row_total = sp.Symbol("total", positive=True)


@functools.lru_cache(maxsize=None)      # the derivation and the generator both ask, per layer
def stable_softmax(definition):
    """Unit j of softmax as computed: numerator and denominator times exp(-max z).

    Returns (e_j in z and zmax, a_j in e and total, log-sum-exp in zmax and total),
    after checking that numerator/denominator is the registry's definition."""
    num, den = sp.fraction(definition)
    (s,) = den.atoms(sp.Sum)
    e_j = sp.powsimp(num * sp.exp(-zmax)).subs(Z[j], z)
    a_j = shifted / row_total
    lse_expr = zmax + sp.log(row_total)
    # check: with total = sum_m exp(z_m - zmax), a_j and lse equal the definition
    scaled = sp.Sum(sp.powsimp(s.function * sp.exp(-zmax)), s.limits)
    assert sp.simplify(a_j.subs({shifted: e_j.subs(z, Z[j]), row_total: scaled}) - definition) == 0
    return e_j, a_j, lse_expr
