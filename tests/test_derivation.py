"""The printed derivation (derive/derivation.py, render_latex.py, render_text.py).

The expected pieces are mostly the SymPy-LaTeX of the IR's own expressions (so the
test follows the IR), plus a few hard-coded forms (tanh' = 1 - a^2, sigmoid' =
a(1 - a), softmax + cross-entropy delta = a_j - y_j) so that a wrong derivation
fails here too.
"""
import pathlib
import re
import shutil
import subprocess
import time

import pytest
import sympy as sp

from derive import derive
from derive.derivation import Derivation
from derive.symbols import a, y, yhat, z

from derivation_specs import SPECS
from derivation_specs import spec as _spec

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def derivations():
    return {key: derive(spec) for key, spec in SPECS.items()}


def _latex(expr, **names):
    """sp.latex of an IR expression with the per-unit names the derivation uses."""
    return sp.latex(expr, symbol_names={a: names.get("a", "a_{j}"), y: "y_{j}",
                                        yhat: r"\hat{y}_{j}", z: names.get("z", "z_{j}")})


# --------------------------------------------------------------------------- pdflatex

@pytest.mark.parametrize("key", sorted(SPECS))
def test_standalone_latex_compiles(key, derivations, tmp_path):
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (texlive-latex-base); cannot compile the document")
    doc = derivations[key].latex(standalone=True)
    assert doc.startswith(r"\documentclass")
    assert r"\end{document}" in doc
    (tmp_path / "d.tex").write_text(doc, encoding="utf-8")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "d.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    log = (tmp_path / "d.log").read_text(errors="replace") if (tmp_path / "d.log").exists() else ""
    assert run.returncode == 0, run.stdout[-3000:] + log[-2000:]
    assert (tmp_path / "d.pdf").stat().st_size > 1000


def test_fragment_is_the_body(derivations):
    d = derivations["tanh_softmax_ce_momentum"]
    body, doc = d.latex(), d.latex(standalone=True)
    assert r"\documentclass" not in body and r"\begin{document}" not in body
    assert body in doc
    packages = [line for line in doc.splitlines() if line.startswith(r"\usepackage")]
    assert packages == [r"\usepackage{amsmath}", r"\usepackage{amssymb}"]


# --------------------------------------------------------------------------- content

SECTIONS = ["The model", "The loss", "Activation derivatives", "The chain rule at the output layer",
            "Backpropagation through the layers", "The update rule"]


@pytest.mark.parametrize("key", sorted(SPECS))
def test_sections_in_every_format(key, derivations):
    d = derivations[key]
    latex, md, text = d.latex(), d.markdown(), d.text()
    for fmt, out in (("latex", latex), ("markdown", md), ("text", text)):
        positions = [out.find(f"{n}. {title}") for n, title in enumerate(SECTIONS, start=1)]
        assert all(p >= 0 for p in positions), (fmt, positions)
        assert positions == sorted(positions), fmt
    assert md.count("\n## ") == len(SECTIONS)
    assert latex.count(r"\section*{") == len(SECTIONS)


@pytest.mark.parametrize("key", sorted(SPECS))
def test_activation_derivatives_from_the_ir(key, derivations):
    d = derivations[key]
    latex = d.latex()
    for layer in d.ir.layers:
        act = layer.activation
        if act.vector:
            assert sp.latex(act.jacobian) in latex
        else:
            assert sp.latex(act.dz) in latex                  # as sympy.diff found it
            assert sp.latex(act.backward) in latex            # the form the backward pass uses


def test_hand_checked_activation_forms(derivations):
    ce = derivations["tanh_softmax_ce_momentum"]
    assert r"\tanh'(z) &= \frac{d}{d z} \tanh{\left(z \right)}" in ce.latex()
    assert "&= 1 - a^{2}" in ce.latex()                      # tanh' in the output
    assert "1 - a**2" in ce.text()
    assert r"\left(\delta_{j k} - {a}_{j}\right) {a}_{k}" in ce.latex()   # softmax Jacobian
    mse = derivations["sigmoid_identity_mse_f64"]
    assert r"&= - a \left(a - 1\right)" in mse.latex()       # sigmoid' = a (1 - a)
    assert r"\frac{e^{- z}}{\left(1 + e^{- z}\right)^{2}}" in mse.latex()
    bce = derivations["relu_sigmoid_bce_amsgrad"]
    assert r"\theta\left(a, 0\right)" in bce.latex()         # relu' in the output, 0 at 0


@pytest.mark.parametrize("key", sorted(SPECS))
def test_loss_and_delta_from_the_ir(key, derivations):
    d = derivations[key]
    loss, latex = d.ir.loss, d.latex()
    assert _latex(loss.term) in latex
    assert _latex(loss.dloss) in latex
    if d.ir.layers[-1].activation.vector:
        assert sp.latex(loss.delta_indexed) in latex
    else:
        assert _latex(loss.delta) in latex
    if loss.row_sum is not None:
        assert _latex(loss.delta) in latex


def test_softmax_cross_entropy_delta(derivations):
    d = derivations["tanh_softmax_ce_momentum"]
    latex, text = d.latex(), d.text()
    # the sum over k of the chain rule, then SymPy's simplification
    assert r"{\delta}_{j} &= \sum_{k=1}^{K} - \left(\delta_{j k} - {a}_{j}\right) {y}_{k}" in latex
    assert r"&= {a}_{j} - {y}_{j}" in latex
    assert "= a[j] - y[j]" in text
    assert r"\sum_{k=1}^{K} {y}_{k} = 1" in latex
    # the loss evaluated from the logits, with a stable log-sum-exp
    assert r"\operatorname{lse} y_{j} - y_{j} z_{j}" in latex
    assert r"z_{\max} + \log{\left(\sum_{m=1}^{K} e^{- z_{\max} + {z}_{m}} \right)}" in latex


def test_sigmoid_bce_delta_and_logit_form(derivations):
    d = derivations["relu_sigmoid_bce_amsgrad"]
    latex, text = d.latex(), d.text()
    assert r"{\delta}_{j} &= - a_{j} \left(a_{j} - 1\right)" in latex   # the product, unsimplified
    assert r"&= a_{j} - y_{j}" in latex
    assert "= a_j - y_j" in text
    assert _latex(d.ir.loss.value) in latex                 # -y z + log(1 + e^z)
    assert r"- y_{j} z_{j} + \log{\left(e^{z_{j}} + 1 \right)}" in latex


def test_softmax_mse_row_sum(derivations):
    d = derivations["softmax_mse"]
    latex, text = d.latex(), d.text()
    assert r"2 a_{j} \left(a_{j} + s - y_{j}\right)" in latex
    assert r"s &= \sum_{k=1}^{K} \left(- {a}_{k} + {y}_{k}\right) {a}_{k}" in latex
    assert "s = Σ[k=1..K]" in text


def test_chain_rule_factors_are_derived(derivations):
    d = derivations["tanh_softmax_ce_momentum"]
    latex = d.latex()
    # dz_j/dw_ij: the derivative of the sum, then the sifted result
    assert (r"\frac{\partial z_{j}}{\partial w_{ij}} &= \sum_{m=1}^{8} \delta_{i m} {a^{(1)}}_{m} \\"
            "\n" r"&= {a^{(1)}}_{i}") in latex
    assert r"\frac{\partial z_{j}}{\partial b_{j}} &= 1" in latex
    # the hidden layer's error, and its matrix form
    assert r"{\delta^{(1)}}_{i} &= \left(1 - {a^{(1)}}_{i}^{2}\right) \sum_{j=1}^{3} {\delta^{(2)}}_{j} " \
           r"{w^{(2)}}_{i,j}" in latex
    assert r"\Delta^{(1)} &= \left(\Delta^{(2)} \left(W^{(2)}\right)^{T}\right) \circ \tanh'\left(Z^{(1)}\right)" \
        in latex
    # gradients with the mean's factor: 1/N (rows) or 1/(N K) (elements)
    assert r"\frac{\partial \mathcal{L}}{\partial W^{(1)}} &= \frac{1}{N} X^{T} \Delta^{(1)}" in latex
    assert r"\frac{\partial \mathcal{L}}{\partial b^{(2)}} &= \frac{1}{N} \mathbf{1}_{N}^{T} \Delta^{(2)}" in latex
    mse = derivations["sigmoid_identity_mse_f64"].latex()
    assert r"&= \frac{1}{2 N} \left(A^{(1)}\right)^{T} \Delta^{(2)}" in mse


def test_forward_pass(derivations):
    d = derivations["tanh_softmax_ce_momentum"]
    latex = d.latex()
    assert r"{z^{(1)}}_{j} &= {b^{(1)}}_{j} + \sum_{i=1}^{4} {w^{(1)}}_{i,j} {x}_{i}" in latex
    assert r"\frac{e^{{z^{(2)}}_{j}}}{\sum_{m=1}^{K} e^{{z^{(2)}}_{m}}}" in latex
    assert r"Z^{(2)} &= A^{(1)} W^{(2)} + \mathbf{1}_{N} \left(b^{(2)}\right)^{T}" in latex
    mse = derivations["sigmoid_identity_mse_f64"].latex()
    assert r"\frac{1}{1 + e^{- {z^{(1)}}_{j}}}" in mse


# --------------------------------------------------------------------------- optimizer

def _update_block(latex):
    section = latex[latex.index("6. The update rule"):]
    return section[:section.index(r"\begin{tabular}")]


def test_momentum_shown_only_when_nonzero(derivations):
    with_momentum = _update_block(derivations["tanh_softmax_ce_momentum"].latex())
    assert r"\mathbf{b} &\leftarrow \begin{cases} g & \text{for}\: t = 1" in with_momentum
    assert r"g \left(1 - \tau\right) + \mu \mathbf{b}" in with_momentum
    assert r"g &\leftarrow \mathbf{b}" in with_momentum
    without = _update_block(derivations["sigmoid_identity_mse_f64"].latex())
    assert r"\mathbf{b}" not in without and r"\mu" not in without
    assert r"\theta &\leftarrow - g \eta + \theta" in without
    assert without.count(r"\leftarrow") == 2           # the prose's arrow and the one update
    nesterov = _update_block(derive(_spec(
        "n", ["tanh", "identity"], [4, 1], {"kind": "mse"},
        {"kind": "sgd", "momentum": 0.5, "nesterov": True, "weight_decay": 0.1})).latex())
    assert r"g &\leftarrow g + \mu \mathbf{b}" in nesterov
    assert r"g &\leftarrow g + \theta \lambda" in nesterov


def test_adam_specialised(derivations):
    ams = _update_block(derivations["relu_sigmoid_bce_amsgrad"].latex())
    assert r"c_{1} &= 1 - \beta_{1}^{t}" in ams
    assert r"\hat{v}_{\max} &\leftarrow \max\left(" in ams
    assert r"\sqrt{\hat{v}_{\max}}" in ams
    assert r"g &\leftarrow g + \theta \lambda" in ams          # weight_decay = 0.01 (L2)
    plain = _update_block(derivations["softmax_mse"].latex())
    assert r"\hat{v}_{\max}" not in plain and r"\lambda" not in plain
    assert r"\sqrt{v}" in plain


def test_hyperparameters_and_learning_rates(derivations):
    d = derivations["tanh_softmax_ce_momentum"]
    latex, text = d.latex(), d.text()
    assert r"\texttt{momentum} & $\mu$ & $0.9$ \\" in latex
    assert r"1 & $W^{(1)}, b^{(1)}$ & $0.05$ & layer \\" in latex
    assert r"2 & $W^{(2)}, b^{(2)}$ & $0.1$ & optimizer \\" in latex
    assert "`momentum`" in text and "0.05" in text
    adam = derivations["relu_sigmoid_bce_amsgrad"].latex()
    assert r"\texttt{eps} & $\varepsilon$ & $1.0 \cdot 10^{-8}$ \\" in adam
    assert r"\texttt{betas} & $\beta_{1}, \beta_{2}$ & $\left(0.9, 0.999\right)$ \\" in adam


# --------------------------------------------------------------------------- formats

@pytest.mark.parametrize("key", sorted(SPECS))
def test_markdown_has_the_same_math(key, derivations):
    d = derivations[key]
    latex, md = d.latex(), d.markdown()
    assert d._repr_markdown_() == md
    blocks = latex.split(r"\begin{align*}")[1:]
    assert blocks and md.count("$$\n\\begin{aligned}") == len(blocks)
    for block in blocks:
        # the same rows; the numbers as a last column (aligned takes no \tag)
        body = re.sub(r" \\tag\{(\d+)\}", r" &&\\qquad\\text{(\1)}", block.split(r"\end{align*}")[0])
        assert body in md


@pytest.mark.parametrize("key", sorted(SPECS))
def test_text_is_plain(key, derivations):
    text = derivations[key].text()
    assert "\\" not in text and "$" not in text
    assert "←" in text and "Σ[" in text
    assert max(len(line) for line in text.splitlines()) < 200


def test_repr_latex_for_jupyter(derivations):
    d = derivations["tanh_softmax_ce_momentum"]
    r = d._repr_latex_()
    assert isinstance(r, str) and r.startswith("$") and r.endswith("$")
    assert r"\begin{aligned}" in r and r"\text{4. The chain rule at the output layer}" in r
    assert r"&= {a}_{j} - {y}_{j}" in r


def test_spec_forms_accepted():
    spec = SPECS["sigmoid_identity_mse_f64"]
    assert Derivation(spec).latex() == derive(spec).latex()
    assert "regress" in repr(derive(spec))


def test_formula_activation_and_loss(tmp_path):
    d = derive(_spec("f", ["x**3", "sigmoid"], [4, 2], {"formula": "(yhat - y)**4"}, {"kind": "sgd"}))
    latex, text = d.latex(), d.text()
    assert r"\texttt{x**3}" in latex and "f1'(z) = d/dz (z**3)" in text
    assert "3 z^{2}" in latex
    assert _latex(d.ir.loss.term) in latex
    assert r"3 {z^{(1)}}_{i}^{2}" in latex            # the hidden error uses f'(z) (no output form)
    if shutil.which("pdflatex") is not None:
        (tmp_path / "f.tex").write_text(d.latex(standalone=True))
        run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "f.tex"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stdout[-3000:]


# --------------------------------------------------------------------------- size

def _deep(width):
    layers = [{"units": width, "activation": "tanh"} for _ in range(9)]
    layers.append({"units": 10, "activation": "softmax"})
    return {"name": "deep", "inputs": width, "layers": layers,
            "loss": {"kind": "cross_entropy"}, "optimizer": {"kind": "adam"}}


def test_width_independent_and_fast():
    derive(_deep(8)).latex()                  # warm SymPy's caches and the imports
    start = time.perf_counter()
    d = derive(_deep(4096))
    wide = d.latex(standalone=True)
    d.markdown(), d.text(), d._repr_latex_()
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, f"deriving a 10-layer 4096-wide spec took {elapsed:.2f} s"
    narrow = derive(_deep(8)).latex(standalone=True)
    # only the widths in sum limits differ: no per-weight symbols anywhere
    assert abs(len(wide) - len(narrow)) < 200
    assert "4096" in wide and "{w^{(2)}}_{1,1}" not in wide and "4095" not in wide
