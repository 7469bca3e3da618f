"""The display names of the derivation's symbols, and the notation of the quantities
its prose and equations name (ŷ_j, dℓ/dw_ij), as notation (derive/notation.py).

Names are looked up by a symbol's name: the per-layer tables (w2 -> w^(2),
Delta1 -> Δ^(1)) first, then the context's own (a -> a_j in the output layer),
then the optimizer's. The per-unit names (a, z, y, ...) are shared with the
IndexedBases of index notation (symbols.A has label a), so a context table
decides which one a formula means.
"""
from .activations import ACTIVATIONS
from .notation import (Accent, Call, Paren, Partial, Prime, Scripts, bold, calligraphic, digit,
                       function_name, greek, joined, letter, operator_name, relation, roman, sign)

__all__ = ["OPTIMIZER_NAMES", "UNIT_NAMES", "BARE_NAMES", "layer_names", "activation_symbol",
           "name_of", "layer_sup", "sub", "sup"]

OPTIMIZER_NAMES = {
    "lr": greek("eta"),
    "momentum": greek("mu"),
    "dampening": greek("tau"),
    "weight_decay": greek("lambda"),
    "beta1": Scripts(greek("beta"), 1),
    "beta2": Scripts(greek("beta"), 2),
    "eps": greek("varepsilon"),
    "alpha": greek("alpha"),
    "lr_decay": Scripts(greek("eta"), roman("decay")),
    "initial_accumulator_value": Scripts(letter("s"), 0),
    "momentum_buffer": bold("b", text="buf"),
    "exp_avg": letter("m"),
    "exp_avg_sq": letter("v"),
    "max_exp_avg_sq": Scripts(Accent(letter("v"), "hat"), function_name("max"), text="v_max"),
    "square_avg": letter("v"),
    "grad_avg": Accent(letter("g"), "bar", text="g_avg"),
    "state_sum": letter("s"),
    "clr": Accent(greek("eta"), "tilde"),
    "bias_correction1": Scripts(letter("c"), 1),
    "bias_correction2": Scripts(letter("c"), 2),
    "step_size": Accent(greek("eta"), "hat"),
    "p": greek("theta"),
    # gradient clipping (derive/clipping.py)
    "clip_grad_norm": Scripts(letter("c"), roman("norm"), text="clip_grad_norm"),
    "clip_grad_value": Scripts(letter("c"), roman("value"), text="clip_grad_value"),
    "grad_norm": joined(sign(r"\lVert ", "||"), letter("g"), sign(r"\rVert", "||")),
    "clip_coef": Scripts(greek("kappa"), roman("clip"), text="clip_coef"),
    "P": letter("P"),
    # schedules (derive/schedules.py)
    "eta_0": Scripts(greek("eta"), 0),
    "eta_e": Scripts(greek("eta"), letter("e")),
    "eta_s": Scripts(greek("eta"), letter("s")),
    "eta_now": greek("eta"),
    "eta_max": Scripts(greek("eta"), function_name("max"), text="eta_max"),
    "eta_min": Scripts(greek("eta"), function_name("min"), text="eta_min"),
    "mu_s": Scripts(greek("mu"), letter("s")),
    "gamma": greek("gamma"),
    "step_size_e": Scripts(letter("n"), roman("step"), text="step_size"),
    "T_max": Scripts(letter("T"), function_name("max"), text="T_max"),
    "start_factor": Scripts(letter("f"), roman("start"), text="start_factor"),
    "end_factor": Scripts(letter("f"), roman("end"), text="end_factor"),
    "total_iters": Scripts(letter("n"), roman("iters"), text="total_iters"),
    "pct_start": Scripts(letter("p"), roman("start"), text="pct_start"),
    "div_factor": Scripts(letter("d"), 0, text="div_factor"),
    "final_div_factor": Scripts(letter("d"), 1, text="final_div_factor"),
    "base_momentum": Scripts(greek("mu"), function_name("min"), text="base_momentum"),
    "max_momentum": Scripts(greek("mu"), function_name("max"), text="max_momentum"),
    "factor": greek("phi"),
    "threshold": greek("epsilon"),
    "current": Scripts(calligraphic("L"), letter("e"), text="current"),
    "best": Scripts(calligraphic("L"), roman("best"), text="best"),
}


def _letter(c):
    return letter(c) if isinstance(c, str) else c


def sub(base, index):
    """base_index: a_j, z_j, x_i (a str is a letter)."""
    return Scripts(_letter(base), _letter(index))


def layer_sup(l):
    """The layer superscript (l): a number, or notation such as l+1."""
    return Paren(digit(l) if isinstance(l, int) else l)


def sup(base, layer, index=None):
    """base_index^(layer): W^(l), a^(0), z_j^(l+1)."""
    return Scripts(_letter(base), None if index is None else _letter(index), layer_sup(layer))


I, J, K_, L_ = letter("i"), letter("j"), letter("k"), letter("l")
EQ = sign("=", "=")
ELL = greek("ell")
YHAT = Accent(letter("y"), "hat")
A_J, Z_J, Y_J, A_K, YHAT_J = sub("a", J), sub("z", J), sub("y", J), sub("a", K_), sub(YHAT, J)

# per-unit symbols of one element (a_j, z_j, y_j, yhat_j) in the output layer
UNIT_NAMES = {
    "a": A_J,
    "z": Z_J,
    "y": Y_J,
    "yhat": YHAT_J,
    "s": letter("s"),
    "lse": operator_name("lse"),
    "zmax": Scripts(letter("z"), function_name("max"), text="zmax"),
}

# the same symbols without the unit's index: a, z, y, yhat in f(z) and its derivative
BARE_NAMES = {"a": letter("a"), "z": letter("z"), "y": letter("y"), "yhat": YHAT}


def activation_symbol(name, layer):
    """How the derivation names an activation: the registry's symbol, or f_l for a
    formula first used by layer l."""
    if name == "formula":
        return Scripts(letter("f"), layer)
    return ACTIVATIONS[name].symbol


def layer_names(symbol_of):
    """Names of per-layer IndexedBases (w2, a1, delta3) and matrices (W2, A1, Delta3),
    for every layer l in `symbol_of` ({l: its activation's symbol}) and the input (0)."""
    names = {"x": letter("x"), "X": letter("X"), "ones": Scripts(bold("1"), letter("N")),
             "L_pen": Scripts(calligraphic("L"), roman("pen"), text="L_pen"),
             "w_row": letter("w"), "w_n": Scripts(letter("w"), letter("n"), text="w_n"),
             "W_sum": Scripts(letter("W"), roman("sum"), text="W_sum"),
             "omega_n": Scripts(greek("omega"), letter("n"), text="omega_n"),
             "ell": greek("ell"), "L": calligraphic("L"), "N": letter("N")}
    for l in range(0, max(symbol_of, default=0) + 1):
        script = layer_sup(l)
        for base in ("w", "b", "z", "a", "W", "Z", "A"):
            names[f"{base}{l}"] = Scripts(letter(base), sup=script)
        names[f"delta{l}"] = Scripts(greek("delta"), sup=script)
        names[f"Delta{l}"] = Scripts(greek("Delta"), sup=script)
        names[f"F{l}"] = Call(Prime(symbol_of.get(l, letter("f"))), Scripts(letter("Z"), sup=script))
        names[f"dW{l}"] = Partial(calligraphic("L"), Scripts(letter("W"), sup=script))
        names[f"db{l}"] = Partial(calligraphic("L"), Scripts(letter("b"), sup=script))
        names[f"m{l}"] = Scripts(letter("m"), sup=script)                     # layer l's dropout mask
        names[f"at{l}"] = Scripts(Accent(letter("a"), "tilde"), sup=script)   # its dropped output
        names[f"dat{l}"] = Partial(Scripts(Accent(letter("a"), "tilde"), I, script), Scripts(letter("a"), I, script))
        names[f"Omega{l}"] = Scripts(greek("Omega"), sup=script)             # layer l's weight penalty
        names[f"dOmega{l}"] = Partial(Scripts(greek("Omega"), sup=script), Scripts(letter("w"), IJ, script))
    # the generic layer l of section 5's prose
    names.update({"Delta_l": sup(greek("Delta"), L_), "Delta_l1": sup(greek("Delta"), L_PLUS_1),
                  "W_l1": sup("W", L_PLUS_1), "F_l": Call(Prime(sub("f", L_)), sup("Z", L_))})
    return names


def _fallback(name):
    """A long symbol name without a display name, set upright (\\mathrm{avg})."""
    if len(name) == 1 or name.isalpha() and len(name) <= 2:
        return None
    return roman(name)


def name_of(symbol, tables):
    """The display name of a symbol: the last table that names it, then the optimizer's,
    then an upright word for a long name; None leaves it to SymPy's printer."""
    for table in reversed(tables):
        if symbol.name in table:
            return table[symbol.name]
    return OPTIMIZER_NAMES.get(symbol.name) or _fallback(symbol.name)


# --------------------------------------------------------------------------- quantities named in prose

IJ = joined(I, J)
W_IJ = sub("w", IJ)
L_MINUS_1, L_PLUS_1 = joined(L_, sign("-", "-"), digit(1)), joined(L_, sign("+", "+"), digit(1))
YHAT_IS_A = relation(YHAT_J, EQ, A_J)                              # ŷ_j = a_j
DL_DW, DL_DB = Partial(ELL, W_IJ), Partial(ELL, sub("b", J))       # dℓ/dw_ij, dℓ/db_j
DA_DZ_VECTOR, DA_DZ = Partial(A_K, Z_J), Partial(A_J, Z_J)         # da_k/dz_j, da_j/dz_j
DZ_DW, DZ_DB = Partial(Z_J, W_IJ), Partial(Z_J, sub("b", J))       # dz_j/dw_ij, dz_j/db_j
DELTA_J_IS = relation(sub(greek("delta"), J), EQ, Partial(ELL, Z_J))   # δ_j = dℓ/dz_j
LOSS_OF_ONE = Call(ELL, YHAT_J, Y_J)                               # ℓ(ŷ_j, y_j)
