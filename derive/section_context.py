"""What every section builder shares: the IR, the display names, and the SymPy
objects of index notation (z_j^(l) as a sum over the previous layer, ...)."""
from __future__ import annotations

import sympy as sp

from .document import Equations, Math, Row
from .model import build_ir
from .names import activation_symbol, layer_names, name_of
from .notation import Number, Paren, Text, listing
from .symbols import Z, a, j, k, m, z

N = sp.Symbol("N", positive=True, integer=True)     # the batch size


def note(notation):
    """Notation (the name of a quantity) as a formula of its own."""
    return Math(notation)


def rows(*equations):
    return Equations(tuple(equations))


def row(lhs, *rhs, op="=", keys=()):
    """A row lhs = r1 = r2 ..., with repeated right-hand sides shown once; `keys` name
    the equation (Derivation.equations)."""
    out, seen = [], set()
    for r in rhs:
        if r.latex not in seen:
            seen.add(r.latex)
            out.append((op, r))
    return Row(lhs, tuple(out), tuple(keys))


def value_of(value):
    """A hyper-parameter's value as notation: true/false, a pair, a number."""
    if value is None:
        return Text("none")
    if isinstance(value, str):
        return Text(value)
    if isinstance(value, bool):
        return Text(str(value).lower())
    if isinstance(value, (tuple, list)):
        return Paren(listing(*(value_of(v) for v in value)), big=True)
    return Number(value)


def rename_sum_index(expr, old, new):
    """Rename the bound index of the sums in expr (display only)."""
    return expr.replace(lambda e: isinstance(e, sp.Sum) and e.limits[0][0] == old,
                        lambda e: sp.Sum(e.function.subs(old, new), (new,) + tuple(e.limits[0][1:])))


def drop_zero_sums(expr):
    return expr.replace(lambda e: isinstance(e, sp.Sum) and e.function == 0, lambda e: sp.S.Zero)


def relabel(expr, mapping):
    """Replace IndexedBases (symbols.Z -> this layer's z) in expr."""
    return expr.replace(lambda e: isinstance(e, sp.Indexed) and e.base in mapping,
                        lambda e: mapping[e.base][e.indices])


class Context:
    """A spec's IR and the names its derivation prints it with."""

    def __init__(self, spec):
        self.spec = spec
        self.ir = build_ir(spec)
        self.L = len(self.ir.layers)
        self.names = layer_names({layer.index: self.symbol(layer.activation) for layer in self.ir.layers})

    def show(self, expr, *tables):
        """A SymPy expression as a formula, its symbols named by the layer tables, then
        `tables` (later ones first), then the optimizer's."""
        tables = (self.names, *tables)
        names = []
        for s in sorted(expr.atoms(sp.Symbol, sp.MatrixSymbol), key=sp.default_sort_key):
            name = name_of(s, tables)
            if name is not None:
                names.append((s, name))
        return Math(expr, tuple(names))

    def first_layer(self, act):
        return next(l.index for l in self.ir.layers if l.activation == act)

    def act_name(self, act):
        """The activation's name in text: its registry name, or f<l> for a formula."""
        return act.name if act.name != "formula" else f"f{self.first_layer(act)}"

    def symbol(self, act):
        """The activation's symbol: the registry's, or f_l for a formula first used by layer l."""
        return activation_symbol(act.name, self.first_layer(act) if act.name == "formula" else None)

    def layers_using(self, act):
        return [l.index for l in self.ir.layers if l.activation == act]

    def base(self, kind, l):
        if kind == "a" and l == 0:
            return sp.IndexedBase("x")
        return sp.IndexedBase(f"{kind}{l}")

    def z_sum(self, l, index):
        """z_j^(l) = sum_index w_{index j}^(l) a_index^(l-1) + b_j^(l), built in SymPy."""
        layer = self.ir.layers[l - 1]
        w, b, prev = self.base("w", l), self.base("b", l), self.base("a", l - 1)
        return sp.Sum(w[index, j] * prev[index], (index, 1, layer.n_in)) + b[j]

    def activation_of(self, act, l, index):
        """The activation's definition for unit `index` of layer l, in that layer's z."""
        zl = self.base("z", l)
        if act.vector:
            d = rename_sum_index(act.definition, k, m).subs(j, index)
            return relabel(d, {Z: zl})
        return act.definition.subs(z, zl[index])

    def fprime_of(self, act, l, index):
        """f'_l for unit `index` of layer l in the form the backward pass uses."""
        return act.backward.subs({a: self.base("a", l)[index], z: self.base("z", l)[index]},
                                 simultaneous=True)

    @property
    def out(self):
        return self.ir.layers[-1]

    def mean_factor(self):
        """1/M of the mean: 1/N (sum over a row's outputs, mean over rows) or 1/(N K)."""
        if self.ir.loss.mean_over == "rows":
            return 1 / N
        return sp.Rational(1, self.out.n_out) / N
