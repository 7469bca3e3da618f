"""Lay a Derivation out as HTML with MathML, which browsers render natively (no script,
no font, no network): the report's typeset derivation (codegen/report.py).

Every derived formula is printed from its own SymPy expression (Math.expr, the one
the LaTeX was printed from) by SymPy's presentation MathML printer, with a few
printing methods added where SymPy's own are missing or differ from the LaTeX
(sums over several indices, Piecewise, Kronecker's delta, indexed symbols with a
layer superscript). Symbols print under the display names the LaTeX uses
(Math.names): those names, and the notation that is not a SymPy expression (the
names of derivatives such as dl/dw_ij, written as `_note`s in derivation.py), are
short LaTeX strings of a small fixed vocabulary, translated here by `tex_mathml`.
A LaTeX command outside that vocabulary raises `UnsupportedTeX`; the renderer then
shows the formula's text form in <mtext> (and counts it in `fallbacks`, which the
tests require to be zero over every registry entry).

Output is MathML Core (what Chromium, Firefox and Safari implement): mrow, mi, mn,
mo, mtext, msub, msup, msubsup, munderover, mover, mfrac, msqrt, mtable, mspace.
"""
from __future__ import annotations

import html
import re

import sympy as sp
from sympy.printing.mathml import MathMLPresentationPrinter

from .derivation import Code, Equations, Math, Para, Table

__all__ = ["UnsupportedTeX", "tex_mathml", "expr_mathml", "html_sections"]


class UnsupportedTeX(ValueError):
    """A LaTeX command outside the notation vocabulary of derivation.py."""


# --------------------------------------------------------------------------- a tiny tree

# A node is (tag, attrs, children) with children a list of nodes, or (tag, attrs, text)
# for token elements (mi, mn, mo, mtext) with plain (unescaped) text.

def _el(tag, *children, **attrs):
    return (tag, attrs, list(children))


def _tok(tag, text, **attrs):
    return (tag, attrs, text)


def _row(nodes):
    nodes = [n for n in nodes if n is not None]
    return nodes[0] if len(nodes) == 1 else _el("mrow", *nodes)


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


def _serialize(node):
    return _markup(_fix_fences(node))


def _markup(node):
    tag, attrs, body = node
    attr = "".join(f' {k.replace("_", "-")}="{html.escape(str(v))}"' for k, v in attrs.items())
    if isinstance(body, str):
        return f"<{tag}{attr}>{html.escape(body, quote=False)}</{tag}>"
    return f"<{tag}{attr}>" + "".join(_markup(c) for c in body) + f"</{tag}>"


def _attach_sub(base, sub):
    """base_sub; a base that already carries a superscript becomes msubsup; a sum's
    limits go under it (set as scripts in inline formulas: movablelimits)."""
    if base[0] == "mo" and base[2] == "∑":
        return _el("munder", base, sub)
    if base[0] == "munder":
        return _el("munderover", *base[2], sub)
    if base[0] == "msup":
        return _el("msubsup", base[2][0], sub, base[2][1])
    if base[0] == "mrow" and len(base[2]) == 1:
        return _attach_sub(base[2][0], sub)
    return _el("msub", base, sub)


def _attach_sup(base, sup):
    if base[0] == "mo" and base[2] == "∑":
        return _el("mover", base, sup)
    if base[0] == "munder":
        return _el("munderover", *base[2], sup)
    if base[0] == "msub":
        return _el("msubsup", base[2][0], base[2][1], sup)
    if base[0] == "mrow" and len(base[2]) == 1:
        return _attach_sup(base[2][0], sup)
    return _el("msup", base, sup)


# --------------------------------------------------------------------------- LaTeX notation

_GREEK = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ϵ", "varepsilon": "ε",
    "zeta": "ζ", "eta": "η", "theta": "θ", "iota": "ι", "kappa": "κ", "lambda": "λ", "mu": "μ",
    "nu": "ν", "xi": "ξ", "pi": "π", "rho": "ρ", "sigma": "σ", "tau": "τ", "phi": "ϕ",
    "varphi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω", "ell": "ℓ",
    "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π",
    "Sigma": "Σ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
}
_OPERATORS = {
    "partial": "∂", "circ": "∘", "cdot": "⋅", "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥",
    "leftarrow": "←", "rightarrow": "→", "to": "→", "times": "×", "infty": "∞", "neq": "≠",
    "sum": "∑", "odot": "⊙",
}
_FUNCTIONS = ("log", "exp", "max", "min", "tanh", "sinh", "cosh", "sin", "cos", "tan", "ln")
_ACCENTS = {"hat": "^", "bar": "¯", "tilde": "~"}
_SPACES = {",": "0.1667em", ":": "0.2222em", ";": "0.2778em", " ": "0.25em", "quad": "1em"}
_CALLIGRAPHIC = {"L": "ℒ", "H": "ℋ", "F": "ℱ", "E": "ℰ", "B": "ℬ", "R": "ℛ", "M": "ℳ", "I": "ℐ"}
_DELIMITERS = {"(": "(", ")": ")", "[": "[", "]": "]", "|": "|", ".": "", r"\{": "{", r"\}": "}"}

_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|[0-9]+(?:\.[0-9]+)?|\s+|.", re.S)


def _bold(text):
    out = []
    for ch in text:
        if "0" <= ch <= "9":
            out.append(chr(0x1D7CE + ord(ch) - ord("0")))
        elif "A" <= ch <= "Z":
            out.append(chr(0x1D400 + ord(ch) - ord("A")))
        elif "a" <= ch <= "z":
            out.append(chr(0x1D41A + ord(ch) - ord("a")))
        else:
            out.append(ch)
    return "".join(out)


class _TeX:
    """Recursive descent over the notation's LaTeX: groups, scripts, a few commands."""

    def __init__(self, source):
        self.source = source
        self.tokens = [t for t in _TOKEN.findall(source)]
        self.pos = 0

    def error(self, what):
        raise UnsupportedTeX(f"{what} in {self.source!r}")

    def peek(self):
        while self.pos < len(self.tokens) and self.tokens[self.pos].isspace():
            self.pos += 1
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self):
        token = self.peek()
        if token is None:
            self.error("unexpected end")
        self.pos += 1
        return token

    def parse(self):
        nodes = self.sequence(stop=())
        if self.peek() is not None:
            self.error(f"unexpected {self.peek()!r}")
        return _row(nodes)

    def sequence(self, stop):
        nodes = []
        while True:
            token = self.peek()
            if token is None or token in stop:
                return nodes
            if token in ("^", "_"):
                self.take()
                if not nodes:
                    self.error(f"{token} without a base")
                script = self.argument()
                nodes[-1] = (_attach_sup if token == "^" else _attach_sub)(nodes[-1], script)
            elif token == "'":
                self.take()
                if not nodes:
                    self.error("' without a base")
                nodes[-1] = _attach_sup(nodes[-1], _tok("mo", "′"))
            else:
                nodes.append(self.atom())

    def group(self):
        if self.take() != "{":
            self.error("expected {")
        nodes = self.sequence(stop=("}",))
        self.take()
        return _row(nodes) if nodes else _el("mrow")

    def raw_group(self):
        """The text of a {...} argument, as written (for \\text, \\mathrm, ...)."""
        if self.take() != "{":
            self.error("expected {")
        depth, out = 0, []
        while True:
            token = self.tokens[self.pos] if self.pos < len(self.tokens) else None
            if token is None:
                self.error("unclosed {")
            self.pos += 1
            if token == "{":
                depth += 1
            elif token == "}":
                if depth == 0:
                    return "".join(out)
                depth -= 1
            elif token in (r"\_", r"\{", r"\}", r"\%", r"\&", r"\#", r"\$"):
                token = token[1]
            elif token.startswith("\\"):
                self.error(f"{token} inside a text argument")
            out.append(token)

    def argument(self):
        return self.group() if self.peek() == "{" else self.atom()

    def atom(self):
        token = self.take()
        if token == "{":
            self.pos -= 1
            return self.group()
        if token.startswith("\\"):
            return self.command(token[1:])
        if token[0].isdigit():
            return _tok("mn", token)
        if token.isalpha():
            return _tok("mi", token)
        if token in "()[]|,=+-<>/!;:.*":
            return _tok("mo", {"-": "−", "*": "∗"}.get(token, token))
        self.error(f"unexpected {token!r}")

    def command(self, name):
        if name in _GREEK:
            upright = name[0].isupper()
            return _tok("mi", _GREEK[name], **({"mathvariant": "normal"} if upright else {}))
        if name in _OPERATORS:
            return _tok("mo", _OPERATORS[name])
        if name in _FUNCTIONS:       # a thin space before an argument without parentheses
            if self.peek() in ("(", r"\left", None):
                return _tok("mi", name)
            return _el("mrow", _tok("mi", name), _el("mspace", width="0.1667em"))
        if name in _SPACES:
            return _el("mspace", width=_SPACES[name])
        if name == "frac":
            return _el("mfrac", self.argument(), self.argument())
        if name == "sqrt":
            return _el("msqrt", self.argument())
        if name in _ACCENTS:
            return _el("mover", self.argument(), _tok("mo", _ACCENTS[name]), accent="true")
        if name in ("mathrm", "operatorname"):
            text = self.raw_group()
            return _tok("mi", text, **({"mathvariant": "normal"} if len(text) == 1 else {}))
        if name == "text":
            return _tok("mtext", self.raw_group())
        if name == "mathbf":
            return _tok("mi", _bold(self.raw_group()))
        if name == "mathcal":
            text = self.raw_group()
            if text not in _CALLIGRAPHIC:
                self.error(f"\\mathcal{{{text}}}")
            return _tok("mi", _CALLIGRAPHIC[text])
        if name in ("left", "right"):
            token = self.take()
            if token not in _DELIMITERS:
                self.error(f"\\{name}{token}")
            return _tok("mo", _DELIMITERS[token]) if _DELIMITERS[token] else None
        if name in ("_", "{", "}"):
            return _tok("mo" if name != "_" else "mi", name)
        self.error(f"\\{name}")


def _tex_tree(source):
    node = _TeX(source).parse()
    return node if node is not None else _el("mrow")


def tex_mathml(source):
    """MathML (the content of a <math> element) for a LaTeX string of the notation."""
    return _serialize(_tex_tree(source))


# --------------------------------------------------------------------------- SymPy's printer

class _Printer(MathMLPresentationPrinter):
    """SymPy's presentation MathML printer with the derivation's display names, and the
    printing methods it lacks (Piecewise, KroneckerDelta, sums over several indices)."""

    def __init__(self, names):
        super().__init__({"order": None})
        self._names = dict(names)

    # the tree <-> the printer's minidom
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

    # names
    def _print_Symbol(self, sym, style="plain"):
        name = self._names.get(sym)
        if name is not None:
            return self._node(_tex_tree(name))
        return super()._print_Symbol(sym, style)

    def _print_MatrixSymbol(self, sym):
        name = self._names.get(sym)
        if name is not None:
            return self._node(_tex_tree(name))
        return super()._print_MatrixSymbol(sym)

    def _print_Indexed(self, e):
        indices = [self._print(i) for i in e.indices]
        sub = indices[0]
        if len(indices) > 1:
            sub = self.dom.createElement("mrow")
            for n, index in enumerate(indices):
                if n:
                    sub.appendChild(self._mo(","))
                sub.appendChild(index)
        script = self.dom.createElement("msub")       # w^(l) indexed: msubsup, in _from_dom
        script.appendChild(self._print(e.base))
        script.appendChild(sub)
        return script

    # constructs SymPy's printer lacks or prints unlike the LaTeX
    def _print_Sum(self, e):
        mrow = self.dom.createElement("mrow")
        for var, low, high in reversed(e.limits):
            under = self._row(self._print(var), self._mo("="), self._print(low))
            sigma = self.dom.createElement("munderover")
            for child in (self._mo("∑"), under, self._print(high)):
                sigma.appendChild(child)
            mrow.appendChild(sigma)
        body = self._print(e.function)
        mrow.appendChild(self._paren(body) if isinstance(e.function, sp.Add) else body)
        return mrow

    def _print_Piecewise(self, e):
        table = self.dom.createElement("mtable")
        table.setAttribute("class", "cases")
        for value, cond in e.args:
            tr = self.dom.createElement("mtr")
            left, right = self.dom.createElement("mtd"), self.dom.createElement("mtd")
            left.appendChild(self._print(value))
            if cond == sp.true:
                right.appendChild(self._node(_tok("mtext", "otherwise")))
            else:
                right.appendChild(self._row(self._node(_tok("mtext", "for")),
                                            self._node(_el("mspace", width="0.5em")), self._print(cond)))
            tr.appendChild(left)
            tr.appendChild(right)
            table.appendChild(tr)
        return self._row(self._mo("{"), table)

    def _print_KroneckerDelta(self, e):
        sub = self._row(*(self._print(arg) for arg in e.args))
        script = self.dom.createElement("msub")
        script.appendChild(self._node(_tok("mi", "δ")))
        script.appendChild(sub)
        return script

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
        script = self.dom.createElement("msup")       # 1_N^T: msubsup, in _from_dom
        script.appendChild(base)
        script.appendChild(self._node(_tok("mi", "T", mathvariant="normal")))
        return script

    def _print_BooleanTrue(self, e):
        return self._node(_tok("mtext", "true"))

    def _print_BooleanFalse(self, e):
        return self._node(_tok("mtext", "false"))

    def _print_Exp1(self, e):
        return self._node(_tok("mi", "e"))

    def _print_exp(self, e):
        script = self.dom.createElement("msup")
        script.appendChild(self._node(_tok("mi", "e")))
        script.appendChild(self._print(e.args[0]))
        return script

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


def expr_mathml(expr, names=()):
    """MathML (the content of a <math> element) for a SymPy expression, with
    `names` ((symbol, LaTeX display name), ...) as in Math.names."""
    return _serialize(_Printer(names).tree(expr))


# --------------------------------------------------------------------------- the document

class _Renderer:
    def __init__(self):
        self.fallbacks = []          # (latex, reason) of formulas shown as text

    def content(self, m):
        """The MathML content of a Math: its SymPy expression if it has one, else its
        LaTeX notation; the text form in <mtext> if neither can be printed."""
        try:
            if m.expr is not None:
                return expr_mathml(m.expr, m.names)
            return tex_mathml(m.latex)
        except UnsupportedTeX as err:
            self.fallbacks.append((m.latex, str(err)))
            return _serialize(_tok("mtext", m.text))

    def math(self, m, display=False):
        if not m.latex and m.expr is None:
            return ""
        block = ' display="block"' if display else ""
        return f'<math{block} alttext="{html.escape(m.text)}">{self.content(m)}</math>'

    def inline(self, part):
        if isinstance(part, Math):
            return self.math(part)
        if isinstance(part, Code):
            return f"<code>{html.escape(part.text)}</code>"
        return html.escape(part, quote=False)

    def equations(self, eq):
        ops = {"=": "=", "<-": "←"}
        rows = []
        for row in eq.rows:
            lhs = self.content(row.lhs)
            rhs = list(row.rhs) or [("=", None)]
            for n, (op, m) in enumerate(rhs):
                left = f"<mtd>{lhs}</mtd>" if n == 0 else "<mtd></mtd>"
                right = self.content(m) if m is not None else ""
                rows.append(f"<mtr>{left}<mtd><mo>{html.escape(ops[op])}</mo>"
                            f"</mtd><mtd>{right}</mtd></mtr>")
        alt = "; ".join(f"{r.lhs.text} " + " ".join(f"{op} {m.text}" for op, m in r.rhs)
                        for r in eq.rows)
        return (f'<math display="block" class="equations" alttext="{html.escape(alt)}">'
                f'<mtable class="align" displaystyle="true">{"".join(rows)}</mtable></math>')

    def block(self, block):
        if isinstance(block, Para):
            return "<p>" + "".join(self.inline(x) for x in block.parts) + "</p>"
        if isinstance(block, Equations):
            return '<div class="equations">' + self.equations(block) + "</div>"
        if isinstance(block, Table):
            head = "".join(f"<th>{self.inline(h)}</th>" for h in block.header)
            body = "".join("<tr>" + "".join(f"<td>{self.inline(c)}</td>" for c in row) + "</tr>"
                           for row in block.rows)
            return f'<table class="hyper"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
        raise TypeError(f"unknown block {block!r}")


def html_sections(d):
    """The derivation's sections as HTML with MathML: a list of (number, title, html),
    and the list of formulas that fell back to text (empty when all printed)."""
    renderer = _Renderer()
    out = []
    for n, section in enumerate(d.sections, start=1):
        out.append((n, section.title, "\n".join(renderer.block(b) for b in section.blocks)))
    return out, renderer.fallbacks

