"""IR -> the templates' context: the IR's SymPy expressions printed (printer.py)
with the formula each one computes and the number of the derivation's equation it
comes from. Reads the IR and the derivation's equation numbers alone, never the
spec or the registries."""
import functools

import sympy as sp

from derive import calculus, losses, optimizers, schedules, symbols
from derive.clipping import grad_norm as clipping_norm
from gradgen.runtime import VERSION as RUNTIME_VERSION

from .layout import literal, signature
from .printer import helper_sources, kernel_code

VERSION = "0.1.0"
# A BLAS call costs about as much as a few hundred multiply-adds in a plain loop: a
# layer whose products at the spec's batch size have at most this many multiply-adds
# gets loops as well, used whenever a product is that small at run time.
SMALL_GEMM = 4096
# A small layer with at most this many units, and more inputs, loops along its inputs
# innermost ("narrow"): a loop over one or two columns costs more in overhead than it
# multiplies (W5's 64 -> 1 output layer: its epoch 0.66 of the time, docs/performance.md §14).
NARROW_UNITS = 2


def _formula(expr):
    """A one-line plain-text formula for a docstring or comment."""
    return sp.sstr(expr).replace("Heaviside(", "H(")


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


# what the weighted mean's symbols are in _loss_delta
_WEIGHT_NAMES = {losses.weight: "weight", losses.total_weight: "wsum", losses.outputs: "A.shape[1]"}


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
               stable=loss.value != loss.term.subs(symbols.yhat, calculus.a),
               weight_formula=_formula(loss.weight_scale),
               weight_code=kernel_code(loss.weight_scale, const="{}", names=_WEIGHT_NAMES),
               # total_loss sums weight * value: over the weights' sum (times K for elementwise losses)
               weight_denominator=kernel_code(losses.weight / loss.weight_scale, const="{}",
                                              names=_WEIGHT_NAMES))
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
    invariant = ({h["symbol"] for h in hypers} | {s for s, _ in rule.scalars}
                 | {optimizers.lr, symbols.t, clipping_norm})
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
                any_case=_element_loop(rule.element, rule, hypers, doubles) if decided else None,
                case_test=" and ".join(tests) or "True",
                case_hypers=[h for h in hypers
                             if any(h["symbol"] in atom.free_symbols for atom in decided)],
                case=", ".join(f"{_formula(a)} is {v}" for a, v in decided.items()))


def _optimizer_context(ir):
    opt = ir.optimizer
    rule = opt.rule
    hypers, index = [], 0
    flags = set(opt.flags)
    for h in opt.hyperparameters:
        for s in h.symbols:
            hypers.append(dict(name=s.name, index=index, flag=s in flags, symbol=s))
            index += 1
    defaults = {h.name: (tuple(h.default) if h.kind == "pair" else h.default)
                for h in opt.hyperparameters}
    defaults.update({k: v for k, v in opt.values.items()})
    rules = {h.name: (h.kind, h.minimum, h.below) for h in opt.hyperparameters}
    norm, _, term, on = opt.grad_norm
    index = {h["symbol"]: h["index"] for h in hypers}
    return dict(
        grad_norm=dict(term_code=kernel_code(term), term_formula=_formula(term),
                       test=kernel_code(on, names={s: f"hypers[row, {index[s]}]" for s in on.free_symbols}),
                       formula=_formula(on)),
        name=opt.name, title=opt.title, doc=opt.doc, hypers=hypers, defaults=defaults,
        refusals=[dict(test=kernel_code(r.when, const="{}", names={s: f"(hyper[{s.name!r}] or 0.0)"
                                                                    for s in r.when.free_symbols}),
                       formula=_formula(r.when), message=f"{r.key}: {r.message}") for r in opt.refusals],
        hyper_order=[h.name for h in opt.hyperparameters if h.symbols],
        rules_literal=literal(rules, indent=len("HYPER_RULES = ")),
        defaults_literal=literal(defaults, indent=len("HYPERPARAMETERS = ")),
        states=[s.name for s in rule.states],
        state_initial={s.name: h for s, h in rule.initial},
        scalar_formulas=[(s.name, _formula(e)) for s, e in rule.scalars],
        element_formulas=[(s.name, _formula(e)) for s, e in rule.element],
        **_optimizer_variants(ir, opt, hypers),
    )


def _penalty_context(layer):
    """A layer's weight penalty as printed code (None without one)."""
    if layer.penalty_term is None:
        return None
    return dict(value_code=kernel_code(layer.penalty_term), value_formula=_formula(layer.penalty_term),
                grad_code=kernel_code(layer.penalty_derivative),
                grad_formula=_formula(layer.penalty_derivative), l1=layer.penalty[0], l2=layer.penalty[1])


def _schedule_context(ir, hypers):
    """The schedule's printed functions: its rule with the parameters assigned first."""
    sch = ir.schedule
    if sch is None:
        return None
    names = {schedules.step_size: "step_size"}
    constants = dict(sch.constants)

    def function(expr):
        used = [(names.get(sym, sym.name), repr(constants[sym])) for sym in
                sorted(expr.free_symbols & set(constants), key=lambda x: x.name)]
        return dict(constants=used, code=kernel_code(expr, const="{}", names=names), formula=_formula(expr))
    index = {h["symbol"]: h["index"] for h in hypers}
    per_batch = sch.per_batch
    return dict(
        name=sch.name, torch=sch.torch, per_batch=per_batch,
        values_literal=literal(sch.values, indent=len("SCHEDULE = ")),
        args="eta_max, s, T" if per_batch else "eta_0, e, T",
        rate=function(sch.rate) if sch.rate is not None else None,
        momentum=function(sch.momentum) if sch.momentum is not None else None,
        cycled=index.get(sch.cycled),
        improved=function(sch.improved) if sch.improved is not None else None,
        reduced=function(sch.reduced) if sch.reduced is not None else None,
        bases=list(sch.bases) if sch.bases is not None else None)


def build_context(ir, eq):
    """Everything the templates need, from the IR; eq(key) labels a statement with
    its derivation equation's number."""
    acts, keys, key_of_definition = {}, {}, {}
    first_layer = {}
    for layer in ir.layers:
        act = layer.activation
        key = act.name if act.name != "formula" else f"formula_{layer.index}"
        if act.name == "formula":      # a formula equal to an earlier layer's shares its kernel
            key = key_of_definition.get(act.definition, key)
        if key not in acts:
            acts[key] = _activation_context(key, act, ir.dtype)
            key_of_definition.setdefault(act.definition, key)
            first_layer[key] = layer.index
        keys[layer.index] = key
    n = len(ir.layers)
    batch = ir.training["batch_size"]
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
                   small=batch * l.n_in * l.n_out <= SMALL_GEMM
                   and ("narrow" if l.n_out <= min(NARROW_UNITS, l.n_in - 1) else "wide"),
                   penalty=_penalty_context(l),
                   dropout=None if not l.dropout else dict(
                       p=l.dropout, scale=repr(float(l.keep_scale)), formula=_formula(l.keep_scale)))
              for l in ir.layers]
    offset = 0
    for l in layers:          # each dropout layer's columns in the epoch's mask array, in layer order
        if l["dropout"]:
            l["dropout"].update(offset=offset, end=offset + l["n_out"])
            offset += l["n_out"]
    for l in layers:          # the training epoch's input to a layer: the dropped activations
        prev = layers[l["index"] - 2] if l["index"] > 1 else None
        l["a_prev_train"] = f"H{prev['index']}" if prev and prev["dropout"] else l["a_prev"]
    params = [f"{p}{l['index']}" for l in layers for p in ("W", "b")]
    out = ir.layers[-1].activation
    task = ("regression" if not ir.loss.classification
            else "multiclass" if out.vector else "binary")
    opt_ctx = _optimizer_context(ir)
    loss_ctx = _loss_context(ir, ir.dtype)
    printed = [v for ctx in [loss_ctx, *acts.values()] for k, v in ctx.items() if k.endswith("_code")]
    training = ir.training
    return dict(
        name=ir.name, version=VERSION, source=ir.source, digest=ir.digest,
        spec_literal=literal(ir.spec_dict),
        training_literal=literal(training, indent=len("TRAINING = ")),
        dtype=ir.dtype, inputs=ir.inputs, layers=layers,
        activations=[acts[k] for k in sorted(acts)], act_by_key=acts, small_gemm=SMALL_GEMM,
        loss=loss_ctx, optimizer=opt_ctx, task=task,
        schedule=_schedule_context(ir, opt_ctx["hypers"]),
        class_weight=list(ir.class_weight) if isinstance(ir.class_weight, tuple) else ir.class_weight,
        helpers=helper_sources(printed, "@njit(**INNER)"),
        param_names=params,
        param_shapes=[s for l in ir.layers for s in ((l.n_in, l.n_out), (l.n_out,))],
        layer_activations=[l["act_name"] for l in layers],
        layer_inits=[l.init for l in ir.layers],
        layer_lrs=[l.learning_rate for l in ir.layers],
        inits=[dict(name=i.name, scale_code=kernel_code(i.scale, const="{}"), scale_formula=_formula(i.scale))
               for i in ir.inits],
        init_kinds={i.name: (i.distribution, i.bias) for i in ir.inits},
        params_args=", ".join(params),
        runtime_version=RUNTIME_VERSION, eq=eq,
        estimator_signature=signature(
            {"hidden_units": tuple(l["n_out"] for l in layers[:-1])}
            | {k: tuple(v) if isinstance(v, list) else v for k, v in (opt_ctx["defaults"] | training).items()}
            | ({} if task == "regression" else {"class_weight": tuple(ir.class_weight)
                                                if isinstance(ir.class_weight, tuple) else ir.class_weight})
            | {"warm_start": False}),
        za_args=", ".join(f"{v}{i}" for i in range(1, n + 1) for v in ("Z", "A")),
        d_args=", ".join(f"D{i}" for i in range(1, n + 1)),
        grad_args=", ".join(f"g{p}" for p in params),
        # what _epoch takes after its settings, in runtime.workspace.EpochWork's order
        work_args=["live", "scratch"]
        + [name for l in layers for name in (f"W{l['index']}", f"b{l['index']}",
                                              f"gW{l['index']}", f"gb{l['index']}")]
        + [f"S_{s}" for s in opt_ctx["states"]]
        + [f"{v}{l['index']}" for l in layers for v in (("Z", "A", "D") if l["store_z"] else ("A", "D"))
           + (("H",) if l["dropout"] else ())],
        dropout_any=any(l["dropout"] for l in layers),
        dropout_rates=[l.dropout for l in ir.layers],
        dropout_scales=[float(l.keep_scale) if l.dropout else None for l in ir.layers],
    )
