"""The derivation of a spec: a document (derive/document.py) of six sections, every
formula a SymPy object from the IR (derive/model.py) or built with SymPy from it
(sums in index notation, matrix products, derivatives SymPy takes itself), named by
notation (derive/notation.py). The builders are derive/section_*.py; the renderers
(render_latex.py, render_text.py, render_mathml.py) lay the document out.

The document is width-independent: layer widths appear only as numbers in the
limits of sums and the shapes of matrices. Its displayed equations are numbered
1, 2, 3, ... in document order; `equations` maps stable keys (layer2.delta,
loss.mean, update.3, ...) to those numbers, for the code generator's "(eq. N)".
"""
from __future__ import annotations

from .document import number_equations
from .section_backprop import backprop_section
from .section_context import Context
from .section_gradients import activations_section, chain_rule_section
from .section_model import loss_section, model_section
from .section_update import update_section
from .spec import load_spec

# the six sections, in order, each built from the spec's Context
SECTION_BUILDERS = (model_section, loss_section, activations_section, chain_rule_section,
                    backprop_section, update_section)

__all__ = ["Derivation"]


class Derivation:
    """A spec's derivation: `.ir`, `.sections`, `.equations`, and `.latex()`,
    `.markdown()`, `.text()` to print it."""

    def __init__(self, spec):
        self.spec = load_spec(spec)
        self._context = Context(self.spec)
        self.ir = self._context.ir
        self._sections = None
        self._equations = None

    # ---- the document

    def _build(self):
        built = tuple(build(self._context) for build in SECTION_BUILDERS)
        self._sections, self._equations = number_equations(built)

    @property
    def sections(self):
        if self._sections is None:
            self._build()
        return self._sections

    @property
    def equations(self):
        """{key: equation number}: layer{l}.z, .a, .matrix, .derivative, .delta (hidden
        layers), .dW, .db; loss.term, loss.mean, loss.stable, loss.lse (when shown);
        output.delta; update.scalar.<name>; update.<i> (i: the assignment's index in
        the optimizer's Rule.element, for the rows shown)."""
        if self._equations is None:
            self._build()
        return dict(self._equations)

    @property
    def title(self):
        return f"Derivation of {self.spec.name}"

    # ---- the printers

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
