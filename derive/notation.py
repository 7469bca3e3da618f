"""The derivation's notation as SymPy objects: names of quantities (w^(l)_ij,
dL/dW^(l), ŷ_j, f'(Z^(l))), not values.

Each class prints itself in SymPy's three printers, `_latex` (LaTeX),
`_sympystr` (one line of plain text) and `_mathml_presentation` (MathML Core),
so LaTeX, text and MathML come from one object and nothing parses LaTeX back.
Parts of a notation are SymPy objects too: other notation, numbers, or
expressions, which the printer prints with its own rules (and display names).

A `text` given to a constructor replaces the plain-text form built from the
parts, for the few names whose terminal spelling is not their structure
(the momentum buffer's bold b is "buf").
"""
import html
import unicodedata

import sympy as sp
from sympy.core.symbol import Str

__all__ = ["Notation", "Token", "Scripts", "Accent", "Paren", "Seq", "Partial", "Prime", "Call",
           "SumOver", "Number", "Text", "letter", "digit", "greek", "bold", "calligraphic",
           "operator_name", "roman", "function_name", "sign", "juxtapose", "listing", "relation",
           "joined", "COMMA"]

_NO_TEXT = "\0"          # no text override


def _part(value):
    """A part as a SymPy object: an int is a number, a one-character str a letter."""
    if isinstance(value, int):
        return sp.Integer(value)
    return letter(value) if isinstance(value, str) else value


def _element(printer, tag, *children, **attrs):
    """A MathML element of the printer's document; children are elements or SymPy objects."""
    element = printer.dom.createElement(tag)
    for key, value in attrs.items():
        element.setAttribute(key.replace("_", "-"), str(value))
    for child in children:
        element.appendChild(child if hasattr(child, "nodeType") else printer._print(child))
    return element


def _token(printer, tag, text, **attrs):
    element = _element(printer, tag, **attrs)
    # text nodes hold escaped markup, as SymPy's own MathML printers write them
    element.appendChild(printer.dom.createTextNode(html.escape(text, quote=False)))
    return element


class Notation(sp.Basic):
    """Display notation, printed by every SymPy printer; it means nothing to SymPy's algebra.
    The last argument is the plain-text override (or none)."""

    def __new__(cls, *parts, text=None):
        return super().__new__(cls, *(_part(p) for p in parts), Str(_NO_TEXT if text is None else text))

    @property
    def parts(self):
        return self.args[:-1]

    def _sympystr(self, printer):
        override = self.args[-1].name
        return self.text(printer) if override == _NO_TEXT else override

    def text(self, printer):
        raise NotImplementedError


class Token(Notation):
    """One sign: a letter, a Greek letter, a word or an operator, with its spelling
    in LaTeX, in text and as a MathML token (tag, content, mathvariant or "")."""

    def __new__(cls, latex, spelling, tag="mi", content=None, variant="", **kwargs):
        content = spelling if content is None else content
        return super().__new__(cls, Str(latex), Str(spelling), Str(tag), Str(content), Str(variant),
                               **kwargs)

    def _latex(self, printer):
        return self.parts[0].name

    def text(self, printer):
        return self.parts[1].name

    def _mathml_presentation(self, printer):
        _, _, tag, content, variant = (p.name for p in self.parts)
        return _token(printer, tag, content, **({"mathvariant": variant} if variant else {}))


_GREEK = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ϵ", "varepsilon": "ε",
    "eta": "η", "theta": "θ", "lambda": "λ", "mu": "μ", "sigma": "σ", "tau": "τ", "ell": "ℓ",
    "kappa": "κ", "phi": "φ", "Delta": "Δ", "Sigma": "Σ", "Omega": "Ω", "omega": "ω",
}
_CALLIGRAPHIC = {"L": "ℒ"}


def letter(c, **kwargs):
    return Token(c, c, **kwargs)


def digit(n):
    return Token(str(n), str(n), "mn")


def greek(name, **kwargs):
    """\\alpha, \\Delta, \\ell; capitals upright in MathML, as in LaTeX."""
    return Token("\\" + name, _GREEK[name], "mi", _GREEK[name], "normal" if name[0].isupper() else "",
                 **kwargs)


def bold(c, **kwargs):
    """\\mathbf{c}: in MathML the mathematical bold character."""
    offset = {"digit": 0x1D7CE - ord("0"), "upper": 0x1D400 - ord("A"), "lower": 0x1D41A - ord("a")}
    kind = "digit" if c.isdigit() else "upper" if c.isupper() else "lower"
    return Token(r"\mathbf{%s}" % c, c, "mi", chr(ord(c) + offset[kind]), **kwargs)


def calligraphic(c, **kwargs):
    return Token(r"\mathcal{%s}" % c, c, "mi", _CALLIGRAPHIC[c], **kwargs)


def _upright(command, word, **kwargs):
    return Token(r"\%s{%s}" % (command, word.replace("_", r"\_")), word, "mi", word,
                 "normal" if len(word) == 1 else "", **kwargs)


def operator_name(word, **kwargs):
    """\\operatorname{relu}: a named function set upright."""
    return _upright("operatorname", word, **kwargs)


def roman(word, **kwargs):
    """\\mathrm{decay}: an upright word."""
    return _upright("mathrm", word, **kwargs)


def function_name(word, **kwargs):
    """\\tanh, \\log, \\max: LaTeX's own function names."""
    return Token("\\" + word, word, "mi", word, **kwargs)


def sign(latex, spelling, content=None):
    """An operator sign (mo): =, +, \\circ, \\leftarrow, \\le."""
    return Token(latex, spelling, "mo", spelling if content is None else content)


COMMA = sign(",", ",")


def _is_number(part):
    return isinstance(part, sp.Integer) or isinstance(part, Token) and part.parts[2].name == "mn"


class Scripts(Notation):
    """base_sub^sup (either script may be None): a_j, w^(l), a_i^(l-1), β_1. With
    indexed=True the subscript is an index, which text writes as the text printer
    writes an Indexed: z^(l)[j]."""

    def __new__(cls, base, sub=None, sup=None, indexed=False, **kwargs):
        return super().__new__(cls, base, Str("") if sub is None else sub,
                               Str("") if sup is None else sup, sp.true if indexed else sp.false,
                               **kwargs)

    def _scripts(self):
        base, sub, sup, _ = self.parts
        return base, None if sub == Str("") else sub, None if sup == Str("") else sup

    def _latex(self, printer):
        base, sub, sup = self._scripts()
        out = printer._print(base)
        if sub is not None:
            out += "_{%s}" % printer._print(sub)
        if sup is not None:
            out += "^{%s}" % printer._print(sup)
        return out

    def text(self, printer):
        """a_j, w^(l); a number subscript directly (β1, c1, s0)."""
        base, sub, sup = self._scripts()
        out = printer._print(base)
        if self.parts[3] == sp.true:
            return out + ("" if sup is None else "^" + printer._print(sup)) + "[%s]" % printer._print(sub)
        if sub is not None:
            out += ("" if _is_number(sub) else "_") + printer._print(sub)
        if sup is not None:
            out += "^" + printer._print(sup)
        return out

    def _mathml_presentation(self, printer):
        base, sub, sup = self._scripts()
        if sub is not None and sup is not None:
            return _element(printer, "msubsup", base, sub, sup)
        return _element(printer, "msub" if sub is not None else "msup", base,
                        sub if sub is not None else sup)


_MARKS = {"hat": ("\u0302", "^", "^"), "bar": ("\u0304", "¯", "¯"), "tilde": ("\u0303", "~", "~")}


class Accent(Notation):
    """\\hat{y}, \\bar{g}, \\tilde{\\eta}: in text the accented character where Unicode
    has one (ŷ), else the base and the mark (η^)."""

    def __new__(cls, base, kind, **kwargs):
        return super().__new__(cls, base, Str(kind), **kwargs)

    def _latex(self, printer):
        base, kind = self.parts
        return r"\%s{%s}" % (kind.name, printer._print(base))

    def text(self, printer):
        base, kind = self.parts
        combining, mark, _ = _MARKS[kind.name]
        composed = unicodedata.normalize("NFC", printer._print(base) + combining)
        return composed if len(composed) == 1 else printer._print(base) + mark

    def _mathml_presentation(self, printer):
        base, kind = self.parts
        return _element(printer, "mover", base, _token(printer, "mo", _MARKS[kind.name][2]), accent="true")


class Paren(Notation):
    """(content): in superscripts (l), (l-1); big=True is \\left( ... \\right)."""

    def __new__(cls, content, big=False, **kwargs):
        return super().__new__(cls, content, sp.true if big else sp.false, **kwargs)

    def _latex(self, printer):
        content, big = self.parts
        inner = printer._print(content)
        return r"\left(%s\right)" % inner if big == sp.true else "(%s)" % inner

    def text(self, printer):
        return "(%s)" % printer._print(self.parts[0])

    def _mathml_presentation(self, printer):
        return _element(printer, "mrow", _token(printer, "mo", "("), self.parts[0], _token(printer, "mo", ")"))


class Seq(Notation):
    """Items side by side, joined by `latex` in LaTeX and `text` in text; in MathML
    by the `between` sign (none when None)."""

    def __new__(cls, items, latex="", text=None, between=None, **kwargs):
        return super().__new__(cls, sp.Tuple(*(_part(i) for i in items)), Str(latex),
                               Str(latex if text is None else text),
                               Str("") if between is None else between, **kwargs)

    def _latex(self, printer):
        items, latex, _, _ = self.parts
        return latex.name.join(printer._print(i) for i in items)

    def text(self, printer):
        items, _, text, _ = self.parts
        return text.name.join(printer._print(i) for i in items)

    def _mathml_presentation(self, printer):
        items, _, _, between = self.parts
        if len(items) == 1:
            return printer._print(items[0])
        children = []
        for n, item in enumerate(items):
            if n and between != Str(""):
                children.append(printer._print(between))
            children.append(printer._print(item))
        return _element(printer, "mrow", *children)


def juxtapose(*items, text=" "):
    """Items written next to each other (products of notation, a sum sign and its terms)."""
    return Seq(items, " ", text)


def listing(*items):
    """a, b, c."""
    return Seq(items, ", ", ", ", COMMA)


def relation(lhs, op, rhs):
    """lhs op rhs, with op a sign: a^(0) = x, z <= 0."""
    return Seq((lhs, op, rhs), " ", " ")


def joined(*items):
    """Items without space: the index pair ij, l-1."""
    return Seq(items)


class Partial(Notation):
    """The partial derivative d num / d den, as a fraction of two differentials."""

    def _latex(self, printer):
        num, den = self.parts
        return r"\frac{\partial %s}{\partial %s}" % (printer._print(num), printer._print(den))

    def text(self, printer):
        num, den = self.parts
        return "d%s/d%s" % (printer._print(num), printer._print(den))

    def _mathml_presentation(self, printer):
        num, den = self.parts

        def differential(e):
            return _element(printer, "mrow", _token(printer, "mo", "∂"), e)
        return _element(printer, "mfrac", differential(num), differential(den))


class Prime(Notation):
    """f': the derivative of a function, by name."""

    def _latex(self, printer):
        return printer._print(self.parts[0]) + "'"

    def text(self, printer):
        return printer._print(self.parts[0]) + "'"

    def _mathml_presentation(self, printer):
        f = self.parts[0]
        if isinstance(f, Scripts) and f._scripts()[2] is None and f._scripts()[1] is not None:
            base, sub, _ = f._scripts()
            return _element(printer, "msubsup", base, sub, _token(printer, "mo", "′"))
        return _element(printer, "msup", f, _token(printer, "mo", "′"))


class Call(Notation):
    """f(args): `brackets` is "big" (\\left( \\right)), "plain" ( ) or "none" (log y)."""

    def __new__(cls, function, *args, brackets="big", **kwargs):
        return super().__new__(cls, function, Str(brackets), *args, **kwargs)

    def _latex(self, printer):
        function, brackets, *args = self.parts
        form = {"none": "%s %s", "big": r"%s\left(%s\right)", "plain": "%s(%s)"}[brackets.name]
        return form % (printer._print(function), ", ".join(printer._print(a) for a in args))

    def text(self, printer):
        function, brackets, *args = self.parts
        form = "%s %s" if brackets.name == "none" else "%s(%s)"
        return form % (printer._print(function), ", ".join(printer._print(a) for a in args))

    def _mathml_presentation(self, printer):
        function, brackets, *args = self.parts
        if brackets.name == "none":     # a thin space before an argument without parentheses
            return _element(printer, "mrow", function, _element(printer, "mspace", width="0.1667em"),
                            *args)
        children = [function, _token(printer, "mo", "(")]
        for n, arg in enumerate(args):
            if n:
                children.append(_token(printer, "mo", ","))
            children.append(arg)
        return _element(printer, "mrow", *children, _token(printer, "mo", ")"))


class SumOver(Notation):
    """The sign of a sum over an index, without limits: Σ_k."""

    def _latex(self, printer):
        return r"\sum_{%s}" % printer._print(self.parts[0])

    def text(self, printer):
        return "Σ_" + printer._print(self.parts[0])

    def _mathml_presentation(self, printer):
        return _element(printer, "munder", _token(printer, "mo", "∑"), self.parts[0])


class Number(Notation):
    """A hyper-parameter's value: in text as Python writes the float (1e-08), elsewhere
    as SymPy prints the Float (1.0 \\cdot 10^{-8})."""

    def __new__(cls, value, **kwargs):
        whole = isinstance(value, int) and not isinstance(value, bool)     # an epoch count, a patience
        return super().__new__(cls, Str(str(value) if whole else repr(float(value))), **kwargs)

    def _number(self):
        name = self.parts[0].name
        return sp.Integer(name) if name.lstrip("-").isdigit() else sp.Float(name)

    def _latex(self, printer):
        return printer._print(self._number())

    def text(self, printer):
        return self.parts[0].name

    def _mathml_presentation(self, printer):
        return printer._print(self._number())


class Text(Notation):
    """A word inside a formula: \\text{true}."""

    def __new__(cls, word, **kwargs):
        return super().__new__(cls, Str(word), **kwargs)

    def _latex(self, printer):
        return r"\text{%s}" % self.parts[0].name

    def text(self, printer):
        return self.parts[0].name

    def _mathml_presentation(self, printer):
        return _token(printer, "mtext", self.parts[0].name)
