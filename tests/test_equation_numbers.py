"""Equation numbers: the derivation numbers its displayed equations 1, 2, 3, ... in
document order, every format shows them, and `Derivation.equations` names them by
stable keys (the code generator labels its statements "(eq. N)" with them)."""
import re

import pytest

from derive import derive
from derive.document import Equations
from derive.render_mathml import html_sections
from derive.section_update import update_rule

from derivation_specs import SPECS, spec

THREE_LAYERS = spec("three", ["tanh", "relu", "softmax"], [6, 5, 3], {"kind": "cross_entropy"},
                    {"kind": "adam", "weight_decay": 0.01})


def _rows(d):
    return [row for section in d.sections for block in section.blocks
            if isinstance(block, Equations) for row in block.rows]


def test_every_key_of_a_three_layer_spec():
    d = derive(THREE_LAYERS)
    layers = [f"layer{l}.{what}" for l in (1, 2, 3) for what in ("z", "a", "matrix", "derivative", "dW", "db")]
    # Adam with L2 weight decay: g <- g + λθ, m, v, θ (amsgrad's v_max is an identity here);
    # rows 0 and 1 of every rule are clipping's, not shown without it
    update = ["update.2", "update.3", "update.4", "update.6"]
    scalars = ["update.scalar.bias_correction1", "update.scalar.bias_correction2", "update.scalar.step_size"]
    expected = set(layers) | {"layer1.delta", "layer2.delta", "loss.term", "loss.mean", "loss.stable",
                              "loss.lse", "output.delta", "loss.weighted", "loss.weight"} | set(update) | set(scalars)
    assert set(d.equations) == expected


def test_numbers_increase_in_document_order():
    for s in list(SPECS.values()) + [THREE_LAYERS]:
        d = derive(s)
        numbers = [row.number for row in _rows(d)]
        assert numbers == list(range(1, len(numbers) + 1))
        assert set(d.equations.values()) <= set(numbers)
    order = ["layer1.z", "layer1.a", "layer2.z", "layer3.a", "layer1.matrix", "layer3.matrix",
             "loss.term", "loss.mean", "loss.stable", "loss.lse", "layer1.derivative",
             "layer3.derivative", "output.delta", "layer2.delta", "layer1.delta", "layer1.dW",
             "layer1.db", "layer3.db", "update.scalar.bias_correction1", "update.scalar.step_size",
             "update.2", "update.6"]
    numbers = derive(THREE_LAYERS).equations
    assert [numbers[k] for k in order] == sorted(numbers[k] for k in order)


def test_keys_name_the_equations_they_promise():
    d = derive(THREE_LAYERS)
    by_number = {row.number: row for row in _rows(d)}

    def lhs(key):
        return by_number[d.equations[key]].lhs.text
    assert lhs("layer2.z") == "z^(2)[j]" and lhs("layer2.a") == "a^(2)[j]"
    assert lhs("layer2.matrix") == "Z^(2)" and lhs("layer1.delta") == "Δ^(1)"
    assert lhs("layer3.dW") == "dL/dW^(3)" and lhs("layer3.db") == "dL/db^(3)"
    assert lhs("loss.term") == "ℓ(ŷ_j, y_j)" and lhs("loss.mean") == "L" and lhs("loss.lse") == "lse"
    assert lhs("output.delta") == "δ[j]" and lhs("layer3.derivative") == "da_k/dz_j"
    assert lhs("layer1.derivative") == "tanh'(z)" and lhs("update.scalar.step_size") == "η^"
    # the output delta's last form is the simplified one: a_j - y_j
    assert by_number[d.equations["output.delta"]].rhs[-1][1].text == "a[j] - y[j]"
    # update.<i> is the i-th assignment of the optimizer's rule, as the registry lists it
    _, element, _ = update_rule(d.ir)
    for i, target, _ in element:
        assert lhs(f"update.{i}") == by_number[d.equations[f"update.{i}"]].lhs.text
        assert d.ir.optimizer.rule.element[i][0] == target


def test_layers_sharing_an_activation_share_its_derivative():
    d = derive(spec("shared", ["tanh", "relu", "tanh", "identity"], [4, 4, 4, 2], {"kind": "mse"},
                    {"kind": "sgd"}))
    assert d.equations["layer1.derivative"] == d.equations["layer3.derivative"]
    assert d.equations["layer2.derivative"] != d.equations["layer1.derivative"]
    assert "update.5" in d.equations and "update.3" not in d.equations   # plain SGD: θ <- θ - ηg
    assert "loss.stable" not in d.equations and "layer4.delta" not in d.equations


def test_clipping_and_the_schedule_have_their_keys():
    norm = derive(spec("clipped", ["tanh", "softmax"], [4, 3], {"kind": "cross_entropy"},
                       {"kind": "sgd", "clip_grad_norm": 1.0}) | {"schedule": {"kind": "cosine", "T_max": 5}})
    keys = norm.equations
    assert {"update.grad_norm", "update.scalar.clip_coef", "update.1", "schedule.rate"} <= set(keys)
    assert keys["update.grad_norm"] < keys["update.scalar.clip_coef"] < keys["update.1"] < keys["schedule.rate"]
    assert "update.0" not in keys
    value = derive(spec("clamped", ["tanh", "softmax"], [4, 3], {"kind": "cross_entropy"},
                        {"kind": "adam", "clip_grad_value": 0.5}) | {"schedule": {"kind": "plateau"}})
    assert {"update.0", "schedule.reduced"} <= set(value.equations)
    assert not {"update.1", "update.grad_norm", "schedule.rate"} & set(value.equations)
    cycle = derive(spec("cycle", ["tanh", "softmax"], [4, 3], {"kind": "cross_entropy"},
                        {"kind": "adam"}) | {"schedule": {"kind": "one_cycle", "max_lr": 0.1}})
    assert {"schedule.rate", "schedule.momentum"} <= set(cycle.equations)


def test_same_structure_same_keys_and_numbers():
    """Widths, names, dtypes and hyper-parameter values do not move a number."""
    other = spec("elsewhere", ["tanh", "relu", "softmax"], [64, 9, 10], {"kind": "cross_entropy"},
                 {"kind": "adam", "weight_decay": 0.5, "learning_rate": 0.3}, dtype="float64", inputs=7)
    assert derive(other).equations == derive(THREE_LAYERS).equations


@pytest.mark.parametrize("key", sorted(SPECS) + ["three"])
def test_every_format_shows_every_number(key):
    d = derive(THREE_LAYERS if key == "three" else SPECS[key])
    count = len(_rows(d))
    latex, md, jupyter, text = d.latex(), d.markdown(), d._repr_latex_(), d.text()
    html = "".join(body for _, _, body in html_sections(d)[0])
    for n in range(1, count + 1):
        assert latex.count(r"\tag{%d}" % n) == 1, n
        assert md.count(r"\text{(%d)}" % n) == 1 and jupyter.count(r"\text{(%d)}" % n) == 1, n
        assert len(re.findall(r"\s\(%d\)$" % n, text, flags=re.M)) == 1, n
        assert html.count(f"<mtext>({n})</mtext>") == 1, n
    assert latex.count(r"\tag{") == count and text.count(f"({count + 1})") == 0
