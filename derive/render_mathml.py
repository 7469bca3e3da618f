"""Lay a Derivation out as HTML with MathML, which browsers render natively (no script,
no font, no network): the report's typeset derivation (gradgen/report.py).

Every formula is printed from its own SymPy object by SymPy's presentation MathML
printer with the derivation's display names (derive/printing.py), the same object
the LaTeX and the text are printed from. A formula whose MathML would need an
element outside MathML Core shows its text form in <mtext> instead, and is counted
in `fallbacks` (the tests require none over every registry entry).

Each displayed equation shows its number (Derivation.equations) in a fourth column.

Output is MathML Core (what Chromium, Firefox and Safari implement): mrow, mi, mn,
mo, mtext, msub, msup, msubsup, munderover, mover, mfrac, msqrt, mtable, mspace.
"""
from __future__ import annotations

import html

from .document import Code, Equations, Math, Para, Table
from .printing import UnsupportedMathML

__all__ = ["html_sections"]

_OPS = {"=": "=", "<-": "←"}
# the column of equation numbers, set apart to the right (the page's stylesheet knows
# the align table's first three columns only)
_NUMBER_CELL = 'class="number" style="padding-left: 2.5em; text-align: right"'


class _Renderer:
    def __init__(self):
        self.fallbacks = []          # (text, reason) of formulas shown as text

    def content(self, m):
        """The MathML content of a Math; its text form in <mtext> if it has none in Core."""
        try:
            return m.mathml
        except UnsupportedMathML as err:
            self.fallbacks.append((m.text, str(err)))
            return f"<mtext>{html.escape(m.text, quote=False)}</mtext>"

    def math(self, m, display=False):
        if m.expr is None:
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
        """An align-like <mtable>: lhs, op, rhs, and the equation's number on its last line."""
        rows = []
        for row in eq.rows:
            lhs = self.content(row.lhs)
            rhs = list(row.rhs) or [("=", None)]
            for n, (op, m) in enumerate(rhs):
                left = f"<mtd>{lhs}</mtd>" if n == 0 else "<mtd></mtd>"
                right = self.content(m) if m is not None else ""
                last = n == len(rhs) - 1 and row.number is not None
                number = f"<mtext>({row.number})</mtext>" if last else ""
                rows.append(f"<mtr>{left}<mtd><mo>{html.escape(_OPS[op])}</mo>"
                            f"</mtd><mtd>{right}</mtd><mtd {_NUMBER_CELL}>{number}</mtd></mtr>")
        alt = "; ".join(f"{r.lhs.text} " + " ".join(f"{op} {m.text}" for op, m in r.rhs)
                        + (f" ({r.number})" if r.number is not None else "") for r in eq.rows)
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
