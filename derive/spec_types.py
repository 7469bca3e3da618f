"""The validated model spec as frozen dataclasses: what every later stage reads.

`Spec.to_dict()` is the canonical form (defaults filled, fixed key order) and
`Spec.digest()` its hash, so equal specs are recognised however they were written.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from .losses import LOSSES

__all__ = ["FrozenParams", "LayerSpec", "LossSpec", "OptimizerSpec", "RegularizationSpec", "ScheduleSpec",
           "TrainingSpec", "DataSpec", "Spec"]


class FrozenParams(Mapping):
    """A read-only, hashable dict of optimizer hyper-parameters (insertion-ordered)."""

    __slots__ = ("_data",)

    def __init__(self, data=()):
        object.__setattr__(self, "_data", dict(data))

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self):
        return len(self._data)

    def __hash__(self):
        return hash(tuple(self._data.items()))

    def __setattr__(self, name, value):
        raise AttributeError("FrozenParams is read-only")

    def __repr__(self):
        return f"FrozenParams({self._data!r})"


@dataclass(frozen=True)
class LayerSpec:
    units: int
    activation: str                  # a registry name, or the formula's text (formula=True)
    formula: bool = False
    learning_rate: float | None = None   # None: the optimizer's learning_rate
    init: str = "xavier_uniform"
    l1: float | None = None          # this layer's own penalties on W (None: [regularization]'s)
    l2: float | None = None
    dropout: float = 0.0             # inverted dropout on this layer's output while training


@dataclass(frozen=True)
class LossSpec:
    kind: str | None = None          # a LOSSES name, or None for a formula loss
    formula: str | None = None       # text in yhat and y
    class_weight: object = None      # None, "balanced", or a tuple of one weight per class


@dataclass(frozen=True)
class OptimizerSpec:
    kind: str
    params: Mapping = field(default_factory=FrozenParams)   # every hyper-parameter, defaults filled

    def __post_init__(self):
        if not isinstance(self.params, FrozenParams):
            object.__setattr__(self, "params", FrozenParams(self.params))

    @property
    def learning_rate(self) -> float:
        return self.params["learning_rate"]


@dataclass(frozen=True)
class RegularizationSpec:
    l1: float = 0.0                  # l1 * sum |W| on every layer's W
    l2: float = 0.0                  # (l2 / 2) * sum W^2


@dataclass(frozen=True)
class ScheduleSpec:
    kind: str                        # a SCHEDULES name
    params: Mapping = field(default_factory=FrozenParams)   # every parameter, defaults filled

    def __post_init__(self):
        if not isinstance(self.params, FrozenParams):
            object.__setattr__(self, "params", FrozenParams(self.params))


@dataclass(frozen=True)
class TrainingSpec:
    batch_size: int = 32
    epochs: int = 20
    shuffle: bool = True
    seed: int = 0
    target_loss: float | None = None
    patience: int | None = None
    min_delta: float = 0.0
    restore_best: bool = False


@dataclass(frozen=True)
class DataSpec:
    source: str                      # "sklearn:<name>" or a path, as written in the spec
    test_fraction: float = 0.2


@dataclass(frozen=True)
class Spec:
    name: str
    inputs: int
    dtype: str
    layers: tuple
    loss: LossSpec
    optimizer: OptimizerSpec
    training: TrainingSpec = field(default_factory=TrainingSpec)
    data: DataSpec | None = None
    schedule: ScheduleSpec | None = None
    regularization: RegularizationSpec | None = None
    path: str | None = field(default=None, compare=False)   # the TOML file, if loaded from one

    @property
    def output_activation(self) -> str:
        return self.layers[-1].activation

    @property
    def outputs(self) -> int:
        return self.layers[-1].units

    def penalties(self, layer) -> tuple:
        """(l1, l2) on a layer's W: its own, else [regularization]'s, else none."""
        reg = self.regularization or RegularizationSpec()
        return (reg.l1 if layer.l1 is None else layer.l1, reg.l2 if layer.l2 is None else layer.l2)

    @property
    def classification(self) -> bool:
        loss = LOSSES.get(self.loss.kind) if self.loss.kind is not None else None
        return bool(loss is not None and loss.classification)

    def data_source(self, override=None):
        """The data source to load: `override`, else [data].source, with a relative
        path resolved against the spec file's folder (as written for a dict spec)."""
        source = override if override is not None else (self.data.source if self.data else None)
        if source is None or source.startswith("sklearn:"):
            return source
        source = os.path.expanduser(source)
        if override is None and self.path and not os.path.isabs(source):
            source = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(self.path)), source))
        return source

    @property
    def source_label(self) -> str:
        return self.path if self.path is not None else "<dict>"

    def to_dict(self) -> dict:
        """The canonical spec: plain, JSON-serialisable, every default filled, fixed key order.

        Optional keys whose value is None (a layer's learning_rate, target_loss,
        patience, clipping, data, schedule) are left out, and so are min_delta and
        restore_best at their defaults (a spec without them keeps its digest).
        `load_spec(spec.to_dict()) == spec`.
        """
        layers = []
        for layer in self.layers:
            d = {"units": layer.units, "activation": layer.activation}
            if layer.learning_rate is not None:
                d["learning_rate"] = layer.learning_rate
            d["init"] = layer.init
            for key in ("l1", "l2"):
                if getattr(layer, key) is not None:
                    d[key] = getattr(layer, key)
            if layer.dropout:
                d["dropout"] = layer.dropout
            layers.append(d)
        loss = {"kind": self.loss.kind} if self.loss.kind is not None else {"formula": self.loss.formula}
        if self.loss.class_weight is not None:
            cw = self.loss.class_weight
            loss["class_weight"] = cw if isinstance(cw, str) else list(cw)
        optimizer = {"kind": self.optimizer.kind}
        for key, value in self.optimizer.params.items():
            if value is not None:
                optimizer[key] = list(value) if isinstance(value, tuple) else value
        t = self.training
        training = {"batch_size": t.batch_size, "epochs": t.epochs, "shuffle": t.shuffle, "seed": t.seed}
        if t.target_loss is not None:
            training["target_loss"] = t.target_loss
        if t.patience is not None:
            training["patience"] = t.patience
        if t.min_delta != 0.0:
            training["min_delta"] = t.min_delta
        if t.restore_best:
            training["restore_best"] = True
        out = {
            "name": self.name,
            "inputs": self.inputs,
            "dtype": self.dtype,
            "layers": layers,
            "loss": loss,
            "optimizer": optimizer,
            "training": training,
        }
        if self.regularization is not None:
            out["regularization"] = {"l1": self.regularization.l1, "l2": self.regularization.l2}
        if self.schedule is not None:
            out["schedule"] = {"kind": self.schedule.kind} | {
                k: list(v) if isinstance(v, tuple) else v for k, v in self.schedule.params.items()}
        if self.data is not None:
            out["data"] = {"source": self.data.source, "test_fraction": self.data.test_fraction}
        return out

    @property
    def source_name(self) -> str:
        """The spec file's name, as a generated module's header gives it."""
        return os.path.basename(self.path) if self.path else "a spec dict"

    def digest(self) -> str:
        """sha256 (hex) of the canonical dict: equal specs, equal digests."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()
