"""Sections 3 and 4: each activation's derivative as SymPy finds it (and the form
the backward pass uses), and the chain rule at the output layer, every factor
derived, down to the output error δ_j = dℓ/dz_j."""
import sympy as sp

from . import calculus
from .document import Code, Equations, Para, Section
from .model import row_sum_symbol
from .names import (A_J, A_K, BARE_NAMES, DA_DZ, DA_DZ_VECTOR, DELTA_J_IS, DL_DB, DL_DW, DZ_DB, DZ_DW,
                    ELL, EQ, UNIT_NAMES, YHAT_IS_A, YHAT_J, Z_J)
from .notation import Call, Paren, Partial, Prime, SumOver, greek, juxtapose, letter, relation, sign
from .section_context import drop_zero_sums, note, rename_sum_index, row, rows
from .symbols import A, K, Y, Z, a, i, j, k, m, y, yhat, z

_LE = sign(r"\le", "<=", "≤")


def activations_section(ctx):
    blocks = [Para(("SymPy differentiates each activation (sympy.diff; at a kink the "
                    "derivative takes PyTorch's value, e.g. relu'(0) = 0):",))]
    seen = []
    for layer in ctx.ir.layers:
        act = layer.activation
        if act in seen:
            continue
        seen.append(act)
        where = ctx.layers_using(act)
        keys = tuple(f"layer{l}.derivative" for l in where)
        layers = ", ".join(str(w) for w in where)
        name = Code(ctx.ir.formulas[where[0]]) if where[0] in ctx.ir.formulas else Code(act.name)
        blocks.append(Para((name, f" (layer{'s' if len(where) > 1 else ''} {layers}):")))
        if act.vector:
            a_k = rename_sum_index(act.definition, k, m).subs(j, k)
            blocks.append(rows(row(note(DA_DZ_VECTOR), ctx.show(sp.Derivative(a_k, Z[j]), BARE_NAMES),
                                   ctx.show(act.jacobian, BARE_NAMES), keys=keys)))
            blocks.append(Para(("The units are coupled: every output ", note(A_K),
                                " depends on every logit ", note(Z_J), "; ",
                                ctx.show(sp.KroneckerDelta(j, k)), " is Kronecker's delta (1 when ",
                                note(relation(letter("j"), EQ, letter("k"))), ", else 0). SymPy sifts it "
                                "out of the sum and writes the result in the outputs.")))
            continue
        symbol = ctx.symbol(act)
        rhs = [ctx.show(sp.Derivative(act.definition, z), BARE_NAMES), ctx.show(act.dz, BARE_NAMES)]
        if act.backward != act.dz:
            rhs.append(ctx.show(act.backward, BARE_NAMES))
        blocks.append(rows(row(note(Call(Prime(symbol), letter("z"), brackets="plain")), *rhs, keys=keys)))
        notes = []
        if act.backward != act.dz and not act.needs_z:
            notes += ["In terms of the output ",
                      note(relation(letter("a"), EQ, Call(symbol, letter("z"), brackets="plain"))),
                      ", so the backward pass reuses the stored activations. "]
        if act.backward.has(sp.Heaviside):
            notes += [ctx.show(sp.Heaviside(z, 0), BARE_NAMES), " is the unit step, 0 for ",
                      note(relation(letter("z"), _LE, sp.Integer(0))), " and 1 above. "]
        if notes:
            blocks.append(Para(tuple(notes)))
    return Section("Activation derivatives", tuple(blocks))


def chain_rule_section(ctx):
    loss, out = ctx.ir.loss, ctx.out
    act, L = out.activation, out.index
    w, b = ctx.base("w", L), ctx.base("b", L)
    names = {f"w{L}": letter("w"), f"b{L}": letter("b"), f"z{L}": letter("z")}
    blocks = [Para(("For one sample, write ", note(A_J), " and ", note(Z_J),
                    f" for the output layer's activations and logits (layer {L}, superscript "
                    "dropped), so ", note(YHAT_IS_A),
                    ". A weight of the output layer reaches the loss through ",
                    note(Z_J), " only" if not act.vector else " and, through the softmax, "
                    "every output", ":"))]
    if act.vector:      # (sum_k dl/da_k da_k/dz_j) dz_j/dw_ij
        summed = Paren(juxtapose(SumOver(letter("k")), juxtapose(Partial(ELL, A_K), DA_DZ_VECTOR, text=" · ")),
                       big=True)
        chain = juxtapose(summed, DZ_DW, text=" · ")
    else:
        chain = juxtapose(Partial(ELL, A_J), DA_DZ, DZ_DW, text=" · ")
    blocks.append(rows(row(note(DL_DW), note(chain))))
    # the factors, each derived
    z_m = ctx.z_sum(L, m)
    dz_dw_raw = sp.diff(z_m, w[i, j])
    dz_dw = calculus.sift(dz_dw_raw)
    dz_db = drop_zero_sums(sp.diff(z_m, b[j]))
    blocks.append(Para(("The factors, each found by SymPy: the loss term's derivative (with ",
                        note(YHAT_IS_A), "), the activation's from section 3, and the weighted "
                        "sum's, differentiating ", note(Z_J), " with respect to one weight and "
                        "sifting Kronecker's delta out of the sum:")))
    factors = [row(note(Partial(ELL, YHAT_J)), ctx.show(sp.Derivative(loss.term, yhat), UNIT_NAMES),
                   ctx.show(loss.dloss, UNIT_NAMES))]
    if act.vector:
        factors.append(row(note(DA_DZ_VECTOR), ctx.show(act.jacobian, BARE_NAMES)))
    else:
        factors.append(row(note(DA_DZ), ctx.show(act.backward, UNIT_NAMES)))
    factors.append(row(ctx.show(z, UNIT_NAMES), ctx.show(z_m, names)))
    factors.append(row(note(DZ_DW), ctx.show(dz_dw_raw, names), ctx.show(dz_dw, names)))
    factors.append(row(note(DZ_DB), ctx.show(dz_db, names)))
    blocks.append(Equations(tuple(factors)))
    blocks += _output_delta(ctx)
    blocks.append(Para(("So the output layer's gradients for one sample are:",)))
    delta, d_names = sp.IndexedBase("delta"), {"delta": greek("delta")}
    blocks.append(rows(row(note(DL_DW), ctx.show(delta[j] * dz_dw, names, d_names)),
                       row(note(DL_DB), ctx.show(delta[j] * dz_db, names, d_names))))
    return Section("The chain rule at the output layer", tuple(blocks))


def _output_delta(ctx):
    """delta_j = dl/dz_j: the chain-rule product (or sum over k), as SymPy simplifies it."""
    loss, act = ctx.ir.loss, ctx.out.activation
    delta, d_names = sp.IndexedBase("delta"), {"delta": greek("delta")}
    blocks = [Para(("Multiplying the first two gives the error signal ", note(DELTA_J_IS),
                    " of an output unit, which SymPy simplifies:"))]
    keys = ("output.delta",)
    if act.vector:
        dloss_k = loss.dloss.subs({yhat: A[k], y: Y[k]})
        chained = sp.Sum(dloss_k * act.jacobian, (k, 1, K))
        forms = [ctx.show(chained, BARE_NAMES), ctx.show(loss.delta_indexed, BARE_NAMES)]
        if loss.row_sum is not None:
            forms.append(ctx.show(loss.delta, UNIT_NAMES))
        equations = [row(ctx.show(delta[j], d_names), *forms, keys=keys)]
        if loss.row_sum is not None:
            s_sum = sp.Sum(loss.row_sum.subs({a: A[k], y: Y[k]}, simultaneous=True), (k, 1, K))
            equations.append(row(ctx.show(row_sum_symbol, UNIT_NAMES), ctx.show(s_sum, BARE_NAMES)))
        blocks.append(rows(*equations))
        notes = []
        if loss.classification:
            notes += ["The targets of a row are one-hot (or class labels), so SymPy uses ",
                      ctx.show(sp.Eq(sp.Sum(Y[k], (k, 1, K)), 1), BARE_NAMES), ". "]
        if loss.row_sum is not None:
            notes += ["The row sum ", ctx.show(row_sum_symbol, UNIT_NAMES), " is computed once per row "
                      "before the elementwise loop. "]
        if notes:
            blocks.append(Para(tuple(notes)))
    else:
        chained = loss.dloss.subs(yhat, a) * act.backward
        blocks.append(rows(row(ctx.show(delta[j], d_names), ctx.show(chained, UNIT_NAMES),
                               ctx.show(loss.delta, UNIT_NAMES), keys=keys)))
    if _is_a_minus_y(loss.delta):
        blocks.append(Para(("The activation's derivative cancels against the loss's: the error is "
                            "simply the prediction minus the target.",)))
    elif loss.combined and not act.vector and act.backward != 1:
        blocks.append(Para(("The activation's derivative partly cancels against the loss's.",)))
    return blocks


def _is_a_minus_y(delta):
    """delta = a - y, decided by simplify only where delta is small enough to search."""
    return calculus.bounded_simplify(delta - (a - y)) == 0
