"""The derivative registry: what the IR uses in the backward pass equals sympy.diff
of the registry's definition, and PyTorch's autograd, including at kinks."""
import math

import numpy as np
import pytest
import sympy as sp

from derive.activations import ACTIVATIONS
from derive.losses import LOSSES
from derive.model import activation_ir, loss_ir
from derive.symbols import a, x, y, yhat, z

ELEMENTWISE = [n for n, act in ACTIVATIONS.items() if not act.vector]
POINTS = [-25.0, -3.1, -1.2, -0.4, 0.0, 0.3, 0.9, 2.5, 20.0, 21.5]  # 20: softplus threshold

import torch  # noqa: E402  (the test extra pins it)

from helpers import TORCH_ACTIVATION_FN as TORCH_FN, _ELEMENT_LOSSES  # noqa: E402  (the shared oracle tables)

# the loss of one element l(yhat, y), in torch, as a function of one-element tensors
# (yhat, y): torch's reduction="mean" over one element is the element's term. The
# elementwise losses are tests/helpers.py's table; the two classification terms are
# torch's binary_cross_entropy on probabilities, and -y log(yhat) written out
TORCH_LOSS_FN = {
    **_ELEMENT_LOSSES,
    "cross_entropy": lambda p, t: -(t * torch.log(p)).mean(),
    "binary_cross_entropy": lambda p, t: torch.nn.functional.binary_cross_entropy(p, t, reduction="mean"),
}
# differences yhat - y: both sides of 0 (mae's kink) and of +-1 (huber's branch points)
DIFFS = [-2.5, -1.0, -0.7, 0.0, 0.4, 1.0, 1.6]
# (yhat, y) for the terms in probabilities: yhat in (0, 1), y a label or a probability
PROBABILITY_POINTS = [(p, t) for p in (0.03, 0.3, 0.5, 0.81, 0.995) for t in (0.0, 0.25, 1.0)]


def test_every_activation_has_a_torch_counterpart():
    """A new registry entry cannot slip through untested: it needs a torch function here."""
    missing = [n for n in ELEMENTWISE if n not in TORCH_FN]
    assert not missing, f"add the torch counterpart of {missing} to tests/helpers.py"


def test_every_loss_has_a_torch_counterpart():
    missing = [n for n in LOSSES if n not in TORCH_LOSS_FN]
    assert not missing, f"add the torch counterpart of {missing} to TORCH_LOSS_FN"


def _backward_at(ir, zv):
    """The kernel's derivative at z, with a = f(z) substituted when it is in a."""
    fz = float(ir.definition.subs(z, zv))
    return float(ir.backward.subs({z: zv, a: fz}))


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_backward_equals_sympy_diff(name):
    ir = activation_ir(name)
    reference = sp.diff(ACTIVATIONS[name].expr, x)
    for zv in POINTS:
        if zv == 0 and reference.has(sp.Heaviside, sp.Max, sp.Abs, sp.Piecewise):
            continue  # kinks: PyTorch's convention, checked below
        want = float(reference.subs(x, zv).evalf())
        assert math.isclose(_backward_at(ir, zv), want, rel_tol=1e-12, abs_tol=1e-14), (name, zv)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_backward_equals_torch_autograd_including_zero(name):
    ir = activation_ir(name)
    for zv in POINTS:
        t = torch.tensor(zv, dtype=torch.float64, requires_grad=True)
        TORCH_FN[name](t).backward()
        assert math.isclose(_backward_at(ir, zv), t.grad.item(), rel_tol=1e-12, abs_tol=1e-14), (name, zv)


def test_output_forms_are_used_where_exact():
    # the backward pass reuses stored activations for these (no z needed)
    assert sp.simplify(activation_ir("sigmoid").backward - a * (1 - a)) == 0
    assert sp.simplify(activation_ir("tanh").backward - (1 - a ** 2)) == 0
    assert not activation_ir("relu").needs_z


@pytest.mark.parametrize("out,loss", [("softmax", "cross_entropy"), ("sigmoid", "binary_cross_entropy")])
def test_combined_delta_is_a_minus_y(out, loss):
    ir = loss_ir(loss, activation_ir(out))
    assert sp.simplify(ir.delta - (a - y)) == 0 and ir.row_sum is None and ir.combined


def _loss_points(name):
    if LOSSES[name].requires_output is not None:      # a term in probabilities
        return PROBABILITY_POINTS
    return [(yv + d, yv) for yv in (-1.3, 0.3, 2.0) for d in DIFFS]


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_gradient_equals_torch_autograd(name):
    """dl/dyhat of the IR (the chain rule's first factor), and the term itself, at
    points, against torch autograd of the same element loss written in torch."""
    out = LOSSES[name].requires_output or "identity"
    ir = loss_ir(name, activation_ir(out))
    for pv, tv in _loss_points(name):
        p = torch.tensor([pv], dtype=torch.float64, requires_grad=True)
        value = TORCH_LOSS_FN[name](p, torch.tensor([tv], dtype=torch.float64))
        value.backward()
        point = {yhat: pv, y: tv}
        assert math.isclose(float(ir.term.subs(point)), value.item(), rel_tol=1e-12, abs_tol=1e-15), \
            (name, pv, tv)
        assert math.isclose(float(ir.dloss.subs(point)), p.grad.item(), rel_tol=1e-12, abs_tol=1e-15), \
            (name, pv, tv, ir.dloss)


def test_softmax_mse_delta_matches_jacobian_product():
    ir = loss_ir("mse", activation_ir("softmax"))
    rng = np.random.default_rng(0)
    zs, ys = rng.normal(size=4), rng.normal(size=4)
    av = np.exp(zs) / np.exp(zs).sum()
    g = 2 * (av - ys)
    jac = np.diag(av) - np.outer(av, av)
    want = jac.T @ g
    s = sum(float(ir.row_sum.subs({a: av[k], y: ys[k]})) for k in range(4))
    got = [float(ir.delta.subs({a: av[j], y: ys[j], sp.Symbol("s", real=True): s})) for j in range(4)]
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("name", [n for n, loss in LOSSES.items() if loss.requires_output is None])
def test_loss_value_and_gradient_equal_torch_including_kinks(name):
    ir = loss_ir(name, activation_ir("identity"))
    yv = 0.3
    for d in DIFFS:
        t = torch.tensor([yv + d], dtype=torch.float64, requires_grad=True)
        value = TORCH_LOSS_FN[name](t, torch.tensor([yv], dtype=torch.float64))
        value.backward()
        point = {yhat: yv + d, y: yv}
        assert math.isclose(float(ir.term.subs(point)), value.item(), rel_tol=1e-12, abs_tol=1e-15), (name, d)
        assert math.isclose(float(ir.dloss.subs(point)), t.grad.item(), rel_tol=1e-12, abs_tol=1e-15), (name, d)


def test_derivative_is_simplified_where_simpler_and_raw_diff_kept():
    ir = activation_ir("softsign")
    assert ir.dz == sp.diff(ACTIVATIONS["softsign"].expr, x).subs(x, z)      # as diff found it
    assert sp.simplify(ir.backward - 1 / (1 + sp.Abs(z)) ** 2) == 0
    assert sp.count_ops(ir.backward) < sp.count_ops(ir.dz)
    # exponentials are left as diff found them (a rearranged silu' overflows: inf*0)
    assert activation_ir("silu").backward == activation_ir("silu").dz


def test_a_piecewise_derivative_comes_in_the_output_piece_by_piece():
    """elu' and selu' need no exp on the backward pass: for z <= 0, a + 1 = exp(z)
    (elu) and a + scale * alpha = scale * alpha * exp(z) (selu), so the epoch keeps
    A and not Z; the condition z > 0 reads a > 0, which answers alike."""
    from derive.activations import SELU_ALPHA, SELU_SCALE
    elu, selu = activation_ir("elu"), activation_ir("selu")
    assert elu.backward == sp.Piecewise((1, a > 0), (a + 1, True))
    assert selu.backward.args[1].expr == a + SELU_SCALE * SELU_ALPHA
    assert z not in elu.backward.free_symbols | selu.backward.free_symbols
    # softplus tests z > 20, which a = softplus(z) does not answer alike: it stays in z
    assert z in activation_ir("softplus").backward.free_symbols


def test_kinks_follow_torch():
    """The branch that holds at 0 is torch's: leaky_relu'(0) = 0.01, elu'(0) = 1,
    selu'(0) = scale * alpha; softplus is torch's with threshold 20."""
    def at(name, zv):
        return _backward_at(activation_ir(name), zv)
    assert at("leaky_relu", 0.0) == 0.01
    assert at("elu", 0.0) == 1.0
    assert math.isclose(at("selu", 0.0), 1.0507009873554805 * 1.6732632423543772, rel_tol=1e-15)
    assert at("softplus", 20.5) == 1.0 and at("softplus", 20.0) < 1.0


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_every_entry_derives_and_its_latex_compiles(loss, tmp_path):
    """Every activation (all hidden) and each loss go through the printed derivation,
    and the standalone LaTeX compiles."""
    import shutil
    import subprocess
    from derive import derive
    out = LOSSES[loss].requires_output or "softmax"
    spec = {"name": "every_entry", "inputs": 3,
            "layers": [{"units": 4, "activation": n} for n in ELEMENTWISE] + [{"units": 3, "activation": out}],
            "loss": {"kind": loss}, "optimizer": {"kind": "sgd"}}
    d = derive(spec)
    text = d.text()
    for name in ELEMENTWISE:
        assert f"{name}'(z)" in text, name
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (texlive-latex-base); cannot compile the document")
    (tmp_path / "d.tex").write_text(d.latex(standalone=True), encoding="utf-8")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "d.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-3000:]


@pytest.mark.parametrize("text", ["x**3/(1+x**2)", "x**5/(1+x**4) + x", "x + sin(x)"])
def test_hard_formula_derives_in_bounded_time(text):
    """The output-form search is optional and bounded by the formula's shape, not a
    clock: solve is asked only for inverses a fixed rule set knows to exist (not the
    cubic's radicals), so these finish fast and the exact derivative is used."""
    import time

    from derive.formula import parse_formula
    start = time.perf_counter()
    ir = activation_ir("formula", parse_formula(text, ("x",)), "f")
    elapsed = time.perf_counter() - start
    assert elapsed < 15, f"{text}: {elapsed:.1f} s"
    want = sp.diff(parse_formula(text, ("x",)), x).subs(x, z)
    for zv in POINTS:
        assert math.isclose(_backward_at(ir, zv), float(want.subs(z, zv)), rel_tol=1e-12, abs_tol=1e-14)
