"""The property test's structure space: network STRUCTURES (hidden activations, output
activation, loss) drawn from the registries (`derive.activations.ACTIVATIONS`,
`derive.losses.LOSSES`, iterated, so new entries are picked up as they land) and from
a small grammar of formula activations and losses; the runtime cases (widths, batch
size, seed, weight scale) each structure is checked on; and the coverage examples,
which between them use every built-in and every formula template."""
from __future__ import annotations

from hypothesis import strategies as st

from derive.activations import ACTIVATIONS
from derive.losses import LOSSES


ELEMENTWISE = [name for name, act in ACTIVATIONS.items() if not act.vector]
VECTOR = [name for name, act in ACTIVATIONS.items() if act.vector]

# formula activations: templates in {x} (the argument) and {a} (a small constant);
# every one is defined (and, but for measure-zero kinks, smooth) on all of R, and
# grows at most linearly, so five stacked layers stay finite
ACT_TEMPLATES = [
    "{x}*sigmoid({a}*{x})",
    "{x}/({a} + abs({x}))",
    "tanh({a}*{x})*{x}",
    "log(1 + exp({a}*{x}))",
    "sin({a}*{x}) + {x}",
    "cos({a}*{x})*{a} + {x}",
    "2*atan({a}*{x})/pi",
    "asinh({x}) + {a}*{x}",
    "{x}*erf({a}*{x})",
    "0.5*{x}*(1 + erf({x}/sqrt(2)))",
    "max({x}, {a}*{x})",
    "min(max({x}, -{a}), {a}) + {x}/4",
    "sqrt({x}**2 + {a}) - sqrt({a})",
    "{x}*E**(-{a}*{x}**2) + {x}",
    "softplus({x}) - {a}",
    "tan({x}/(1 + abs({x})))",
    "sinh({a}*{x}/(1 + abs({x})))",
    "log(cosh({x}))/{a}",
    "{x}**3/(1 + {x}**2)",                  # its inverse is a cubic (once hung the derivation)
    "{x}**3/(1 + {x}**2 + {a}*abs({x}))",
    "exp(-{x}**2)*{a}",
]
CONSTANTS = [0.25, 0.5, 0.75, 1, 1.5, 2, 3]

LOSS_FORMULAS = [
    "(yhat - y)**2/2",
    "log(cosh(yhat - y))",
    "abs(yhat - y)**3",
    "sqrt(1 + (yhat - y)**2) - 1",
    "softplus(-y*yhat)",
    "0.5*(yhat - y)**2 + abs(yhat - y)",
]


def _render(template, a, inner="x"):
    return template.format(x=f"({inner})" if inner != "x" else "x", a=a)


@st.composite
def formula_activations(draw):
    outer = draw(st.sampled_from(ACT_TEMPLATES))
    a = draw(st.sampled_from(CONSTANTS))
    if draw(st.integers(0, 3)):           # 3 in 4: one template; else a composition
        return _render(outer, a)
    inner = _render(draw(st.sampled_from(ACT_TEMPLATES)), draw(st.sampled_from(CONSTANTS)))
    return _render(outer, a, inner)       # a composition: outer(inner(x))


def hidden_activations():
    return st.one_of(st.sampled_from(ELEMENTWISE), formula_activations())


@st.composite
def structures(draw):
    """(hidden activations, output activation, loss) with loss = ("kind"|"formula", text)."""
    hidden = tuple(draw(st.lists(hidden_activations(), min_size=0, max_size=4)))
    loss = draw(st.one_of(
        st.sampled_from(list(LOSSES)).map(lambda k: ("kind", k)),
        st.sampled_from(LOSS_FORMULAS).map(lambda f: ("formula", f)),
    ))
    required = LOSSES[loss[1]].requires_output if loss[0] == "kind" else None
    if required is not None:
        out = required
    else:
        out = draw(st.one_of(st.sampled_from(ELEMENTWISE + VECTOR), formula_activations()))
    return hidden, out, loss


# one runtime case: widths (inputs, then each layer; the first depth+1 are used),
# batch size, seed for params / data / targets, weight scale
cases = st.lists(
    st.tuples(st.lists(st.integers(1, 16), min_size=6, max_size=6),
              st.integers(1, 12),
              st.integers(0, 2 ** 32 - 1),
              st.sampled_from([0.5, 1.0, 1.5])),
    min_size=2, max_size=3)


def make_spec(structure):
    hidden, out, loss = structure
    layers = [{"units": 4, "activation": act} for act in hidden]
    layers.append({"units": 3, "activation": out})
    return {
        "name": "prop_mlp",
        "inputs": 3,
        "dtype": "float64",
        "layers": layers,
        "loss": {loss[0]: loss[1]},
        "optimizer": {"kind": "sgd", "learning_rate": 0.1},
    }


def _coverage_examples():
    """Structures that together use every built-in activation (hidden and output),
    every built-in loss, every formula template and every formula loss."""
    hidden_pool = list(ELEMENTWISE) + [
        _render(t, CONSTANTS[(i + 1) % len(CONSTANTS)]) for i, t in enumerate(ACT_TEMPLATES)]
    free_losses = [("kind", k) for k, v in LOSSES.items() if v.requires_output is None]
    free_losses += [("formula", f) for f in LOSS_FORMULAS]
    fixed_losses = [("kind", k) for k, v in LOSSES.items() if v.requires_output is not None]
    # outputs: the vector ones, a formula, then elementwise built-ins (those left over
    # are covered as hidden layers here, and as outputs by the random structures)
    outputs = list(VECTOR) + [_render(ACT_TEMPLATES[0], 1.5)] + list(ELEMENTWISE)[::-1]
    pairs = [(loss, outputs[i % len(outputs)]) for i, loss in enumerate(free_losses)]
    pairs += [(loss, LOSSES[loss[1]].requires_output) for loss in fixed_losses]
    sizes = [4, 3, 4, 2, 4, 1]                 # hidden layers per structure: depths 2..5
    out, start = [], 0
    for i, (loss, act) in enumerate(pairs):
        size = sizes[i % len(sizes)]
        hidden = tuple(hidden_pool[start:start + size])    # () once the pool is used: depth 1
        start += size
        case_list = [([3, 5, 7, 2, 4, 6], 1 + (3 * i) % 12, 1000 + i, 1.0),
                     ([1, 16, 1, 9, 16, 1], 12, 2000 + i, 0.5)]
        out.append(((hidden, act, loss), case_list))
    covered = {a for (h, o, _), _ in out for a in (*h, o)}
    assert covered >= set(ACTIVATIONS) | set(hidden_pool), "some activation is in no coverage example"
    assert {l for (_, _, l), _ in out} >= {("kind", k) for k in LOSSES} | {
        ("formula", f) for f in LOSS_FORMULAS}
    return out
