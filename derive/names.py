"""The display names of the derivation's symbols, as notation (derive/notation.py).

Names are looked up by a symbol's name: the per-layer tables (w2 -> w^(2),
Delta1 -> Δ^(1)) first, then the context's own (a -> a_j in the output layer),
then the optimizer's. The per-unit names (a, z, y, ...) are shared with the
IndexedBases of index notation (symbols.A has label a), so a context table
decides which one a formula means.
"""
from .activations import ACTIVATIONS
from .notation import (Accent, Call, Paren, Partial, Prime, Scripts, bold, calligraphic, digit,
                       function_name, greek, joined, letter, operator_name, roman, sign)

__all__ = ["OPTIMIZER_NAMES", "UNIT_NAMES", "BARE_NAMES", "layer_names", "activation_symbol",
           "name_of", "layer_sup"]

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
}

J = letter("j")
YHAT = Accent(letter("y"), "hat")

# per-unit symbols of one element (a_j, z_j, y_j, yhat_j) in the output layer
UNIT_NAMES = {
    "a": Scripts(letter("a"), J),
    "z": Scripts(letter("z"), J),
    "y": Scripts(letter("y"), J),
    "yhat": Scripts(YHAT, J),
    "s": letter("s"),
    "lse": operator_name("lse"),
    "zmax": Scripts(letter("z"), function_name("max"), text="zmax"),
}

# the same symbols without the unit's index: a, z, y, yhat in f(z) and its derivative
BARE_NAMES = {"a": letter("a"), "z": letter("z"), "y": letter("y"), "yhat": YHAT}


def layer_sup(l):
    """The layer superscript (l): a number, or notation such as l+1."""
    return Paren(digit(l) if isinstance(l, int) else l)


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
             "ell": greek("ell"), "L": calligraphic("L"), "N": letter("N")}
    for l in range(0, max(symbol_of, default=0) + 1):
        sup = layer_sup(l)
        for base in ("w", "b", "z", "a", "W", "Z", "A"):
            names[f"{base}{l}"] = Scripts(letter(base), sup=sup)
        names[f"delta{l}"] = Scripts(greek("delta"), sup=sup)
        names[f"Delta{l}"] = Scripts(greek("Delta"), sup=sup)
        names[f"F{l}"] = Call(Prime(symbol_of.get(l, letter("f"))), Scripts(letter("Z"), sup=sup))
        names[f"dW{l}"] = Partial(calligraphic("L"), Scripts(letter("W"), sup=sup))
        names[f"db{l}"] = Partial(calligraphic("L"), Scripts(letter("b"), sup=sup))
    l, next_layer = letter("l"), joined(letter("l"), sign("+", "+"), digit(1))
    names.update({"Delta_l": Scripts(greek("Delta"), sup=layer_sup(l)),
                  "Delta_l1": Scripts(greek("Delta"), sup=layer_sup(next_layer)),
                  "W_l1": Scripts(letter("W"), sup=layer_sup(next_layer)),
                  "F_l": Call(Prime(Scripts(letter("f"), l)), Scripts(letter("Z"), sup=layer_sup(l)))})
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

