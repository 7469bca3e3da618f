"""Section 5: the error signal through the hidden layers (per unit, then as the
matrix product Δ^(l) = (Δ^(l+1) W^(l+1)T) ∘ f'(Z^(l))), and every layer's batch
gradients dL/dW^(l), dL/db^(l) as the matrix products the kernels compute."""
import sympy as sp

from . import calculus
from .document import Para, Section
from .names import I, J, L_, L_PLUS_1, sup
from .notation import Partial, greek, sign
from .section_context import N, note, row, rows
from .section_penalties import gradient_blocks as penalty_gradient_blocks
from .section_dropout import backprop_blocks as dropout_backprop_blocks
from .symbols import i, j, m


def backprop_section(ctx):
    ir, L = ctx.ir, ctx.L
    blocks = []
    if L > 1:
        n_l, n_next = sp.symbols("n_l n_l1", positive=True, integer=True)
        generic_lhs = sp.MatrixSymbol("Delta_l", N, n_l)
        generic_rhs = sp.HadamardProduct(sp.MatrixSymbol("Delta_l1", N, n_next)
                                         * sp.MatrixSymbol("W_l1", n_l, n_next).T,
                                         sp.MatrixSymbol("F_l", N, n_l))
        dz_next_da = Partial(sup("z", L_PLUS_1, "j"), sup("a", L_, "i"))
        blocks.append(Para((
            "A hidden unit ", note(I), " of layer ", note(L_), " reaches the loss through every unit ",
            note(J), " of layer ", note(L_PLUS_1), ", so its error sums their errors, each times ",
            note(dz_next_da), " (SymPy differentiates the weighted sum and sifts, as in section 4), "
            "times its own activation's derivative; for a batch, ", ctx.show(generic_lhs), " = ",
            ctx.show(generic_rhs), ". Layer by layer, from the output layer's ",
            ctx.show(ctx.base("delta", L)[j]), " of section 4 down:")))
        for layer in reversed(ir.layers[:-1]):
            l = layer.index
            nxt = ir.layers[l]
            z_next = ctx.z_sum(l + 1, m)
            a_l = ctx.base("a", l)
            dz_da = calculus.sift(sp.diff(z_next, a_l[i]))
            local = ctx.fprime_of(layer.activation, l, i)
            delta_l = sp.Sum(ctx.base("delta", l + 1)[j] * dz_da, (j, 1, nxt.n_out)) * local
            Dn = sp.MatrixSymbol(f"Delta{l + 1}", N, nxt.n_out)
            Wn = sp.MatrixSymbol(f"W{l + 1}", layer.n_out, nxt.n_out)
            F = sp.MatrixSymbol(f"F{l}", N, layer.n_out)
            Dl = sp.MatrixSymbol(f"Delta{l}", N, layer.n_out)
            partial = Partial(sup("z", l + 1, "j"), sup("a", l, "i"))
            blocks.append(rows(
                row(note(partial), ctx.show(dz_da)),
                row(ctx.show(ctx.base("delta", l)[i]), ctx.show(delta_l)),
                row(ctx.show(Dl), ctx.show(sp.HadamardProduct(Dn * Wn.T, F)), keys=(f"layer{l}.delta",))))
        blocks.append(Para(("In matrix form ", ctx.show(generic_lhs), " stacks the rows' ",
                            note(sup(greek("delta"), L_)), ", ", note(sign(r"\circ", "∘")),
                            " multiplies elementwise and ", ctx.show(sp.MatrixSymbol("F_l", N, n_l)),
                            " applies the derivative of section 3 to every entry.")))
        blocks += dropout_backprop_blocks(ctx)
    else:
        blocks.append(Para(("With a single layer there is nothing further to propagate.",)))
    factor = ctx.mean_factor()
    blocks.append(Para(("Each weight's gradient is its unit's error times its input, summed over the "
                        "batch; each bias's is the error summed over the batch. With the mean's ",
                        ctx.show(factor), " these are the matrix products the kernels compute:")))
    ones = sp.MatrixSymbol("ones", N, 1)
    gradients = []
    for layer in ir.layers:
        l = layer.index
        prev = sp.MatrixSymbol("X" if l == 1 else f"A{l - 1}", N, layer.n_in)
        D = sp.MatrixSymbol(f"Delta{l}", N, layer.n_out)
        dW = sp.MatrixSymbol(f"dW{l}", layer.n_in, layer.n_out)
        db = sp.MatrixSymbol(f"db{l}", 1, layer.n_out)
        gradients.append(row(ctx.show(dW), ctx.show(factor * prev.T * D), keys=(f"layer{l}.dW",)))
        gradients.append(row(ctx.show(db), ctx.show(factor * ones.T * D), keys=(f"layer{l}.db",)))
    blocks.append(rows(*gradients))
    blocks += penalty_gradient_blocks(ctx)
    return Section("Backpropagation through the layers", tuple(blocks))
