"""Lay a Derivation out as LaTeX: a document body or a whole article, Markdown with
$$ display math, and the aligned block Jupyter shows. The math is the LaTeX that
SymPy's LaTeX printer printed (derive/printing.py); this module only adds structure."""
from .document import Code, Equations, Math, Para, Table

_OPS = {"=": "=", "<-": r"\leftarrow"}

# prose is ASCII; a few characters that may occur in titles and docs, for pdflatex
_UNICODE = {
    "→": r"$\rightarrow$", "←": r"$\leftarrow$", "…": r"\ldots{}", "–": "--", "—": "---",
    "’": "'", "“": "``", "”": "''", "·": r"$\cdot$", "×": r"$\times$", "≤": r"$\le$", "≥": r"$\ge$",
    "α": r"$\alpha$", "β": r"$\beta$", "γ": r"$\gamma$", "δ": r"$\delta$", "ε": r"$\varepsilon$",
    "η": r"$\eta$", "θ": r"$\theta$", "λ": r"$\lambda$", "μ": r"$\mu$", "σ": r"$\sigma$",
    "τ": r"$\tau$", "ℓ": r"$\ell$", "Σ": r"$\Sigma$", "Δ": r"$\Delta$", "⊙": r"$\odot$", "∘": r"$\circ$",
}
_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"$<$", ">": r"$>$", '"': r"\char34{}",
}


def escape(text):
    """Plain text -> LaTeX text mode (pdflatex-safe)."""
    out = []
    for ch in text:
        if ch in _SPECIAL:
            out.append(_SPECIAL[ch])
        elif ord(ch) < 128:
            out.append(ch)
        else:
            out.append(_UNICODE.get(ch, "?"))
    return "".join(out)


def _inline(part):
    if isinstance(part, Math):
        return f"${part.latex}$" if part.latex else ""
    if isinstance(part, Code):
        return r"\texttt{%s}" % escape(part.text)
    return escape(part)


def tag(number):
    """An equation's number in an align* environment (amsmath's \\tag)."""
    return r" \tag{%d}" % number


def column_number(number):
    """An equation's number as a last column, where \\tag is not allowed (inside the
    aligned environment of Markdown's and Jupyter's $$ blocks)."""
    return r" &&\qquad\text{(%d)}" % number


def _rows(eq, numbered=tag):
    """Rows of an aligned environment: lhs &= r1 \\ &= r2 ..., each row's number
    (`numbered`) on its last line."""
    lines = []
    for row in eq.rows:
        rhs = list(row.rhs)
        if not rhs:
            lines.append(f"{row.lhs.latex} &")
        else:
            op, first = rhs[0]
            lines.append(f"{row.lhs.latex} &{_OPS[op]} {first.latex}")
            for op, more in rhs[1:]:
                lines.append(f"&{_OPS[op]} {more.latex}")
        if row.number is not None:
            lines[-1] += numbered(row.number)
    return " \\\\\n".join(lines)


# --------------------------------------------------------------------------- LaTeX

def _latex_block(block):
    if isinstance(block, Para):
        return "".join(_inline(x) for x in block.parts)
    if isinstance(block, Equations):
        return "\\begin{align*}\n" + _rows(block) + "\n\\end{align*}"
    if isinstance(block, Table):
        cols = "l" * len(block.header)
        lines = [r"\begin{center}", r"\begin{tabular}{%s}" % cols, r"\hline",
                 " & ".join(_inline(h) for h in block.header) + r" \\", r"\hline"]
        for row in block.rows:
            lines.append(" & ".join(_inline(c) for c in row) + r" \\")
        lines += [r"\hline", r"\end{tabular}", r"\end{center}"]
        return "\n".join(lines)
    raise TypeError(f"unknown block {block!r}")


def latex_body(d):
    """The derivation as a LaTeX fragment (sections, prose, align* blocks)."""
    out = []
    for n, section in enumerate(d.sections, start=1):
        out.append(r"\section*{%d. %s}" % (n, escape(section.title)))
        out.extend(_latex_block(b) for b in section.blocks)
    return "\n\n".join(out) + "\n"


def latex_document(d):
    """A whole article that compiles with pdflatex (amsmath and amssymb only)."""
    return "\n".join([
        r"\documentclass[10pt]{article}",
        r"\usepackage{amsmath}",
        r"\usepackage{amssymb}",
        r"\allowdisplaybreaks",
        r"\setlength{\parindent}{0pt}",
        r"\sloppy",
        r"\setlength{\parskip}{0.6em}",
        r"\begin{document}",
        r"\begin{center}{\Large %s}\end{center}" % escape(d.title),
        "",
        latex_body(d),
        r"\end{document}",
        "",
    ])


# --------------------------------------------------------------------------- Markdown

def _md_inline(part):
    if isinstance(part, Math):
        return f"${part.latex}$" if part.latex else ""
    if isinstance(part, Code):
        return f"`{part.text}`"
    return part.replace("*", r"\*").replace("_", r"\_")


def _md_block(block):
    if isinstance(block, Para):
        return "".join(_md_inline(x) for x in block.parts)
    if isinstance(block, Equations):
        return "$$\n\\begin{aligned}\n" + _rows(block, column_number) + "\n\\end{aligned}\n$$"
    if isinstance(block, Table):
        cells = lambda row: "| " + " | ".join(_md_inline(c).replace("|", r"\|") for c in row) + " |"
        lines = [cells(block.header), "|" + "---|" * len(block.header)]
        lines += [cells(row) for row in block.rows]
        return "\n".join(lines)
    raise TypeError(f"unknown block {block!r}")


def markdown(d):
    """Headings, prose and $$ display math (the same LaTeX as latex())."""
    out = [f"# {d.title}"]
    for n, section in enumerate(d.sections, start=1):
        out.append(f"## {n}. {section.title}")
        out.extend(_md_block(b) for b in section.blocks)
    return "\n\n".join(out) + "\n"


# --------------------------------------------------------------------------- Jupyter

def jupyter(d):
    """All equations in one $$ aligned block, a \\text heading per section (MathJax)."""
    lines = []
    for n, section in enumerate(d.sections, start=1):
        lines.append(r"&\text{%d. %s}" % (n, section.title.replace("\\", "").replace("$", "")))
        for block in section.blocks:
            if isinstance(block, Equations):
                lines.append(_rows(block, column_number))
    return "$$\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}$$"
