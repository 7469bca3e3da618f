"""Spec -> generated module: the IR's SymPy expressions printed into Jinja2 templates.

The context holds printed code and the formula each kernel computes (for its
docstring); the templates only arrange loops and calls. Output is
deterministic: the same spec gives a byte-identical file.
"""
import functools
import hashlib
import os
import pprint
import re
from pathlib import Path

import jinja2
import sympy as sp

from derive import calculus, optimizers, symbols
from derive.initializers import INITIALIZERS
from derive.model import build_ir
from derive.optimizers import OPTIMIZERS
from derive.spec import load_spec

from gradgen.runtime.files import write_atomic
from gradgen.runtime import VERSION as RUNTIME_VERSION

from .printer import helper_sources, kernel_code

VERSION = "0.1.0"
# A BLAS call costs about as much as a few hundred multiply-adds in a plain loop: a
# layer whose products at the spec's batch size have at most this many multiply-adds
# gets loops as well, used whenever a product is that small at run time.
SMALL_GEMM = 4096
TEMPLATES = Path(__file__).parent / "templates"


def _signature(defaults, indent=17, width=100):
    """Keyword parameters with their defaults, wrapped to width after `def __init__(self, *, `."""
    lines, line = [], ""
    for key, value in defaults.items():
        item = f"{key}={value!r}"
        if line and indent + len(line) + len(item) + 2 > width:
            lines.append(line + ",")
            line = ""
        line = f"{line}, {item}" if line else item
    return ("\n" + " " * indent).join(lines + [line])


def _spec_literal(value, indent=7, width=100):
    """A dict or list literal wrapped to width: items side by side while they fit, a
    nested dict or list that does not fit laid out the same way, one level in."""
    text = repr(value)
    if indent + len(text) <= width or not isinstance(value, (dict, list)) or not value:
        return text
    opening, closing = "{}" if isinstance(value, dict) else "[]"
    items = []
    for key, item in (value.items() if isinstance(value, dict) else enumerate(value)):
        head = f"{key!r}: " if isinstance(value, dict) else ""
        items.append(head + _spec_literal(item, indent + 1 + len(head), width))
    lines, line = [], ""
    for item in items:
        if line and ("\n" in item or "\n" in line or indent + 1 + len(line) + len(item) + 2 > width):
            lines.append(line + ",")
            line = ""
        line = f"{line}, {item}" if line else item
    pad = "\n" + " " * (indent + 1)
    return opening + pad.join(lines + [line]) + closing


def _formula(expr):
    """A one-line plain-text formula for a docstring or comment."""
    return sp.sstr(expr).replace("Heaviside(", "H(")


@functools.lru_cache(maxsize=None)       # templates compile once per process, not per render
def _env():
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["pyrepr"] = repr
    return env


def _equation_labels(spec):
    """key -> " (eq. N)": the derivation's number of each equation a kernel statement
    computes (derive's Derivation.equations), as the templates print it."""
    from derive import derive
    numbers = getattr(derive(spec), "equations", {})

    def eq(key, prefix=" "):
        return f"{prefix}(eq. {numbers[key]})" if key in numbers else ""
    return eq


def _activation_context(key, act, dtype):
    code = functools.partial(kernel_code, dtype=dtype)
    if act.vector:
        e_j, a_j, _ = calculus.stable_softmax(act.definition)
        return dict(key=key, vector=True, formula=_formula(act.definition),
                    shifted_formula=_formula(e_j), out_formula=_formula(a_j),
                    shifted_code=code(e_j), out_code=code(a_j))
    syms = act.backward.free_symbols
    return dict(key=key, vector=False, formula=_formula(act.definition),
                forward_code=code(act.definition),
                dz_formula=_formula(act.dz), backward_formula=_formula(act.backward),
                backward_code=code(act.backward),
                uses_a=calculus.a in syms, uses_z=calculus.z in syms)


def _loss_context(ir, dtype):
    loss, out = ir.loss, ir.layers[-1].activation
    code = functools.partial(kernel_code, dtype=dtype)
    ctx = dict(name=loss.name, term_formula=_formula(loss.term), mean_over=loss.mean_over,
               value_formula=_formula(loss.value), delta_formula=_formula(loss.delta),
               value_code=code(loss.value), delta_code=code(loss.delta),
               row_sum_formula=_formula(loss.row_sum) if loss.row_sum is not None else "",
               row_sum_code=code(loss.row_sum) if loss.row_sum is not None else "",
               needs_lse="lse" in loss.value_uses, lse_code="",
               # the kernel evaluates the term in another form than the spec's (from the logits)
               stable=loss.value != loss.term.subs(symbols.yhat, calculus.a))
    if ctx["needs_lse"]:
        # only a softmax output's loss reads lse (derive.model.loss_ir), from the zmax and
        # total its own row kernel (_act_<key>_row) returns
        assert out.vector, loss.name
        ctx.update(lse_code=code(calculus.stable_softmax(out.definition)[2]))
    return ctx


def _hoist_reciprocals(assignments, invariant):
    """Per element, x / c with c loop-invariant (made of hyper-parameters, per-step
    scalars and t) -> x * r, where r = 1/c becomes a per-step scalar (computed in
    double precision, as the other scalars): a multiply per element instead of a
    divide, the slowest vector instruction (Adam's sqrt(v)/sqrt(bias_correction2)).
    Returns the rewritten assignments and [(r, 1/c)] in order."""
    hoisted = {}

    def is_reciprocal(e):
        return (isinstance(e, sp.Pow) and e.exp.is_negative and bool(e.free_symbols)
                and e.free_symbols <= invariant)

    def name(e):
        if e not in hoisted:
            hoisted[e] = sp.Symbol(f"reciprocal{len(hoisted) + 1}", positive=True)
        return hoisted[e]
    out = [(target, expr.replace(is_reciprocal, name)) for target, expr in assignments]
    return out, [(r, e) for e, r in hoisted.items()]


def _element_loop(assignments, rule, hypers, doubles):
    """Printed code of one element loop and what it needs: identity assignments
    dropped; a state loaded only where an expression reads it and stored only where
    it is assigned; divisions by loop invariants hoisted (_hoist_reciprocals); the
    per-step scalars, and the hyper-parameters (double precision for the scalars, the
    module's dtype in the loop), only where something reads them."""
    invariant = {h["symbol"] for h in hypers} | {s for s, _ in rule.scalars} | {optimizers.lr, symbols.t}
    kept = [(i, target, expr) for i, (target, expr) in enumerate(assignments) if expr != target]
    rewritten, hoisted = _hoist_reciprocals([(target, expr) for _, target, expr in kept], invariant)
    code, reads, writes = [], set(), set()
    for (i, _, shown), (target, expr) in zip(kept, rewritten):
        # the derivation numbers the rule's rows (update.<i>) as the registry lists them
        code.append((target.name, kernel_code(expr), _formula(shown), f"update.{i}"))
        reads |= expr.free_symbols
        writes.add(target)
    scalars, double_reads = [], set()
    for sym, expr in reversed(list(rule.scalars) + hoisted):     # a scalar may use an earlier one
        if sym in reads or sym in double_reads:
            scalars.append(sym)
            double_reads |= expr.free_symbols
    scalars = scalars[::-1]
    names = {**doubles, **{s: f"{s.name}_" for s in scalars}}
    every = dict(list(rule.scalars) + hoisted)
    own = {s for s, _ in rule.scalars}
    return dict(code=code, loads=[s.name for s in rule.states if s in reads],
                stores=[s.name for s in rule.states if s in writes],
                scalar_code=[(s.name, kernel_code(every[s], const="{}", names=names),
                              _formula(every[s]), f"update.scalar.{s.name}" if s in own else "")
                             for s in scalars],
                scalar_casts=[s.name for s in scalars if s in reads],
                hoisted=[(r.name, _formula(e)) for r, e in hoisted],
                hyper_doubles=[h for h in hypers if h["symbol"] in reads | double_reads],
                hyper_casts=[h for h in hypers if h["symbol"] in reads],
                lr=optimizers.lr in reads)


def _optimizer_variants(ir, opt, hypers):
    """The element loop specialised to the spec's case (every condition on the
    hyper-parameters alone decided by the spec's values) and the general loop, with
    the test of the spec's case (printed code and text). Runtime overrides keep
    working: a case the spec does not have runs the general loop."""
    rule = opt.rule
    decided = {}          # condition atom -> its value at the spec's hyper-parameters
    special = [(target, ir.optimizer.specialised(expr, decided)) for target, expr in rule.element]
    tests = []
    for atom, v in decided.items():
        code = kernel_code(atom) if v else f"not {kernel_code(atom)}"
        if code not in tests:
            tests.append(code)
    doubles = {s: f"{s.name}_" for s in opt.runtime_symbols}
    doubles[optimizers.lr] = "lr_"
    return dict(special=_element_loop(special, rule, hypers, doubles),
                general=_element_loop(rule.element, rule, hypers, doubles) if decided else None,
                case_test=" and ".join(tests) or "True",
                case_hypers=[h for h in hypers
                             if any(h["symbol"] in atom.free_symbols for atom in decided)],
                case=", ".join(f"{_formula(a)} is {v}" for a, v in decided.items()))


def _optimizer_context(ir):
    opt = OPTIMIZERS[ir.optimizer.name]
    rule = opt.rule
    hypers, index = [], 0
    flags = set(ir.optimizer.flags)
    for h in opt.hyperparameters:
        for s in h.symbols:
            hypers.append(dict(name=s.name, index=index, flag=s in flags, symbol=s))
            index += 1
    defaults = {h.name: (tuple(h.default) if h.kind == "pair" else h.default)
                for h in opt.hyperparameters}
    defaults.update({k: v for k, v in ir.optimizer.values.items()})
    rules = {h.name: (h.kind, h.minimum, h.below) for h in opt.hyperparameters}
    return dict(
        name=opt.name, title=opt.title, doc=opt.doc, hypers=hypers, defaults=defaults,
        hyper_order=[h.name for h in opt.hyperparameters if h.symbols],
        rules_literal=_spec_literal(rules, indent=len("HYPER_RULES = ")),
        defaults_literal=_spec_literal(defaults, indent=len("HYPERPARAMETERS = ")),
        states=[s.name for s in rule.states],
        state_initial={s.name: h for s, h in rule.initial},
        scalar_formulas=[(s.name, _formula(e)) for s, e in rule.scalars],
        element_formulas=[(s.name, _formula(e)) for s, e in rule.element],
        **_optimizer_variants(ir, opt, hypers),
    )


def build_context(spec):
    """Everything the templates need, from a validated spec."""
    ir = build_ir(spec)
    acts, keys, key_of_definition = {}, {}, {}
    first_layer = {}
    for layer in ir.layers:
        act = layer.activation
        key = act.name if act.name != "formula" else f"formula_{layer.index}"
        if act.name == "formula":      # a formula equal to an earlier layer's shares its kernel
            key = key_of_definition.get(act.definition, key)
        if key not in acts:
            acts[key] = _activation_context(key, act, spec.dtype)
            key_of_definition.setdefault(act.definition, key)
            first_layer[key] = layer.index
        keys[layer.index] = key
    n = len(ir.layers)
    batch = spec.training.batch_size
    layers = [dict(index=l.index, n_in=l.n_in, n_out=l.n_out, act=keys[l.index],
                   # a formula is shown as SymPy prints it, never as the spec's text
                   act_name=l.activation.name if l.activation.name != "formula"
                   else _formula(l.activation.definition.subs(calculus.z, calculus.x)),
                   a_prev="X" if l.index == 1 else f"A{l.index - 1}",
                   # Z is kept where the loss (output layer) or the backward pass reads it
                   store_z=l.index == n or l.activation.vector or l.activation.needs_z,
                   # a layer whose activation an earlier layer has: that layer's kernels
                   kernels_from=first_layer[keys[l.index]] if first_layer[keys[l.index]] != l.index else None,
                   # products this small at the spec's batch size run as loops, not BLAS
                   small=batch * l.n_in * l.n_out <= SMALL_GEMM)
              for l in ir.layers]
    params = [f"{p}{l['index']}" for l in layers for p in ("W", "b")]
    out = ir.layers[-1].activation
    task = ("regression" if not ir.loss.classification
            else "multiclass" if out.vector else "binary")
    opt_ctx = _optimizer_context(ir)
    loss_ctx = _loss_context(ir, spec.dtype)
    printed = [v for ctx in [loss_ctx, *acts.values()] for k, v in ctx.items() if k.endswith("_code")]
    inits = sorted({l.init for l in spec.layers})
    spec_dict = spec.to_dict()
    training = spec_dict["training"] | {k: None for k in ("target_loss", "patience")
                                        if k not in spec_dict["training"]}
    return dict(
        name=spec.name, version=VERSION, source=_source_label(spec), digest=spec.digest(),
        spec_literal=_spec_literal(spec_dict),
        training_literal=_spec_literal(training, indent=len("TRAINING = ")),
        dtype=spec.dtype, inputs=spec.inputs, layers=layers,
        activations=[acts[k] for k in sorted(acts)], act_by_key=acts, small_gemm=SMALL_GEMM,
        loss=loss_ctx, optimizer=opt_ctx, task=task,
        helpers=helper_sources(printed, "@njit(**INNER)"),
        param_names=params,
        param_shapes=[s for l in ir.layers for s in ((l.n_in, l.n_out), (l.n_out,))],
        layer_activations=[l["act_name"] for l in layers],
        layer_inits=[l.init for l in spec.layers],
        layer_lrs=[l.learning_rate for l in spec.layers],
        inits=[dict(name=i, scale_code=kernel_code(INITIALIZERS[i].scale, const="{}"),
                    scale_formula=_formula(INITIALIZERS[i].scale)) for i in inits],
        init_kinds={i: (INITIALIZERS[i].distribution, INITIALIZERS[i].bias) for i in inits},
        params_args=", ".join(params),
        runtime_version=RUNTIME_VERSION, eq=_equation_labels(spec),
        estimator_signature=_signature(
            {"hidden_units": tuple(l["n_out"] for l in layers[:-1])}
            | {k: tuple(v) if isinstance(v, list) else v for k, v in (opt_ctx["defaults"] | training).items()}),
        za_args=", ".join(f"{v}{i}" for i in range(1, n + 1) for v in ("Z", "A")),
        d_args=", ".join(f"D{i}" for i in range(1, n + 1)),
        grad_args=", ".join(f"g{p}" for p in params),
        # what _epoch takes after its settings, in _EpochWork's order
        work_args=["live", "scratch"]
        + [name for l in layers for name in (f"W{l['index']}", f"b{l['index']}",
                                              f"gW{l['index']}", f"gb{l['index']}")]
        + [f"S_{s}" for s in opt_ctx["states"]]
        + [f"{v}{l['index']}" for l in layers for v in (("Z", "A", "D") if l["store_z"] else ("A", "D"))],
    )


def _source_label(spec):
    """The spec's file name (not its absolute path: output must not depend on the checkout)."""
    return os.path.basename(spec.path) if spec.path else "a spec dict"


_HASH_LINE = re.compile(r"^content-sha256: ([0-9a-f]{64}|<hash>)$", re.MULTILINE)
_PLACEHOLDER = "content-sha256: <hash>"


class EditedByHandError(ValueError):
    """A generated file no longer matches the hash in its header."""


def _content_hash(text):
    """sha256 of the file with its own hash line blanked."""
    return hashlib.sha256(_HASH_LINE.sub(_PLACEHOLDER, text, count=1).encode()).hexdigest()


def _tidy(text):
    """The templates' output laid out as PEP 8 would: no blank lines inside a
    function's code (docstrings keep theirs), two around top-level functions and
    classes, one at most elsewhere, and no trailing spaces."""
    out, in_string, in_def = [], False, False
    lines = [line.rstrip() for line in text.split("\n")]
    for i, line in enumerate(lines):
        if in_string:
            out.append(line)
            in_string = line.count('"""') % 2 == 0
            continue
        if not line:
            following = next((l for l in lines[i + 1:] if l), "")
            method = following.lstrip().startswith(("def ", "@")) and following.startswith(" ")
            if method or not (following.startswith(" ") or not out or not out[-1]):
                out.append(line)        # not inside a block, and not a second blank line
            continue
        if not line.startswith((" ", ")", "]", "}")):
            opens = line.startswith(("def ", "class ", "@", "# ---"))
            after_header = out and out[-1].startswith(("@", "# ---"))
            if (opens or in_def) and out and not after_header:
                while out and not out[-1]:
                    out.pop()
                out += ["", ""]
            if not line.startswith(("@", "# ---")):
                in_def = line.startswith(("def ", "class "))
        out.append(line)
        in_string = line.count('"""') % 2 == 1
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n"


def render(spec):
    """The generated module's source text, its header carrying its own content hash."""
    spec = load_spec(spec)
    text = _tidy(_env().get_template("module.py.j2").render(**build_context(spec), content_hash="<hash>"))
    return text.replace(_PLACEHOLDER, f"content-sha256: {_content_hash(text)}", 1)


def edited_by_hand(path):
    """True when the file's content does not match the hash in its header, or when
    it is not a gradgen module at all (a file of the user's that happens to share
    the name). A gradgen module from before the hash line counts as unedited."""
    text = Path(path).read_text()
    found = _HASH_LINE.search(text)
    if found is None:
        return "a neural-network trainer generated by gradgen" not in text.split("\n", 1)[0]
    return found.group(1) != _content_hash(text)


def generate(spec, out_dir="generated", force=False):
    """Write out_dir/<name>.py atomically and return its Path. A file edited by hand
    is not overwritten unless force=True."""
    spec = load_spec(spec)
    text = render(spec)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{spec.name}.py"
    if target.exists():
        if target.read_text() == text:
            return target
        if not force and edited_by_hand(target):
            raise EditedByHandError(
                f"{target}: edited by hand (its content no longer matches the hash in its "
                "header); not overwritten. Use --force (force=True) to replace it")
    return write_atomic(target, text)
