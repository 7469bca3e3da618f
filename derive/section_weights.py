"""Section 2's weighted mean: with row weights w_n (sample_weight times class_weight's
weight of row n's class) the data term is sum_n w_n l_n / sum_n w_n, so each element's
term and error signal are scaled by the IR's weight_scale instead of the mean's 1/N;
the kernels print the same factor."""
import sympy as sp

from .document import Code, Para
from .losses import outputs, total_weight, weight
from .section_context import N, note, row, rows
from .notation import Scripts, letter
from .symbols import j


def weighted_blocks(ctx):
    loss = ctx.ir.loss
    n, m = sp.symbols("n m", integer=True, positive=True)
    ell, wb = sp.IndexedBase("ell"), sp.IndexedBase("w_row")
    per_row = sp.Sum(ell[n, j], (j, 1, ctx.out.n_out))
    if loss.mean_over == "elements":
        per_row = per_row / ctx.out.n_out
    mean = sp.Sum(wb[n] * per_row, (n, 1, N)) / sp.Sum(wb[m], (m, 1, N))
    where = ["With row weights ", note(Scripts(letter("w"), letter("n"))), " (", Code("sample_weight"),
             " times the ", Code("class_weight"), " of the row's class",
             "; " + (f'here class_weight = "{ctx.ir.class_weight}"' if isinstance(ctx.ir.class_weight, str)
                     else "here one weight per class, " + ", ".join(f"{c:g}" for c in ctx.ir.class_weight))
             if ctx.ir.class_weight is not None else "",
             ") the batch loss is their weighted mean, and each element's term and error signal "
             "are scaled by the factor ", ctx.show(weight / total_weight if loss.mean_over == "rows"
                                                  else weight / (total_weight * outputs)),
             " in place of the mean's (a batch whose weights sum to 0 adds nothing):"]
    return [Para(tuple(where)),
            rows(row(ctx.show(sp.Symbol("L")), ctx.show(mean), keys=("loss.weighted",)),
                 row(ctx.show(sp.Symbol("omega_n")), ctx.show(loss.weight_scale.subs(outputs, ctx.out.n_out)),
                     keys=("loss.weight",)),
                 row(ctx.show(total_weight), ctx.show(sp.Sum(wb[m], (m, 1, N)))))]
