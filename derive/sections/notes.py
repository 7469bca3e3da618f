"""Notation the sections' prose and equations name quantities by (ŷ_j, dℓ/dw_ij, ...),
built once from derive/notation.py."""
from ..names import layer_sup
from ..notation import (Accent, Call, Partial, Scripts, calligraphic, digit, greek, joined, letter,
                        relation, sign)

I, J, K_, L_ = letter("i"), letter("j"), letter("k"), letter("l")
EQ = sign("=", "=")
IJ = joined(I, J)
ELL, LOSS = greek("ell"), calligraphic("L")
YHAT = Accent(letter("y"), "hat")


def sub(base, index):
    """base_index with a letter base: a_j, z_j, x_i."""
    return Scripts(letter(base) if isinstance(base, str) else base, letter(index) if isinstance(index, str)
                   else index)


def sup(base, layer, index=None):
    """base_index^(layer): W^(l), a^(0), z_j^(l+1)."""
    return Scripts(letter(base) if isinstance(base, str) else base,
                   None if index is None else letter(index), layer_sup(layer))


A_J, Z_J, Y_J, A_K, YHAT_J = sub("a", "j"), sub("z", "j"), sub("y", "j"), sub("a", "k"), sub(YHAT, "j")
W_IJ = sub("w", IJ)
L_MINUS_1, L_PLUS_1 = joined(L_, sign("-", "-"), digit(1)), joined(L_, sign("+", "+"), digit(1))
YHAT_IS_A = relation(YHAT_J, EQ, A_J)                              # ŷ_j = a_j
DL_DW, DL_DB = Partial(ELL, W_IJ), Partial(ELL, sub("b", "j"))     # dℓ/dw_ij, dℓ/db_j
DA_DZ_VECTOR, DA_DZ = Partial(A_K, Z_J), Partial(A_J, Z_J)         # da_k/dz_j, da_j/dz_j
DZ_DW, DZ_DB = Partial(Z_J, W_IJ), Partial(Z_J, sub("b", "j"))
DELTA_J_IS = relation(sub(greek("delta"), "j"), EQ, Partial(ELL, Z_J))   # δ_j = dℓ/dz_j
LOSS_OF_ONE = Call(ELL, YHAT_J, Y_J)                               # ℓ(ŷ_j, y_j)
