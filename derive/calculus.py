"""Derivation steps SymPy needs a little help with, kept general and checked.

- `derivative`: f'(x) by sympy.diff, with PyTorch's convention at kinks
  (Heaviside(0) = 0, so relu'(0) = 0; |x|'(0) = sign(0) = 0).
- `backward_form` and its searches (derive/derivative_forms.py): the form of
  f' the backward pass uses, in the output a where exact, else simplified in z.
- `sift`: the sifting property of Kronecker's delta inside index-notation sums,
  which SymPy's simplify does not apply on its own.
- `logit_form`: a loss term with the output activation substituted and its
  logarithms expanded, so cross-entropies are evaluated from the logits.
- `softmax_jacobian`, `vector_delta`: da_k/dz_j of a vector activation through its
  outputs, and the chain-rule sum over k that gives the output delta.
- `log_sum_exp_form`, `stable_softmax`: softmax and its log-sum-exp as evaluated
  (shifted by the row's maximum), each checked equal to the definition.

Every search here is bounded by the size of its input, never by a clock, so a
spec derives the same everywhere and in any thread (derive/derivative_forms.py).
"""
import functools

import sympy as sp

from .derivative_forms import KINKS as _KINKS
from .derivative_forms import backward_form, bounded_simplify, in_terms_of_output, optional, simplified
from .symbols import A, K, Y, Z, a, j, k, x, z

__all__ = ["kink_convention", "derivative", "backward_form", "in_terms_of_output", "simplified",
           "bounded_simplify", "optional", "sift", "split_sums", "softmax_jacobian", "vector_delta",
           "logit_form", "log_sum_exp_form", "stable_softmax", "zmax", "shifted", "row_total"]


def kink_convention(expr):
    """Heaviside steps take the value 0 at 0, as PyTorch's relu' does."""
    return expr.replace(lambda e: isinstance(e, sp.Heaviside),
                        lambda e: sp.Heaviside(e.args[0], 0))


def derivative(expr, var=x):
    """d expr / d var exactly as sympy.diff finds it, with kinks resolved (no simplify:
    it would trade tanh's 1 - tanh^2 for 1/cosh^2 and lose the output form)."""
    return kink_convention(sp.diff(expr, var))


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
