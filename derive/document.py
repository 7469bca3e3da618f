"""The derivation as a document: sections of prose and numbered equations.

This is all the renderers (render_latex.py, render_text.py, render_mathml.py)
know: they lay these blocks out and never see how the derivation was built. A
formula is a `Math`, one SymPy object printed by each renderer's SymPy printer
(derive/printing.py), so LaTeX, text and MathML always show the same thing.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

from . import printing

__all__ = ["Math", "Code", "Para", "Row", "Equations", "Table", "Section", "number_equations"]


@dataclass(frozen=True)
class Math:
    """A formula: a SymPy expression or notation (derive/notation.py), and the display
    names of its symbols ((symbol, notation), ...). None is an empty cell."""
    expr: object
    names: tuple = ()

    @functools.cached_property
    def latex(self):
        """LaTeX without the surrounding $ ("" for an empty cell)."""
        return "" if self.expr is None else printing.latex(self.expr, self.names)

    @functools.cached_property
    def text(self):
        """One line of plain text."""
        return "" if self.expr is None else printing.text(self.expr, self.names)

    @functools.cached_property
    def mathml(self):
        """The content of a <math> element; raises printing.UnsupportedMathML."""
        return "" if self.expr is None else printing.mathml(self.expr, self.names)


@dataclass(frozen=True)
class Code:
    """A literal from the spec (a key, a formula's source text)."""
    text: str


@dataclass(frozen=True)
class Para:
    parts: tuple              # str | Math | Code


@dataclass(frozen=True)
class Row:
    """One displayed equation: lhs op rhs1 op rhs2 ..., shown with its number. `keys`
    name it for other stages (the code generator's "(eq. N)"), see Derivation.equations."""
    lhs: Math
    rhs: tuple                # ((op, Math), ...); op is "=" or "<-"
    keys: tuple = ()
    number: int | None = None


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


def number_equations(sections):
    """Number every displayed equation 1, 2, 3, ... in document order. Returns the
    numbered sections and {key: number} for every key of every row."""
    numbers, count, out = {}, 0, []
    for section in sections:
        blocks = []
        for block in section.blocks:
            if isinstance(block, Equations):
                rows = []
                for row in block.rows:
                    count += 1
                    rows.append(dataclasses.replace(row, number=count))
                    for key in row.keys:
                        if key in numbers:
                            raise ValueError(f"equation key {key!r} is used twice")
                        numbers[key] = count
                block = Equations(tuple(rows))
            blocks.append(block)
        out.append(Section(section.title, tuple(blocks)))
    return tuple(out), numbers
