"""The derivation in MathML (derive/render_mathml.py, derive/printing.py): every formula
of every registry entry prints in MathML Core, from the same SymPy object as its
LaTeX and text, and one that cannot shows its text instead (counted as a fallback)."""
import re
import xml.etree.ElementTree as ET

import pytest
import sympy as sp

from derive import derive, printing
from derive.document import Math
from derive.names import layer_sup
from derive.notation import (Accent, Call, Notation, Partial, Prime, Scripts, bold, calligraphic,
                             greek, letter, listing)
from derive.render_mathml import _Renderer, html_sections

MATHML_CORE = {"math", "mrow", "mi", "mn", "mo", "mtext", "mspace", "msub", "msup", "msubsup",
               "munder", "mover", "munderover", "mfrac", "msqrt", "mtable", "mtr", "mtd"}


def _registry_specs():
    """Specs that between them use every activation, loss and optimizer, formulas too."""
    from derive.activations import ACTIVATIONS
    from derive.losses import LOSSES
    from derive.optimizers import OPTIMIZERS
    hidden = [name for name in ACTIVATIONS if name != "softmax"]
    base = {"name": "m", "inputs": 3}
    yield dict(base, layers=[{"units": 4, "activation": a} for a in hidden]
               + [{"units": 3, "activation": "softmax"}],
               loss={"kind": "cross_entropy"}, optimizer={"kind": "sgd", "momentum": 0.9, "nesterov": True})
    outputs = {"binary_cross_entropy": "sigmoid", "cross_entropy": "softmax"}
    for loss in LOSSES:
        yield dict(base, layers=[{"units": 4, "activation": "x/(1+abs(x))", "learning_rate": 0.1},
                                 {"units": 2, "activation": outputs.get(loss, "identity")}],
                   loss={"kind": loss}, optimizer={"kind": "sgd"})
    # every schedule, clipping, penalties, class weights and dropout (tests/derivation_specs.py)
    from derivation_specs import SPECS
    for key, spec in SPECS.items():
        if key.startswith(("schedule_", "class_weight_")) or key in ("penalties", "dropout", "every_feature"):
            yield spec
    for kind in OPTIMIZERS:
        yield dict(base, layers=[{"units": 2, "activation": "max(x, 0) + min(x, 2)/4"}],
                   loss={"formula": "log(cosh(yhat - y))"},
                   optimizer={"kind": kind, "weight_decay": 0.01,
                              **({"amsgrad": True} if kind.startswith("adam") else {}),
                              **({"centered": True, "momentum": 0.5} if kind == "rmsprop" else {})})


def test_every_formula_of_every_registry_entry_prints_as_mathml():
    """No formula falls back to text; each <math> is well-formed and uses MathML Core
    elements only."""
    count = 0
    for spec in _registry_specs():
        sections, fallbacks = html_sections(derive(spec))
        assert fallbacks == [], (spec, fallbacks)
        for _, _, body in sections:
            for fragment in re.findall(r"<math\b.*?</math>", body, flags=re.S):
                tags = {e.tag for e in ET.fromstring(fragment).iter()}
                assert tags <= MATHML_CORE, tags - MATHML_CORE
                count += 1
    assert count > 500


def test_mathml_of_sympy_constructs():
    n, j, N, K = sp.symbols("n j N K", integer=True)
    ell = sp.IndexedBase("ell")
    double = printing.mathml(sp.Sum(ell[n, j], (j, 1, K), (n, 1, N)), ((ell.label, greek("ell")),))
    assert double.count("<munderover>") == 2 and "<mi>ℓ</mi>" in double
    w = sp.IndexedBase("w2")
    indexed = printing.mathml(w[n, j], ((w.label, Scripts(letter("w"), sup=sp.Integer(2))),))
    assert indexed.startswith("<msubsup><mi>w</mi><mrow><mi>n</mi><mo>,</mo><mi>j</mi></mrow>")
    x = sp.Symbol("x")
    cases = printing.mathml(sp.Piecewise((x, x > 0), (x / 100, True)))
    assert "<mtable" in cases and "otherwise" in cases and "&gt;" in cases
    assert "<" not in re.sub(r"<[^>]+>", "", printing.mathml(x < 1))     # SymPy's raw "<" escaped
    assert printing.mathml(sp.exp(x)) == "<msup><mi>e</mi><mi>x</mi></msup>"
    assert "δ" in printing.mathml(sp.KroneckerDelta(n, j))
    assert printing.mathml(sp.Float("1e-8")) == ("<mrow><mn>1.0</mn><mo>⋅</mo><msup><mn>10</mn>"
                                                 "<mrow><mo>−</mo><mn>8</mn></mrow></msup></mrow>")


def _all_three(notation):
    return printing.latex(notation), printing.text(notation), printing.mathml(notation)


def test_notation_prints_in_all_three_printers():
    """One notation object, three SymPy printers: the names the derivation uses."""
    W1 = Scripts(letter("W"), sup=sp.Integer(1))
    dL_dW = Partial(calligraphic("L"), Scripts(letter("W"), sup=layer_sup(1)))
    latex, text, mathml = _all_three(dL_dW)
    assert latex == r"\frac{\partial \mathcal{L}}{\partial W^{(1)}}" and text == "dL/dW^(1)"
    assert mathml.startswith("<mfrac>") and "ℒ" in mathml and "<msup><mi>W</mi>" in mathml
    assert _all_three(Scripts(Accent(letter("y"), "hat"), letter("j"))) == (
        r"\hat{y}_{j}", "ŷ_j",
        '<msub><mover accent="true"><mi>y</mi><mo>^</mo></mover><mi>j</mi></msub>')
    assert _all_three(Scripts(greek("beta"), 1))[:2] == (r"\beta_{1}", "β1")
    assert _all_three(bold("1"))[2] == "<mi>𝟏</mi>"
    assert _all_three(greek("Delta"))[2] == '<mi mathvariant="normal">Δ</mi>'
    tanh_prime = Call(Prime(letter("f")), W1)
    assert _all_three(tanh_prime)[:2] == (r"f'\left(W^{1}\right)", "f'(W^1)")
    assert _all_three(listing(letter("a"), letter("b")))[:2] == ("a, b", "a, b")
    assert sp.latex(dL_dW) == printing.latex(dL_dW) and sp.sstr(dL_dW) == text   # SymPy's own printers


def test_named_symbols_print_as_their_notation_everywhere():
    """A symbol with a display name prints as it in LaTeX, text and MathML alike, and the
    expression keeps SymPy's order of terms."""
    lr, g, p = sp.symbols("lr g p")
    names = ((lr, greek("eta")), (p, greek("theta")))
    expr = p - lr * g
    assert printing.latex(expr, names) == r"- g \eta + \theta"
    assert printing.text(expr, names) == "-g*η + θ"
    assert "<mi>η</mi>" in printing.mathml(expr, names) and "<mi>θ</mi>" in printing.mathml(expr, names)


class _Outside(Notation):
    """Notation whose MathML needs an element outside Core."""

    def text(self, printer):
        return "∮ x"

    def _latex(self, printer):
        return r"\oint x"

    def _mathml_presentation(self, printer):
        return printer.dom.createElement("mfenced")


def test_formula_outside_mathml_core_falls_back_to_text():
    with pytest.raises(printing.UnsupportedMathML):
        printing.mathml(_Outside())
    renderer = _Renderer()
    assert renderer.math(Math(_Outside())) == '<math alttext="∮ x"><mtext>∮ x</mtext></math>'
    assert len(renderer.fallbacks) == 1


def test_no_tex_parser_left():
    """The MathML comes from SymPy objects: nothing in derive/ parses LaTeX."""
    import derive.render_mathml as render
    for name in ("tex_mathml", "UnsupportedTeX", "_TeX"):
        assert not hasattr(render, name) and not hasattr(printing, name)
