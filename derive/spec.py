"""The model spec: load a TOML file or a dict, validate every key, return a frozen `Spec`.

The schema and its checks are derive/spec_schema.py, the dataclasses
derive/spec_types.py; this module reads the source. Every problem raises
`SpecError(message, field, source)` where `field` names the key the way a user
would write it: `name`, `layers[2].activation`, `optimizer.betas`, `training.seed`.
Layers are numbered from 1, like the parameters W1, b1, W2, ...
"""
from __future__ import annotations

import os
from collections.abc import Mapping

from .errors import SpecError
from .spec_schema import DTYPES, FORMULA_INIT, INIT_SCHEMES, Validator
from .spec_types import DataSpec, FrozenParams, LayerSpec, LossSpec, OptimizerSpec, Spec, TrainingSpec

try:  # pragma: no cover - depends on the Python version
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "DTYPES", "INIT_SCHEMES", "FORMULA_INIT", "DataSpec", "FrozenParams", "LayerSpec", "LossSpec",
    "OptimizerSpec", "Spec", "TrainingSpec", "load_spec",
]


def load_spec(source) -> Spec:
    """Load and validate a spec from a TOML path (str / PathLike), a dict, or a Spec."""
    if isinstance(source, Spec):
        return source
    if isinstance(source, Mapping):
        return Validator(None).spec(source)
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        data = _read_toml(path)
        return Validator(path).spec(data)
    raise TypeError(f"load_spec() takes a path, a dict or a Spec, not {type(source).__name__}")


def _read_toml(path):
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise SpecError("spec file not found", source=path) from None
    except OSError as e:
        raise SpecError(f"cannot read the spec file ({e.strerror or e})", source=path) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise SpecError(f"malformed TOML: not UTF-8 text (at line {line})", source=path) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"malformed TOML: {e}", source=path) from None
