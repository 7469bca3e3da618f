"""SymPy's printers, given the derivation's display names: one formula (a SymPy
expression, or notation from derive/notation.py) prints as LaTeX, as one line of
plain text and as MathML Core, each by a printer of SymPy's from the same object.

`names` maps symbols to notation ({w2: w^(2)}): each printer prints a named
symbol as its notation, so expressions keep their own symbols (and SymPy's order
of terms) while the reader sees the derivation's names.
"""
import html

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.mathml import MathMLPresentationPrinter
from sympy.printing.str import StrPrinter

__all__ = ["latex", "text", "mathml", "MATHML_CORE", "UnsupportedMathML"]

# what Chromium, Firefox and Safari implement
MATHML_CORE = frozenset({"mrow", "mi", "mn", "mo", "mtext", "msub", "msup", "msubsup", "munder",
                         "mover", "munderover", "mfrac", "msqrt", "mtable", "mtr", "mtd", "mspace"})


class UnsupportedMathML(ValueError):
    """A formula whose MathML would need an element outside MathML Core."""


def latex(expr, names=()):
    """LaTeX (no surrounding $) of expr, with the display names."""
    return _Latex(names).doprint(expr)


def text(expr, names=()):
    """One line of plain text of expr, with the display names."""
    return _Text(names).doprint(expr)


def mathml(expr, names=()):
    """MathML (the content of a <math> element) of expr, with the display names;
    raises UnsupportedMathML for an element outside MathML Core."""
    tree = _MathML(names).tree(expr)
    outside = _tags(tree) - MATHML_CORE
    if outside:
        raise UnsupportedMathML(f"{', '.join(sorted(outside))} in {sp.sstr(expr)}")
    return _markup(_fix_fences(tree))


# --------------------------------------------------------------------------- LaTeX and text

class _Latex(LatexPrinter):
    """sp.latex with named symbols printed as their notation."""

    def __init__(self, names):
        super().__init__()
        self._names = dict(names)

    def _print_Symbol(self, expr, style="plain"):
        name = self._names.get(expr)
        return self._print(name) if name is not None else super()._print_Symbol(expr, style)


class _Text(StrPrinter):
    """sstr with named symbols printed as their notation, and terminal-friendly forms."""

    def __init__(self, names):
        super().__init__()
        self._names = dict(names)

    def _print_Symbol(self, expr):
        name = self._names.get(expr)
        return self._print(name) if name is not None else expr.name

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


# --------------------------------------------------------------------------- MathML

# A node of the tree the MathML is written from: (tag, attrs, children), or
# (tag, attrs, text) for the token elements (mi, mn, mo, mtext), text unescaped.

def _el(tag, *children, **attrs):
    return (tag, attrs, list(children))


def _tok(tag, text, **attrs):
    return (tag, attrs, text)


def _tags(node):
    tag, _, body = node
    return {tag} if isinstance(body, str) else {tag}.union(*(_tags(c) for c in body))


_FENCES = set("()[]{}|")
_TALL = {"mfrac", "munderover", "munder", "msqrt", "mroot", "mtable"}


def _tall(node):
    tag, _, body = node
    return tag in _TALL or (not isinstance(body, str) and any(_tall(c) for c in body))


def _fix_fences(node):
    """Fences that enclose nothing tall: stretchy="false" (a stretchy fence around
    a single-line body is set with loose spacing in Chromium)."""
    tag, attrs, body = node
    if isinstance(body, str):
        return node
    body = [_fix_fences(c) for c in body]
    tall = None
    for n, child in enumerate(body):
        if child[0] == "mo" and child[2] in _FENCES and "stretchy" not in child[1]:
            if tall is None:
                tall = any(_tall(c) for c in body)
            if not tall:
                body[n] = (child[0], dict(child[1], stretchy="false"), child[2])
    return (tag, attrs, body)


def _markup(node):
    tag, attrs, body = node
    attr = "".join(f' {k.replace("_", "-")}="{html.escape(str(v))}"' for k, v in attrs.items())
    if isinstance(body, str):
        return f"<{tag}{attr}>{html.escape(body, quote=False)}</{tag}>"
    return f"<{tag}{attr}>" + "".join(_markup(c) for c in body) + f"</{tag}>"


class _MathML(MathMLPresentationPrinter):
    """SymPy's presentation MathML printer with named symbols printed as their
    notation, and the printing methods it lacks or that differ from the LaTeX
    (Piecewise, KroneckerDelta, sums over several indices, scripted bases)."""

    def __init__(self, names):
        super().__init__({"order": None})
        self._names = dict(names)

    def _node(self, tree):
        tag, attrs, body = tree
        element = self.dom.createElement(tag)
        for key, value in attrs.items():
            element.setAttribute(key.replace("_", "-"), str(value))
        if isinstance(body, str):
            element.appendChild(self.dom.createTextNode(html.escape(body, quote=False)))
        else:
            for child in body:
                element.appendChild(self._node(child))
        return element

    def _mo(self, text):
        return self._node(_tok("mo", text))

    def _row(self, *children):
        mrow = self.dom.createElement("mrow")
        for child in children:
            mrow.appendChild(child)
        return mrow

    def _paren(self, node):
        return self._row(self._mo("("), node, self._mo(")"))

    def _script(self, tag, *children):
        element = self.dom.createElement(tag)
        for child in children:
            element.appendChild(child)
        return element

    def _print_Symbol(self, sym, style="plain"):
        name = self._names.get(sym)
        return self._print(name) if name is not None else super()._print_Symbol(sym, style)

    def _print_MatrixSymbol(self, sym):
        name = self._names.get(sym)
        return self._print(name) if name is not None else super()._print_MatrixSymbol(sym)

    def _print_Indexed(self, e):
        indices = [self._print(i) for i in e.indices]
        sub = indices[0]
        if len(indices) > 1:
            sub = self.dom.createElement("mrow")
            for n, index in enumerate(indices):
                if n:
                    sub.appendChild(self._mo(","))
                sub.appendChild(index)
        return self._script("msub", self._print(e.base), sub)   # w^(l) indexed: msubsup, in _from_dom

    def _print_Sum(self, e):
        mrow = self.dom.createElement("mrow")
        for var, low, high in reversed(e.limits):
            under = self._row(self._print(var), self._mo("="), self._print(low))
            mrow.appendChild(self._script("munderover", self._mo("∑"), under, self._print(high)))
        body = self._print(e.function)
        mrow.appendChild(self._paren(body) if isinstance(e.function, sp.Add) else body)
        return mrow

    def _print_Piecewise(self, e):
        table = self.dom.createElement("mtable")
        table.setAttribute("class", "cases")
        for value, cond in e.args:
            if cond == sp.true:
                right = self._node(_tok("mtext", "otherwise"))
            else:
                right = self._row(self._node(_tok("mtext", "for")),
                                  self._node(_el("mspace", width="0.5em")), self._print(cond))
            cells = [self._script("mtd", self._print(value)), self._script("mtd", right)]
            table.appendChild(self._script("mtr", *cells))
        return self._row(self._mo("{"), table)

    def _print_KroneckerDelta(self, e):
        return self._script("msub", self._node(_tok("mi", "δ")),
                            self._row(*(self._print(arg) for arg in e.args)))

    def _print_Heaviside(self, e):
        return self._row(self._node(_tok("mi", "θ")), self._paren_comma_separated(*e.args))

    def _print_Derivative(self, e):
        node = super()._print_Derivative(e)
        if isinstance(e.expr, (sp.Add, sp.Mul)) and len(node.childNodes) == 2:
            node.replaceChild(self._paren(node.childNodes[1].cloneNode(True)), node.childNodes[1])
        return node

    def _print_Transpose(self, expr):
        base = self._print(expr.arg)
        if base.tagName in ("msup", "msubsup", "mrow"):
            base = self._paren(base)
        # 1_N^T: msubsup, in _from_dom
        return self._script("msup", base, self._node(_tok("mi", "T", mathvariant="normal")))

    def _print_Float(self, e):
        """SymPy's mantissa · 10^exponent, with the LaTeX's dot operator and minus signs."""
        node = super()._print_Float(e)
        for mo in node.getElementsByTagName("mo"):
            if html.unescape(mo.firstChild.data) == "\u00b7":
                mo.firstChild.data = "⋅"
        numbers = [node] if node.tagName == "mn" else node.getElementsByTagName("mn")
        for mn in list(numbers):
            digits = html.unescape(mn.firstChild.data)
            if digits.startswith("-"):
                signed = self._row(self._mo("−"), self._node(_tok("mn", digits[1:])))
                if mn is node:
                    return signed
                mn.parentNode.replaceChild(signed, mn)
        return node

    def _print_BooleanTrue(self, e):
        return self._node(_tok("mtext", "true"))

    def _print_BooleanFalse(self, e):
        return self._node(_tok("mtext", "false"))

    def _print_Exp1(self, e):
        return self._node(_tok("mi", "e"))

    def _print_exp(self, e):
        return self._script("msup", self._node(_tok("mi", "e")), self._print(e.args[0]))

    def tree(self, expr):
        return _from_dom(self._print(expr))


def _from_dom(element):
    """minidom (whose text nodes hold escaped markup) -> the tree, text unescaped."""
    tag = element.tagName
    attrs = {k.replace("-", "_"): v for k, v in element.attributes.items()}
    if tag in ("mi", "mn", "mo", "mtext"):
        text = html.unescape("".join(c.data for c in element.childNodes if c.nodeType == c.TEXT_NODE))
        text = text.replace("\u2147", "e").replace("\u2146", "d")   # double-struck e, d
        if tag == "mo" and text == "-":
            text = "−"
        if tag == "mo" and text.isalpha() and len(text) > 1:     # max, min: names, not operators
            tag = "mi"
        return _tok(tag, text, **attrs)
    children = [_from_dom(c) for c in element.childNodes if c.nodeType == c.ELEMENT_NODE]
    # a script on a scripted base takes the free slot: (beta_1)^t as beta_1^t, w^(l)_ij
    if tag == "msup" and children[0][0] == "msub":
        return _el("msubsup", *children[0][2], children[1], **attrs)
    if tag == "msub" and children[0][0] == "msup":
        base, sup = children[0][2]
        return _el("msubsup", base, children[1], sup, **attrs)
    return (tag, attrs, children)
