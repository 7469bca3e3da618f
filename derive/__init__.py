"""gradgen's derivation: spec loading, SymPy chain-rule derivation, and its printing."""
from .errors import FormulaError, SpecError
from .spec import Spec, load_spec

__all__ = ["load_spec", "derive", "Spec", "SpecError", "FormulaError", "Derivation"]


def derive(spec):
    """The derivation of a spec (path, dict or Spec): a Derivation to print."""
    from .derivation import Derivation
    return Derivation(load_spec(spec))


def __getattr__(name):
    if name == "Derivation":
        from .derivation import Derivation
        return Derivation
    raise AttributeError(name)
