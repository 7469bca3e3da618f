"""Lay a Derivation out as plain text for a terminal: underlined headings, wrapped
prose, and one-line formulas (SymPy's str printer, see derive/printing.py)."""
import textwrap

from .document import Code, Equations, Math, Para, Table

_OPS = {"=": "=", "<-": "←"}
WIDTH = 88


def _inline(part):
    if isinstance(part, Math):
        return part.text
    if isinstance(part, Code):
        return f"`{part.text}`"
    return part


def numbered(line, number):
    """The last line of an equation with its number: right-aligned at WIDTH, or two
    spaces after a longer line."""
    mark = f"({number})"
    return line + " " * max(2, WIDTH - len(line) - len(mark)) + mark


def _cases(head, formula):
    """head + formula as lines: a formula too long for a line is broken after each
    case of a piecewise one ("{a if c; b otherwise}"), the cases aligned."""
    if len(head) + len(formula) <= WIDTH or "; " not in formula:
        return [head + formula]
    pieces = formula.split("; ")
    indent = " " * (len(head) + 1)
    return [head + pieces[0] + ";"] + [indent + p + (";" if n < len(pieces) - 2 else "")
                                       for n, p in enumerate(pieces[1:])]


def _block(block):
    if isinstance(block, Para):
        return textwrap.fill("".join(_inline(x) for x in block.parts), WIDTH,
                             break_long_words=False, break_on_hyphens=False)
    if isinstance(block, Equations):
        lines = []
        for row in block.rows:
            pad = " " * (4 + len(row.lhs.text))
            if not row.rhs:
                lines.append("    " + row.lhs.text)
            for n, (op, rhs) in enumerate(row.rhs):
                head = "    " + row.lhs.text if n == 0 else pad
                lines.extend(_cases(f"{head} {_OPS[op]} ", rhs.text))
            if row.number is not None:
                lines[-1] = numbered(lines[-1], row.number)
        return "\n".join(lines)
    if isinstance(block, Table):
        rows = [[_inline(c) for c in block.header]] + [[_inline(c) for c in r] for r in block.rows]
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
        fmt = lambda r: "    " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
        rule = "    " + "  ".join("-" * w for w in widths)
        return "\n".join([fmt(rows[0]), rule] + [fmt(r) for r in rows[1:]])
    raise TypeError(f"unknown block {block!r}")


def text(d):
    """The derivation as plain text."""
    out = [f"{d.title}\n{'=' * len(d.title)}"]
    for n, section in enumerate(d.sections, start=1):
        heading = f"{n}. {section.title}"
        out.append(f"{heading}\n{'-' * len(heading)}")
        out.extend(_block(b) for b in section.blocks)
    return "\n\n".join(out) + "\n"
