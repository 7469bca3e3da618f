"""Sections 1 and 2: the model (each layer per unit, then the batch as matrix
products) and the loss (one element's term, the batch mean, and the stable form
the kernels evaluate from the logits)."""
import sympy as sp

from . import calculus
from .document import Code, Para, Section
from .model import lse
from .names import (ELL, EQ, J, L_, L_MINUS_1, LOSS_OF_ONE, UNIT_NAMES, YHAT, YHAT_IS_A, YHAT_J, Y_J,
                    Z_J, layer_sup, sub, sup)
from .notation import Call, Scripts, function_name, letter, relation
from .section_penalties import loss_blocks as penalty_loss_blocks
from .section_weights import weighted_blocks
from .section_dropout import model_blocks as dropout_blocks
from .section_context import N, note, row, rows
from .symbols import K, Z, a, i, j, m, yhat, z


def model_section(ctx):
    ir, spec, L = ctx.ir, ctx.spec, ctx.L
    widths = " → ".join(str(n) for n in [spec.inputs] + [l.n_out for l in ir.layers])
    blocks = [Para((f"The network maps {spec.inputs} inputs through {L} dense "
                    f"layer{'s' if L > 1 else ''} ({widths}); samples are rows, in {spec.dtype}. "
                    "For one sample with inputs ", note(sub("x", "i")),
                    ", layer ", note(L_), " computes, for each of its units ",
                    note(J), ", the weighted sum of the previous layer's activations ",
                    note(sup("a", L_MINUS_1, "i")), " (with ",
                    note(relation(sup("a", 0), EQ, letter("x"))), ") and passes it through its activation:"))]
    for layer in ir.layers:
        l, act = layer.index, layer.activation
        zl, al = ctx.base("z", l), ctx.base("a", l)
        symbol = ctx.symbol(act)
        defn = ctx.activation_of(act, l, j)
        if act.vector:        # softmax(z^(l))_j
            applied = Scripts(Call(symbol, sup("z", l)), J, indexed=True)
        else:                 # f(z_j^(l))
            applied = Call(symbol, Scripts(letter("z"), J, layer_sup(l), indexed=True))
        describe = [f"Layer {l}: {layer.n_in} → {layer.n_out} units, activation "]
        describe += [Code(ir.formulas[l]), " (a formula, ", note(symbol), ")"] \
            if l in ir.formulas else [Code(act.name)]
        if act.vector:
            describe += [", with ", ctx.show(K), f" = {layer.n_out} outputs"]
        blocks.append(Para(tuple(describe) + (":",)))
        definition_shown = [ctx.show(defn)]
        if isinstance(act.definition, sp.Function) and act.definition.args == (z,):
            definition_shown = []     # tanh(z) is its own definition
        blocks.append(rows(
            row(ctx.show(zl[j]), ctx.show(ctx.z_sum(l, i)), keys=(f"layer{l}.z",)),
            row(ctx.show(al[j]), note(applied), *definition_shown, keys=(f"layer{l}.a",))))
    # the batch in matrix form
    ones = sp.MatrixSymbol("ones", N, 1)
    matrix_rows = []
    for layer in ir.layers:
        l = layer.index
        prev = sp.MatrixSymbol("X" if l == 1 else f"A{l - 1}", N, layer.n_in)
        W = sp.MatrixSymbol(f"W{l}", layer.n_in, layer.n_out)
        b = sp.MatrixSymbol(f"b{l}", layer.n_out, 1)
        Zl = sp.MatrixSymbol(f"Z{l}", N, layer.n_out)
        matrix_rows.append(row(ctx.show(Zl), ctx.show(prev * W + ones * b.T), keys=(f"layer{l}.matrix",)))
    blocks.append(Para(("For a batch of ", ctx.show(N), " rows the kernels compute each layer "
                        "as one matrix product, ", ctx.show(sp.MatrixSymbol("X", N, spec.inputs)),
                        " holding the inputs and ", ctx.show(ones), " a column of ones; the activation "
                        "acts elementwise (row-wise for softmax), and the prediction is the last "
                        "layer's output, ", note(relation(YHAT, EQ, sup("a", L))), ":")))
    blocks.append(rows(*matrix_rows))
    blocks += dropout_blocks(ctx)
    return Section("The model", tuple(blocks))


def loss_section(ctx):
    loss, out, spec = ctx.ir.loss, ctx.out, ctx.spec
    blocks = [Para(("The loss of one output element compares the prediction ",
                    note(YHAT_J), " with its target ", note(Y_J),
                    " (", Code(loss.name if loss.name != "formula" else spec.loss.formula), "):"))]
    blocks.append(rows(row(note(LOSS_OF_ONE), ctx.show(loss.term, UNIT_NAMES), keys=("loss.term",))))
    n = sp.Symbol("n", integer=True, positive=True)
    ell_b = sp.IndexedBase("ell")
    total = sp.Sum(sp.Sum(ell_b[n, j], (j, 1, out.n_out)), (n, 1, N))
    if loss.mean_over == "rows":
        how = ("The batch loss sums the terms of a row over its outputs and averages over the ",
               ctx.show(N), " rows (PyTorch's ", Code('reduction="mean"'), " for this loss):")
    else:
        how = ("The batch loss averages the terms over all ", ctx.show(N * out.n_out),
               " elements (PyTorch's ", Code('reduction="mean"'), "):")
    blocks.append(Para(how))
    blocks.append(rows(row(ctx.show(sp.Symbol("L")), ctx.show(ctx.mean_factor() * total), keys=("loss.mean",))))
    blocks += weighted_blocks(ctx) + penalty_loss_blocks(ctx)
    if loss.value != loss.term.subs(yhat, a):
        blocks.append(Para(("With ", note(YHAT_IS_A), " written out in the logits ", note(Z_J),
                            " and the logarithms expanded, the kernels evaluate the term from the "
                            "logits, which stays finite where ",
                            note(Call(function_name("log"), YHAT_J, brackets="none")), " would not:")))
        act = out.activation
        written_out = act.definition if not act.vector else ctx.activation_of(act, out.index, j)
        stable = [row(note(sub(ELL, "j")),
                      ctx.show(loss.term.subs(yhat, written_out), UNIT_NAMES,
                               {"z": Z_J, "z" + str(out.index): letter("z")}),
                      ctx.show(loss.value, UNIT_NAMES), keys=("loss.stable",))]
        if lse in loss.value.free_symbols and act.vector:
            _, _, lse_expr = calculus.stable_softmax(act.definition)
            shifted_sum = sp.Sum(sp.powsimp(sp.exp(Z[m]) * sp.exp(-calculus.zmax)), (m, 1, K))
            naive = sp.log(sp.Sum(sp.exp(Z[m]), (m, 1, K)))
            stable.append(row(ctx.show(lse, UNIT_NAMES), ctx.show(naive, UNIT_NAMES, {"z": letter("z")}),
                              ctx.show(lse_expr.subs(calculus.row_total, shifted_sum), UNIT_NAMES,
                                       {"z": letter("z")}), keys=("loss.lse",)))
            blocks.append(rows(*stable))
            blocks.append(Para(("where ", ctx.show(calculus.zmax, UNIT_NAMES), " is the row's largest "
                                "logit, so no exponential overflows.")))
        else:
            blocks.append(rows(*stable))
    return Section("The loss", tuple(blocks))
