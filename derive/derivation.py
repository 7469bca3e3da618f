"""The derivation of a spec as a document: sections of prose and equations.

Every expression in it is a SymPy object from the IR (derive/model.py) or one
built here with SymPy (sums in index notation, matrix products, derivatives
SymPy takes itself), printed with SymPy's printers: `sp.latex` with
`symbol_names` for the LaTeX, a small StrPrinter subclass for the text. Only
notation (the names of derivatives, such as dL/dw_ij) and prose are strings.
The document is width-independent: layer widths appear only as numbers in
the limits of sums and the shapes of matrices.

The renderers (render_latex.py, render_text.py) lay the document out; they
never look at SymPy objects. render_mathml.py prints each Math's own SymPy
expression (Math.expr) with SymPy's MathML printer.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp
from sympy.printing.str import StrPrinter

from . import calculus
from .model import build_ir, lse, row_sum_symbol
from .optimizers import LEARNING_RATE, OPTIMIZERS
from .optimizers import lr as LR
from .symbols import A, K, Y, Z, a, i, j, k, m, p, t, y, yhat, z

N = sp.Symbol("N", positive=True, integer=True)     # the batch size

__all__ = ["Derivation", "Math", "Code", "Para", "Row", "Equations", "Table", "Section"]


# --------------------------------------------------------------------------- the document

@dataclass(frozen=True)
class Math:
    """A formula, as LaTeX (no surrounding $) and as one line of plain text; a derived
    formula also keeps its SymPy expression and the LaTeX display names of its
    symbols (for the MathML renderer, derive/render_mathml.py)."""
    latex: str
    text: str
    expr: object = field(default=None, compare=False, repr=False)
    names: tuple = field(default=(), compare=False, repr=False)     # ((symbol, latex), ...)


@dataclass(frozen=True)
class Code:
    """A literal from the spec (a key, a formula's source text)."""
    text: str


@dataclass(frozen=True)
class Para:
    parts: tuple              # str | Math | Code


@dataclass(frozen=True)
class Row:
    lhs: Math
    rhs: tuple                # ((op, Math), ...); op is "=" or "<-"


@dataclass(frozen=True)
class Equations:
    rows: tuple


@dataclass(frozen=True)
class Table:
    header: tuple             # str | Math
    rows: tuple               # tuples of str | Math | Code


@dataclass(frozen=True)
class Section:
    title: str
    blocks: tuple


# --------------------------------------------------------------------------- printing SymPy

class _TextPrinter(StrPrinter):
    """sstr with display names for symbols, and a few terminal-friendly forms."""

    def __init__(self, names):
        super().__init__()
        self._names = names

    def _print_Symbol(self, expr):
        return self._names.get(expr, expr.name)

    _print_MatrixSymbol = _print_Symbol

    def _print_KroneckerDelta(self, expr):
        return "δ(%s, %s)" % tuple(self._print(x) for x in expr.args)

    def _print_Heaviside(self, expr):
        return "θ(%s)" % self._print(expr.args[0])

    def _print_Sum(self, expr):
        limits = ", ".join("%s=%s..%s" % tuple(self._print(x) for x in lim) for lim in expr.limits)
        return "Σ[%s](%s)" % (limits, self._print(expr.function))

    def _print_HadamardProduct(self, expr):
        return " ∘ ".join(self._print(x) if isinstance(x, sp.MatrixSymbol) else "(%s)" % self._print(x)
                          for x in expr.args)

    def _print_Equality(self, expr):
        return "%s = %s" % (self._print(expr.lhs), self._print(expr.rhs))

    def _print_Piecewise(self, expr):
        cases = []
        for e, c in expr.args:
            cases.append(self._print(e) + (" otherwise" if c == sp.true else " if " + self._print(c)))
        return "{" + "; ".join(cases) + "}"

    def _print_Derivative(self, expr):
        var = ", ".join(self._print(v) for v, _ in expr.variable_count)
        return "d/d%s %s" % (var, self.parenthesize(expr.expr, 1000))


def _sym(latex, text=None):
    return latex, latex if text is None else text


# Display names by symbol name (LaTeX, text). Context tables below override the
# per-unit ones (a, z, y, ...), whose names are shared with the IndexedBases of
# index notation (symbols.A has label a).
_OPTIMIZER_NAMES = {
    "lr": _sym(r"\eta", "η"),
    "momentum": _sym(r"\mu", "μ"),
    "dampening": _sym(r"\tau", "τ"),
    "weight_decay": _sym(r"\lambda", "λ"),
    "beta1": _sym(r"\beta_{1}", "β1"),
    "beta2": _sym(r"\beta_{2}", "β2"),
    "eps": _sym(r"\varepsilon", "ε"),
    "alpha": _sym(r"\alpha", "α"),
    "lr_decay": _sym(r"\eta_{\mathrm{decay}}", "η_decay"),
    "initial_accumulator_value": _sym(r"s_{0}", "s0"),
    "momentum_buffer": _sym(r"\mathbf{b}", "buf"),
    "exp_avg": _sym("m"),
    "exp_avg_sq": _sym("v"),
    "max_exp_avg_sq": _sym(r"\hat{v}_{\max}", "v_max"),
    "square_avg": _sym("v"),
    "grad_avg": _sym(r"\bar{g}", "g_avg"),
    "state_sum": _sym(r"s"),
    "clr": _sym(r"\tilde{\eta}", "η~"),
    "bias_correction1": _sym(r"c_{1}", "c1"),
    "bias_correction2": _sym(r"c_{2}", "c2"),
    "step_size": _sym(r"\hat{\eta}", "η^"),
    "p": _sym(r"\theta", "θ"),
}


def _fallback(name):
    if len(name) == 1 or name.isalpha() and len(name) <= 2:
        return None
    return r"\mathrm{%s}" % name.replace("_", r"\_"), name


def _unit_names():
    """Per-unit symbols of one element (a_j, z_j, y_j, yhat_j) in the output layer."""
    return {
        "a": ("a_{j}", "a_j"),
        "z": ("z_{j}", "z_j"),
        "y": ("y_{j}", "y_j"),
        "yhat": (r"\hat{y}_{j}", "ŷ_j"),
        "s": _sym("s"),
        "lse": _sym(r"\operatorname{lse}", "lse"),
        "zmax": _sym(r"z_{\max}", "zmax"),
    }


_BARE = {"a": _sym("a"), "z": _sym("z"), "y": _sym("y"), "yhat": _sym(r"\hat{y}", "ŷ")}


def _layer_names(n_layers, label_of, name_of):
    """Names of per-layer IndexedBases (w2, a1, delta3) and matrices (W2, A1, Delta3)."""
    names = {"x": _sym("x"), "X": _sym("X"), "ones": _sym(r"\mathbf{1}_{N}", "1_N"),
             "ell": _sym(r"\ell", "ℓ"), "L": _sym(r"\mathcal{L}", "L"), "N": _sym("N")}
    for l in range(0, n_layers + 1):
        sup, tsup = f"^{{({l})}}", f"^({l})"
        for base in ("w", "b", "z", "a"):
            names[f"{base}{l}"] = (base + sup, base + tsup)
        names[f"delta{l}"] = (r"\delta" + sup, "δ" + tsup)
        for base in ("W", "Z", "A"):
            names[f"{base}{l}"] = (base + sup, base + tsup)
        names[f"Delta{l}"] = (r"\Delta" + sup, "Δ" + tsup)
        names[f"F{l}"] = (rf"{label_of.get(l, 'f')}'\left(Z{sup}\right)", f"{name_of.get(l, 'f')}'(Z{tsup})")
        names[f"dW{l}"] = (rf"\frac{{\partial \mathcal{{L}}}}{{\partial W{sup}}}", f"dL/dW{tsup}")
        names[f"db{l}"] = (rf"\frac{{\partial \mathcal{{L}}}}{{\partial b{sup}}}", f"dL/db{tsup}")
    names.update({"Delta_l": (r"\Delta^{(l)}", "Δ^(l)"), "Delta_l1": (r"\Delta^{(l+1)}", "Δ^(l+1)"),
                  "W_l1": ("W^{(l+1)}", "W^(l+1)"), "F_l": (r"f_{l}'\left(Z^{(l)}\right)", "f_l'(Z^(l))")})
    return names


def show(expr, *tables):
    """Print a SymPy expression in LaTeX (sp.latex) and text with display names."""
    names = {}
    for table in tables:
        names.update(table)
    latex_names, text_names = {}, {}
    for s in expr.atoms(sp.Symbol, sp.MatrixSymbol):
        entry = names.get(s.name) or _OPTIMIZER_NAMES.get(s.name) or _fallback(s.name)
        if entry is not None:
            latex_names[s], text_names[s] = entry
    latex = sp.latex(expr, symbol_names=latex_names)
    return Math(latex, _TextPrinter(text_names).doprint(expr), expr, tuple(latex_names.items()))


def _note(latex, text):
    """Notation (the name of a quantity), not a derived expression."""
    return Math(latex, text)


def _rows(*rows):
    return Equations(tuple(rows))


def _row(lhs, *rhs, op="="):
    """A row lhs = r1 = r2 ..., with repeated right-hand sides shown once."""
    out, seen = [], set()
    for r in rhs:
        if r.latex not in seen:
            seen.add(r.latex)
            out.append((op, r))
    return Row(lhs, tuple(out))


def _number(value):
    if isinstance(value, bool):
        return Math(r"\text{%s}" % str(value).lower(), str(value).lower())
    if isinstance(value, (tuple, list)):
        parts = [_number(v) for v in value]
        return Math(r"\left(%s\right)" % ", ".join(q.latex for q in parts),
                    "(%s)" % ", ".join(q.text for q in parts))
    text = repr(float(value))
    return Math(sp.latex(sp.Float(text)), text)


def _rename_sum_index(expr, old, new):
    """Rename the bound index of the sums in expr (display only)."""
    return expr.replace(lambda e: isinstance(e, sp.Sum) and e.limits[0][0] == old,
                        lambda e: sp.Sum(e.function.subs(old, new), (new,) + tuple(e.limits[0][1:])))


def _drop_zero_sums(expr):
    return expr.replace(lambda e: isinstance(e, sp.Sum) and e.function == 0, lambda e: sp.S.Zero)


def _relabel(expr, mapping):
    """Replace IndexedBases (symbols.Z -> this layer's z) in expr."""
    return expr.replace(lambda e: isinstance(e, sp.Indexed) and e.base in mapping,
                        lambda e: mapping[e.base][e.indices])


# --------------------------------------------------------------------------- the derivation

class Derivation:
    """A spec's derivation: `.ir`, and `.latex()`, `.markdown()`, `.text()` to print it."""

    def __init__(self, spec):
        from .spec import load_spec
        self.spec = load_spec(spec)
        self.ir = build_ir(self.spec)
        L = len(self.ir.layers)
        self._L = L
        self._labels = {layer.index: layer.activation.label for layer in self.ir.layers}
        self._names = _layer_names(L, self._labels, {
            layer.index: self._act_name(layer.activation) for layer in self.ir.layers})
        self._sections = None

    # ---- the public printers

    @property
    def sections(self):
        if self._sections is None:
            self._sections = (self._model(), self._loss(), self._activations(), self._chain_rule(),
                              self._backward(), self._optimizer())
        return self._sections

    @property
    def title(self):
        return f"Derivation of {self.spec.name}"

    def latex(self, standalone=False):
        from .render_latex import latex_body, latex_document
        return latex_document(self) if standalone else latex_body(self)

    def markdown(self):
        from .render_latex import markdown
        return markdown(self)

    def text(self):
        from .render_text import text
        return text(self)

    def _repr_latex_(self):
        from .render_latex import jupyter
        return jupyter(self)

    def _repr_markdown_(self):
        return self.markdown()

    def __repr__(self):
        return f"<Derivation of {self.spec.name!r}: {len(self.ir.layers)} layers, " \
               f"{self.ir.loss.name} loss, {self.ir.optimizer.name}>"

    # ---- helpers

    def _act_name(self, act):
        """The activation's name in text: its registry name, or f<l> for a formula."""
        if act.name != "formula":
            return act.name
        first = next(l.index for l in self.ir.layers if l.activation == act)
        return f"f{first}"

    def _show(self, expr, *tables):
        return show(expr, self._names, *tables)

    def _base(self, kind, l):
        if kind == "a" and l == 0:
            return sp.IndexedBase("x")
        return sp.IndexedBase(f"{kind}{l}")

    def _z_sum(self, l, index):
        """z_j^(l) = sum_index w_{index j}^(l) a_index^(l-1) + b_j^(l), built in SymPy."""
        layer = self.ir.layers[l - 1]
        w, b, prev = self._base("w", l), self._base("b", l), self._base("a", l - 1)
        return sp.Sum(w[index, j] * prev[index], (index, 1, layer.n_in)) + b[j]

    def _activation_of(self, act, l, index):
        """The activation's definition for unit `index` of layer l, in that layer's z."""
        zl = self._base("z", l)
        if act.vector:
            d = _rename_sum_index(act.definition, k, m).subs(j, index)
            return _relabel(d, {Z: zl})
        return act.definition.subs(z, zl[index])

    def _fprime_of(self, act, l, index):
        """f'_l for unit `index` of layer l in the form the backward pass uses."""
        return act.backward.subs({a: self._base("a", l)[index], z: self._base("z", l)[index]},
                                 simultaneous=True)

    def _out(self):
        return self.ir.layers[-1]

    def _mean_factor(self):
        """1/M of the mean: 1/N (sum over a row's outputs, mean over rows) or 1/(N K)."""
        if self.ir.loss.mean_over == "rows":
            return 1 / N
        return sp.Rational(1, self._out().n_out) / N

    # ---- 1. the model

    def _model(self):
        ir, L = self.ir, self._L
        widths = " → ".join(str(n) for n in [self.spec.inputs] + [l.n_out for l in ir.layers])
        blocks = [Para((f"The network maps {self.spec.inputs} inputs through {L} dense "
                        f"layer{'s' if L > 1 else ''} ({widths}); samples are rows, in {self.spec.dtype}. "
                        "For one sample with inputs ", _note("x_{i}", "x_i"),
                        ", layer ", _note("l", "l"), " computes, for each of its units ",
                        _note("j", "j"), ", the weighted sum of the previous layer's activations ",
                        _note("a_{i}^{(l-1)}", "a_i^(l-1)"), " (with ",
                        _note("a^{(0)} = x", "a^(0) = x"), ") and passes it through its activation:"))]
        for layer in ir.layers:
            l, act = layer.index, layer.activation
            zl, al = self._base("z", l), self._base("a", l)
            label = act.label
            defn = self._activation_of(act, l, j)
            if act.vector:
                applied = _note(rf"{label}\left(z^{{({l})}}\right)_{{j}}", f"{act.name}(z^({l}))[j]")
            else:
                applied = _note(rf"{label}\left(z_{{j}}^{{({l})}}\right)",
                                f"{self._act_name(act)}(z^({l})[j])")
            describe = [f"Layer {l}: {layer.n_in} → {layer.n_out} units, activation "]
            describe += [Code(self.ir.formulas[l]), " (a formula, ", _note(label, f"f{l}"), ")"] \
                if l in self.ir.formulas else [Code(act.name)]
            if act.vector:
                describe += [", with ", self._show(K), f" = {layer.n_out} outputs"]
            blocks.append(Para(tuple(describe) + (":",)))
            definition_shown = [self._show(defn)]
            if isinstance(act.definition, sp.Function) and act.definition.args == (z,):
                definition_shown = []     # tanh(z) is its own definition
            blocks.append(_rows(
                _row(self._show(zl[j]), self._show(self._z_sum(l, i))),
                _row(self._show(al[j]), applied, *definition_shown)))
        # the batch in matrix form
        ones = sp.MatrixSymbol("ones", N, 1)
        rows = []
        for layer in ir.layers:
            l = layer.index
            prev = sp.MatrixSymbol("X" if l == 1 else f"A{l - 1}", N, layer.n_in)
            W = sp.MatrixSymbol(f"W{l}", layer.n_in, layer.n_out)
            b = sp.MatrixSymbol(f"b{l}", layer.n_out, 1)
            Zl = sp.MatrixSymbol(f"Z{l}", N, layer.n_out)
            rows.append(_row(self._show(Zl), self._show(prev * W + ones * b.T)))
        blocks.append(Para(("For a batch of ", self._show(N), " rows the kernels compute each layer "
                            "as one matrix product, ", self._show(sp.MatrixSymbol("X", N, self.spec.inputs)),
                            " holding the inputs and ", _note(r"\mathbf{1}_{N}", "1_N"),
                            " a column of ones; the activation acts elementwise (row-wise for softmax), "
                            "and the prediction is the last layer's output, ",
                            _note(rf"\hat{{y}} = a^{{({L})}}", f"ŷ = a^({L})"), ":")))
        blocks.append(_rows(*rows))
        return Section("The model", tuple(blocks))

    # ---- 2. the loss

    def _loss(self):
        loss, out = self.ir.loss, self._out()
        U = _unit_names()
        blocks = [Para(("The loss of one output element compares the prediction ",
                        _note(r"\hat{y}_{j}", "ŷ_j"), " with its target ", _note("y_{j}", "y_j"),
                        " (", Code(loss.name if loss.name != "formula" else self.spec.loss.formula),
                        "):"))]
        blocks.append(_rows(_row(_note(r"\ell\left(\hat{y}_{j}, y_{j}\right)", "ℓ(ŷ_j, y_j)"),
                                 self._show(loss.term, U))))
        n = sp.Symbol("n", integer=True, positive=True)
        ell_b = sp.IndexedBase("ell")
        total = sp.Sum(sp.Sum(ell_b[n, j], (j, 1, out.n_out)), (n, 1, N))
        if loss.mean_over == "rows":
            how = ("The batch loss sums the terms of a row over its outputs and averages over the ",
                   self._show(N), " rows (PyTorch's ", Code('reduction="mean"'), " for this loss):")
        else:
            how = ("The batch loss averages the terms over all ", self._show(N * out.n_out),
                   " elements (PyTorch's ", Code('reduction="mean"'), "):")
        blocks.append(Para(how))
        blocks.append(_rows(_row(self._show(sp.Symbol("L")), self._show(self._mean_factor() * total))))
        plain = loss.term.subs(yhat, a)
        if loss.value != plain:
            blocks.append(Para(("With ", _note(r"\hat{y}_{j} = a_{j}", "ŷ_j = a_j"), " written out in the "
                                "logits ", _note("z_{j}", "z_j"), " and the logarithms expanded, the kernels "
                                "evaluate the term from the logits, which stays finite where ",
                                _note(r"\log \hat{y}_{j}", "log ŷ_j"), " would not:")))
            rows = [_row(_note(r"\ell_{j}", "ℓ_j"), self._show(loss.term.subs(yhat, self._activation_of(
                out.activation, out.index, j) if out.activation.vector else out.activation.definition), U,
                {"z": ("z_{j}", "z_j"), "z" + str(out.index): _sym("z")}),
                self._show(loss.value, U))]
            if lse in loss.value.free_symbols and out.activation.vector:
                _, _, lse_expr = calculus.stable_softmax(out.activation.definition)
                shifted_sum = sp.Sum(sp.powsimp(sp.exp(Z[m]) * sp.exp(-calculus.zmax)), (m, 1, K))
                naive = sp.log(sp.Sum(sp.exp(Z[m]), (m, 1, K)))
                rows.append(_row(self._show(lse, U), self._show(naive, U, {"z": _sym("z")}),
                                 self._show(lse_expr.subs(calculus.row_total, shifted_sum), U,
                                            {"z": _sym("z")})))
                blocks.append(_rows(*rows))
                blocks.append(Para(("where ", self._show(calculus.zmax, U), " is the row's largest logit, "
                                    "so no exponential overflows.")))
            else:
                blocks.append(_rows(*rows))
        return Section("The loss", tuple(blocks))

    # ---- 3. activation derivatives

    def _activations(self):
        blocks = [Para(("SymPy differentiates each activation (sympy.diff; at a kink the "
                        "derivative takes PyTorch's value, e.g. relu'(0) = 0):",))]
        seen = []
        for layer in self.ir.layers:
            act = layer.activation
            if act in seen:
                continue
            seen.append(act)
            where = [l.index for l in self.ir.layers if l.activation == act]
            layers = ", ".join(str(w) for w in where)
            name = Code(self.ir.formulas[where[0]]) if where[0] in self.ir.formulas else Code(act.name)
            blocks.append(Para((name, f" (layer{'s' if len(where) > 1 else ''} {layers}):")))
            if act.vector:
                a_k = _rename_sum_index(act.definition, k, m).subs(j, k)
                blocks.append(_rows(
                    _row(_note(r"\frac{\partial a_{k}}{\partial z_{j}}", "da_k/dz_j"),
                         self._show(sp.Derivative(a_k, Z[j]), _BARE),
                         self._show(act.jacobian, _BARE))))
                blocks.append(Para(("The units are coupled: every output ", _note("a_{k}", "a_k"),
                                    " depends on every logit ", _note("z_{j}", "z_j"), "; ",
                                    self._show(sp.KroneckerDelta(j, k)), " is Kronecker's delta (1 when ",
                                    _note("j = k", "j = k"), ", else 0). SymPy sifts it out of the sum and "
                                    "writes the result in the outputs.")))
                continue
            label = act.label
            rhs = [self._show(sp.Derivative(act.definition, z), _BARE), self._show(act.dz, _BARE)]
            if act.backward != act.dz:
                rhs.append(self._show(act.backward, _BARE))
            blocks.append(_rows(_row(_note(rf"{label}'(z)", f"{self._act_name(act)}'(z)"), *rhs)))
            notes = []
            if act.backward != act.dz and not act.needs_z:
                notes += ["In terms of the output ", _note(rf"a = {label}(z)", f"a = {self._act_name(act)}(z)"),
                          ", so the backward pass reuses the stored activations. "]
            if act.backward.has(sp.Heaviside):
                notes += [self._show(sp.Heaviside(z, 0), _BARE), " is the unit step, 0 for ",
                          _note(r"z \le 0", "z <= 0"), " and 1 above. "]
            if notes:
                blocks.append(Para(tuple(notes)))
        return Section("Activation derivatives", tuple(blocks))

    # ---- 4. the chain rule at the output layer

    def _chain_rule(self):
        loss, out = self.ir.loss, self._out()
        act, L = out.activation, out.index
        U = _unit_names()
        w, b = self._base("w", L), self._base("b", L)
        names = {f"w{L}": _sym("w"), f"b{L}": _sym("b"), f"z{L}": _sym("z")}
        blocks = [Para(("For one sample, write ", _note("a_{j}", "a_j"), " and ", _note("z_{j}", "z_j"),
                        f" for the output layer's activations and logits (layer {L}, superscript "
                        "dropped), so ", _note(r"\hat{y}_{j} = a_{j}", "ŷ_j = a_j"),
                        ". A weight of the output layer reaches the loss through ",
                        _note("z_{j}", "z_j"), " only" if not act.vector else " and, through the softmax, "
                        "every output", ":"))]
        if act.vector:
            chain = _note(r"\left(\sum_{k} "
                          r"\frac{\partial \ell}{\partial a_{k}} \frac{\partial a_{k}}{\partial z_{j}}\right)"
                          r" \frac{\partial z_{j}}{\partial w_{ij}}",
                          "(Σ_k dℓ/da_k · da_k/dz_j) · dz_j/dw_ij")
        else:
            chain = _note(r"\frac{\partial \ell}{\partial a_{j}}"
                          r" \frac{\partial a_{j}}{\partial z_{j}} \frac{\partial z_{j}}{\partial w_{ij}}",
                          "dℓ/da_j · da_j/dz_j · dz_j/dw_ij")
        blocks.append(_rows(_row(_note(r"\frac{\partial \ell}{\partial w_{ij}}", "dℓ/dw_ij"), chain)))
        # the factors, each derived
        z_m = self._z_sum(L, m)
        dz_dw_raw = sp.diff(z_m, w[i, j])
        dz_dw = calculus.sift(dz_dw_raw)
        dz_db = _drop_zero_sums(sp.diff(z_m, b[j]))
        blocks.append(Para(("The factors, each found by SymPy: the loss term's derivative (with ",
                            _note(r"\hat{y}_{j} = a_{j}", "ŷ_j = a_j"), "), the activation's "
                            "from section 3, and the weighted sum's, differentiating ",
                            _note("z_{j}", "z_j"), " with respect to one weight and sifting "
                            "Kronecker's delta out of the sum:")))
        rows = [_row(_note(r"\frac{\partial \ell}{\partial \hat{y}_{j}}", "dℓ/dŷ_j"),
                     self._show(sp.Derivative(loss.term, yhat), U), self._show(loss.dloss, U))]
        if act.vector:
            rows.append(_row(_note(r"\frac{\partial a_{k}}{\partial z_{j}}", "da_k/dz_j"),
                             self._show(act.jacobian, _BARE)))
        else:
            rows.append(_row(_note(r"\frac{\partial a_{j}}{\partial z_{j}}", "da_j/dz_j"),
                             self._show(act.backward, U)))
        rows.append(_row(self._show(z, U), self._show(z_m, names)))
        rows.append(_row(_note(r"\frac{\partial z_{j}}{\partial w_{ij}}", "dz_j/dw_ij"),
                         self._show(dz_dw_raw, names), self._show(dz_dw, names)))
        rows.append(_row(_note(r"\frac{\partial z_{j}}{\partial b_{j}}", "dz_j/db_j"),
                         self._show(dz_db, names)))
        blocks.append(Equations(tuple(rows)))
        # delta = dl/dz_j, simplified
        delta = sp.IndexedBase("delta")
        d_names = {"delta": (r"\delta", "δ")}
        blocks.append(Para(("Multiplying the first two gives the error signal ",
                            _note(r"\delta_{j} = \frac{\partial \ell}{\partial z_{j}}", "δ_j = dℓ/dz_j"),
                            " of an output unit, which SymPy simplifies:")))
        if act.vector:
            dloss_k = loss.dloss.subs({yhat: A[k], y: Y[k]})
            chained = sp.Sum(dloss_k * act.jacobian, (k, 1, K))
            rows = [_row(self._show(delta[j], d_names), self._show(chained, _BARE),
                         self._show(loss.delta_indexed, _BARE))]
            if loss.row_sum is not None:
                rows[0] = _row(self._show(delta[j], d_names), self._show(chained, _BARE),
                               self._show(loss.delta_indexed, _BARE), self._show(loss.delta, U))
                s_sum = sp.Sum(loss.row_sum.subs({a: A[k], y: Y[k]}, simultaneous=True), (k, 1, K))
                rows.append(_row(self._show(row_sum_symbol, U), self._show(s_sum, _BARE)))
            blocks.append(Equations(tuple(rows)))
            notes = []
            if loss.classification:
                notes += ["The targets of a row are one-hot (or class labels), so SymPy uses ",
                          self._show(sp.Eq(sp.Sum(Y[k], (k, 1, K)), 1), _BARE), ". "]
            if loss.row_sum is not None:
                notes += ["The row sum ", self._show(row_sum_symbol, U), " is computed once per row "
                          "before the elementwise loop. "]
            if notes:
                blocks.append(Para(tuple(notes)))
        else:
            chained = loss.dloss.subs(yhat, a) * act.backward
            blocks.append(Equations((_row(self._show(delta[j], d_names), self._show(chained, U),
                                          self._show(loss.delta, U)),)))
        if sp.simplify(loss.delta - (a - y)) == 0:
            blocks.append(Para(("The activation's derivative cancels against the loss's: the error is "
                                "simply the prediction minus the target.",)))
        elif loss.combined and not act.vector and act.backward != 1:
            blocks.append(Para(("The activation's derivative partly cancels against the loss's.",)))
        blocks.append(Para(("So the output layer's gradients for one sample are:",)))
        rows = [_row(_note(r"\frac{\partial \ell}{\partial w_{ij}}", "dℓ/dw_ij"),
                     self._show(delta[j] * dz_dw, names, d_names)),
                _row(_note(r"\frac{\partial \ell}{\partial b_{j}}", "dℓ/db_j"),
                     self._show(delta[j] * dz_db, names, d_names))]
        blocks.append(Equations(tuple(rows)))
        return Section("The chain rule at the output layer", tuple(blocks))

    # ---- 5. backpropagation through the layers

    def _backward(self):
        ir, L = self.ir, self._L
        blocks = []
        if L > 1:
            n_l, n_next = sp.symbols("n_l n_l1", positive=True, integer=True)
            generic_lhs = sp.MatrixSymbol("Delta_l", N, n_l)
            generic_rhs = sp.HadamardProduct(sp.MatrixSymbol("Delta_l1", N, n_next)
                                             * sp.MatrixSymbol("W_l1", n_l, n_next).T,
                                             sp.MatrixSymbol("F_l", N, n_l))
            blocks.append(Para((
                "A hidden unit ", _note("i", "i"), " of layer ", _note("l", "l"),
                " reaches the loss through every unit ", _note("j", "j"), " of layer ", _note("l+1", "l+1"),
                ", so its error sums their errors, each times ",
                _note(r"\frac{\partial z_{j}^{(l+1)}}{\partial a_{i}^{(l)}}", "dz_j^(l+1)/da_i^(l)"),
                " (SymPy differentiates the weighted sum and sifts, as in section 4), times its own "
                "activation's derivative; for a batch, ", self._show(generic_lhs), " = ",
                self._show(generic_rhs), ". Layer by layer, from the output "
                "layer's ", self._show(self._base("delta", L)[j]), " of section 4 down:")))
            for layer in reversed(ir.layers[:-1]):
                l = layer.index
                nxt = ir.layers[l]
                z_next = self._z_sum(l + 1, m)
                a_l = self._base("a", l)
                dz_da = calculus.sift(sp.diff(z_next, a_l[i]))
                local = self._fprime_of(layer.activation, l, i)
                delta_l = sp.Sum(self._base("delta", l + 1)[j] * dz_da, (j, 1, nxt.n_out)) * local
                Dn = sp.MatrixSymbol(f"Delta{l + 1}", N, nxt.n_out)
                Wn = sp.MatrixSymbol(f"W{l + 1}", layer.n_out, nxt.n_out)
                F = sp.MatrixSymbol(f"F{l}", N, layer.n_out)
                Dl = sp.MatrixSymbol(f"Delta{l}", N, layer.n_out)
                blocks.append(_rows(
                    _row(_note(rf"\frac{{\partial z_{{j}}^{{({l + 1})}}}}{{\partial a_{{i}}^{{({l})}}}}",
                               f"dz_j^({l + 1})/da_i^({l})"), self._show(dz_da)),
                    _row(self._show(self._base("delta", l)[i]), self._show(delta_l)),
                    _row(self._show(Dl), self._show(sp.HadamardProduct(Dn * Wn.T, F)))))
            blocks.append(Para(("In matrix form ", self._show(generic_lhs), " stacks the rows' ",
                                _note(r"\delta^{(l)}", "δ^(l)"), ", ", _note(r"\circ", "∘"),
                                " multiplies elementwise and ", self._show(sp.MatrixSymbol("F_l", N, n_l)),
                                " applies the derivative of section 3 to every entry.")))
        else:
            blocks.append(Para(("With a single layer there is nothing further to propagate.",)))
        factor = self._mean_factor()
        blocks.append(Para(("Each weight's gradient is its unit's error times its input, summed over the "
                            "batch; each bias's is the error summed over the batch. With the mean's ",
                            self._show(factor), " these are the matrix products the kernels compute:")))
        ones = sp.MatrixSymbol("ones", N, 1)
        rows = []
        for layer in ir.layers:
            l = layer.index
            prev = sp.MatrixSymbol("X" if l == 1 else f"A{l - 1}", N, layer.n_in)
            D = sp.MatrixSymbol(f"Delta{l}", N, layer.n_out)
            dW = sp.MatrixSymbol(f"dW{l}", layer.n_in, layer.n_out)
            db = sp.MatrixSymbol(f"db{l}", 1, layer.n_out)
            rows.append(_row(self._show(dW), self._show(factor * prev.T * D)))
            rows.append(_row(self._show(db), self._show(factor * ones.T * D)))
        blocks.append(Equations(tuple(rows)))
        return Section("Backpropagation through the layers", tuple(blocks))

    # ---- 6. the optimizer

    def _rule(self):
        """(scalars, element assignments, states) specialised, identities dropped."""
        opt = self.ir.optimizer
        element = [(target, opt.specialised(expr)) for target, expr in opt.rule.element]
        element = [(target, expr) for target, expr in element if expr != target]
        used = set()
        for _, expr in element:
            used |= expr.free_symbols
        scalars = []
        for sym, expr in reversed(opt.rule.scalars):
            if sym in used:
                expr = opt.specialised(expr)
                scalars.insert(0, (sym, expr))
                used |= expr.free_symbols
        assigned = {target for target, _ in element}
        states = tuple(s for s in opt.rule.states if s in assigned)
        return tuple(scalars), tuple(element), states

    def _optimizer(self):
        opt = self.ir.optimizer
        scalars, element, states = self._rule()
        blocks = [Para((f"{opt.title} (", Code(opt.name), "). ", opt.doc, " For every parameter "
                        "element ", self._show(p), " (an entry of some ", _note("W^{(l)}", "W^(l)"), " or ",
                        _note("b^{(l)}", "b^(l)"), ") with gradient ",
                        _note(r"g = \frac{\partial \mathcal{L}}{\partial \theta}", "g = dL/dθ"),
                        " from section 5, at step ", self._show(t), " = 1, 2, ...:"))]
        if scalars:
            blocks.append(Para(("Once per step and parameter group:",)))
            blocks.append(_rows(*(_row(self._show(s), self._show(e)) for s, e in scalars)))
        blocks.append(Para(("Then for each element, in this order (" if scalars else
                            "For each element, in this order (",
                            _note(r"\leftarrow", "←"), " assigns):")))
        blocks.append(_rows(*(_row(self._show(target), self._show(e), op="<-") for target, e in element)))
        hypers = {h.name: h for h in OPTIMIZERS[opt.name].hyperparameters}
        if states:
            initial = dict(opt.rule.initial)
            zero = [s for s in states if s not in initial]
            parts = []
            if zero:
                parts = ["State buffers, one per parameter element, start at zero: "]
                for n_, s in enumerate(zero):
                    parts += [", " if n_ else "", self._show(s)]
                parts.append(". ")
            for s in states:
                if s in initial:
                    hyper = hypers[initial[s]].symbols[0]
                    parts += [self._show(s), " starts at ", self._show(hyper), " = ",
                              f"{opt.values[initial[s]]:g}", " (", Code(initial[s]), "). "]
            blocks.append(Para(tuple(parts)))
        blocks.append(Para(("This is the rule specialised to the spec's hyper-parameters; "
                            "conditions on them are decided by these values:",)))
        rows = []
        for key, value in opt.values.items():
            h = hypers.get(key)
            if key == LEARNING_RATE:
                symbol = self._show(LR)
            elif h is not None and h.symbols:
                shown = [self._show(s) for s in h.symbols]
                symbol = Math(", ".join(q.latex for q in shown), ", ".join(q.text for q in shown))
            else:
                symbol = Math("", "")
            rows.append((Code(key), symbol, _number(value)))
        blocks.append(Table(("hyper-parameter", "symbol", "value"), tuple(rows)))
        blocks.append(Para(("Learning rates per parameter group (a layer's own ", Code("learning_rate"),
                            " overrides the optimizer's):",)))
        rows = []
        for layer, rate in zip(self.ir.layers, opt.learning_rates):
            names = Math(rf"W^{{({layer.index})}}, b^{{({layer.index})}}",
                         f"W^({layer.index}), b^({layer.index})")
            source = "layer" if layer.learning_rate is not None else "optimizer"
            rows.append((str(layer.index), names, _number(rate), source))
        blocks.append(Table(("layer", "parameters", Math(r"\eta", "η"), "from"), tuple(rows)))
        return Section("The update rule", tuple(blocks))
