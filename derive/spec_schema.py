"""The spec's key schema and its validator: every key checked, every refusal a
`SpecError` that names the field as a user would write it (`layers[2].activation`,
`optimizer.betas`). Driven by the registries (ACTIVATIONS, LOSSES, OPTIMIZERS), so a
new activation, loss or optimizer needs no change here.
"""
from __future__ import annotations

import difflib
import keyword
import math
import numbers
from collections.abc import Mapping

from .activations import ACTIVATIONS
from .errors import FormulaError, SpecError
from .formula import parse_formula
from .initializers import INITIALIZERS
from .losses import LOSSES
from .optimizers import OPTIMIZERS
from .schedules import SCHEDULES, check_cycled_momentum
from .spec_types import (DataSpec, FrozenParams, LayerSpec, LossSpec, OptimizerSpec, RegularizationSpec,
                         ScheduleSpec, Spec, TrainingSpec)

DTYPES = ("float32", "float64")
INIT_SCHEMES = tuple(INITIALIZERS)
FORMULA_INIT = "xavier_uniform"        # default init of a layer with a formula activation
DATA_SUFFIXES = (".npz", ".csv")
SEED_MAX = 2 ** 32 - 1                 # numpy / numba seeds are uint32

TOP_KEYS = ("name", "inputs", "dtype", "layers", "loss", "regularization", "optimizer", "schedule", "training",
            "data")
TOP_REQUIRED = ("name", "inputs", "layers", "loss", "optimizer")
LAYER_KEYS = ("units", "activation", "learning_rate", "init", "l1", "l2", "dropout")
PENALTY_KEYS = ("l1", "l2")
LOSS_KEYS = ("kind", "formula", "class_weight")
TRAINING_KEYS = ("batch_size", "epochs", "shuffle", "seed", "target_loss", "patience", "min_delta",
                 "restore_best")
DATA_KEYS = ("source", "test_fraction")


def _show(value):
    """A value as the user wrote it, with its type."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _suggest(word, choices):
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


class Validator:
    """Checks one spec (a dict) and builds its Spec; `path` names the TOML file in errors."""

    def __init__(self, path):
        self.path = path          # the TOML file, or None for a dict

    # -- helpers ------------------------------------------------------------

    def error(self, message, field=None):
        return SpecError(message, field=field, source=self.path)

    def table(self, value, field, hint=""):
        if not isinstance(value, Mapping):
            raise self.error(f"expected a table, got {_show(value)}{hint}", field)
        return value

    def keys(self, table, allowed, prefix, required=()):
        for key in table:
            if key not in allowed:
                where = f"{prefix}.{key}" if prefix else str(key)
                hint = _suggest(key, allowed) or "; expected one of: " + ", ".join(allowed)
                raise self.error(f"unknown key{hint}", where)
        for key in required:
            if key not in table:
                raise self.error("required key is missing", f"{prefix}.{key}" if prefix else key)

    def integer(self, value, field, minimum=None, maximum=None):
        if not _is_int(value):
            raise self.error(f"expected an integer, got {_show(value)}", field)
        value = int(value)
        if minimum is not None and value < minimum:
            raise self.error(f"must be >= {minimum}, not {value}", field)
        if maximum is not None and value > maximum:
            raise self.error(f"must be <= {maximum}, not {value}", field)
        return value

    def real(self, value, field, minimum=None, positive=False, below=None):
        if not _is_real(value):
            raise self.error(f"expected a number, got {_show(value)}", field)
        value = float(value)
        if not math.isfinite(value):
            raise self.error(f"must be finite, not {value!r}", field)
        if positive and value <= 0:
            raise self.error(f"must be > 0, not {value:g}", field)
        if minimum is not None and value < minimum:
            raise self.error(f"must be >= {minimum:g}, not {value:g}", field)
        if below is not None and value >= below:
            raise self.error(f"must be < {below:g}, not {value:g}", field)
        return value

    def boolean(self, value, field):
        if not isinstance(value, bool):
            raise self.error(f"expected true or false, got {_show(value)}", field)
        return value

    def string(self, value, field):
        if not isinstance(value, str):
            raise self.error(f"expected a string, got {_show(value)}", field)
        return value

    # -- the spec -------------------------------------------------------------

    def spec(self, d):
        self.table(d, None)
        self.keys(d, TOP_KEYS, "", TOP_REQUIRED)
        name = self.name(d["name"])
        inputs = self.integer(d["inputs"], "inputs", minimum=1)
        dtype = self.dtype(d.get("dtype", "float32"))
        layers = self.layers(d["layers"])
        loss = self.loss(d["loss"], layers)
        optimizer = self.optimizer(d["optimizer"])
        training = self.training(d.get("training", {}))
        regularization = d.get("regularization")
        regularization = None if regularization is None else self.regularization(regularization)
        schedule = d.get("schedule")
        schedule = None if schedule is None else self.schedule(schedule, len(layers), optimizer)
        data = d.get("data")
        data = None if data is None else self.data(data)
        return Spec(name=name, inputs=inputs, dtype=dtype, layers=layers, loss=loss,
                    optimizer=optimizer, training=training, data=data, schedule=schedule,
                    regularization=regularization, path=self.path)

    def name(self, value):
        self.string(value, "name")
        if not value.isidentifier():
            raise self.error(f"must be a Python identifier (letters, digits, _; not starting "
                             f"with a digit), not {value!r}", "name")
        if keyword.iskeyword(value):
            raise self.error(f"{value!r} is a Python keyword and cannot name a module", "name")
        if value.startswith("__") and value.endswith("__"):
            raise self.error(f"dunder names like {value!r} are reserved", "name")
        return value

    def dtype(self, value):
        if value not in DTYPES or not isinstance(value, str):
            raise self.error(f"must be one of {', '.join(map(repr, DTYPES))}, not {value!r}"
                             f"{_suggest(value, DTYPES)}", "dtype")
        return value

    def layers(self, value):
        if not isinstance(value, (list, tuple)):
            raise self.error(f"expected a list of layer tables ([[layers]]), got {_show(value)}",
                             "layers")
        if not value:
            raise self.error("needs at least one layer", "layers")
        n = len(value)
        return tuple(self.layer(layer, i, i == n) for i, layer in enumerate(value, start=1))

    def layer(self, d, i, last):
        prefix = f"layers[{i}]"
        self.table(d, prefix)
        self.keys(d, LAYER_KEYS, prefix, ("units", "activation"))
        units = self.integer(d["units"], f"{prefix}.units", minimum=1)
        activation, is_formula = self.activation(d["activation"], f"{prefix}.activation", last)
        lr = d.get("learning_rate")
        if lr is not None:
            lr = self.real(lr, f"{prefix}.learning_rate", positive=True)
        if d.get("init") is not None:
            init = d["init"]
            if not isinstance(init, str) or init not in INIT_SCHEMES:
                raise self.error(f"must be one of {', '.join(INIT_SCHEMES)}, not {init!r}"
                                 f"{_suggest(init, INIT_SCHEMES)}", f"{prefix}.init")
        else:
            init = FORMULA_INIT if is_formula else ACTIVATIONS[activation].init
        penalties = {key: self.real(d[key], f"{prefix}.{key}", minimum=0.0)
                     for key in PENALTY_KEYS if d.get(key) is not None}
        dropout = 0.0
        if d.get("dropout") is not None:
            dropout = self.real(d["dropout"], f"{prefix}.dropout", minimum=0.0, below=1.0)
            if dropout and last:
                raise self.error("dropout is for hidden layers only (the output layer's activations are "
                                 "the prediction)", f"{prefix}.dropout")
        return LayerSpec(units=units, activation=activation, formula=is_formula,
                         learning_rate=lr, init=init, dropout=dropout, **penalties)

    def activation(self, value, field, last):
        self.string(value, field)
        act = ACTIVATIONS.get(value)
        if act is not None:
            if act.vector and not last:
                raise self.error(f"{value} is a vector activation (it couples the layer's units) "
                                 f"and is allowed on the last layer only", field)
            return value, False
        builtins = ", ".join(ACTIVATIONS)
        try:
            parse_formula(value, ("x",))
        except FormulaError as e:
            shown = value if len(value) <= 80 else value[:77] + "..."
            raise self.error(f"{shown!r} is neither a built-in activation ({builtins}) nor a "
                             f"valid formula in x ({e}){_suggest(value, ACTIVATIONS)}", field) from None
        return value, True

    def loss(self, d, layers):
        self.table(d, "loss", hint="; write [loss] with kind = \"...\" or formula = \"...\""
                   if isinstance(d, str) else "")
        self.keys(d, LOSS_KEYS, "loss")
        has_kind, has_formula = d.get("kind") is not None, d.get("formula") is not None
        if has_kind and has_formula:
            raise self.error("give exactly one of 'kind' or 'formula', not both", "loss")
        if not (has_kind or has_formula):
            raise self.error(f"needs 'kind' (one of {', '.join(LOSSES)}) or 'formula' "
                             f"(an expression in yhat and y)", "loss")
        if has_kind:
            kind = self.string(d["kind"], "loss.kind")
            entry = LOSSES.get(kind)
            if entry is None:
                raise self.error(f"unknown loss {kind!r}{_suggest(kind, LOSSES)} "
                                 f"(built-ins: {', '.join(LOSSES)})", "loss.kind")
            out = layers[-1].activation
            if entry.requires_output is not None and (layers[-1].formula or out != entry.requires_output):
                raise self.error(f"{kind} needs a {entry.requires_output} output layer; "
                                 f"the last layer's activation is {out!r}", "loss.kind")
            return LossSpec(kind=kind, formula=None, class_weight=self.class_weight(d, kind, layers))
        if d.get("class_weight") is not None:
            raise self.error("class weights are for cross_entropy, or binary_cross_entropy on one "
                             "unit; a formula loss takes sample_weight only", "loss.class_weight")
        text = self.string(d["formula"], "loss.formula")
        try:
            parse_formula(text, ("yhat", "y"))
        except FormulaError as e:
            raise self.error(f"not a valid formula in yhat and y: {e}", "loss.formula") from None
        return LossSpec(kind=None, formula=text)

    def class_weight(self, d, kind, layers):
        """[loss] class_weight: "balanced", or one weight >= 0 per class (not all zero)."""
        value, field = d.get("class_weight"), "loss.class_weight"
        if value is None:
            return None
        units = layers[-1].units
        if kind == "cross_entropy":
            classes = units
        elif kind == "binary_cross_entropy" and units == 1:
            classes = 2
        else:
            raise self.error(f"class weights are for cross_entropy, or binary_cross_entropy on one "
                             f"unit; not {kind} on {units} unit(s)", field)
        if value == "balanced":
            return value
        if not isinstance(value, (list, tuple)) or len(value) != classes:
            raise self.error(f'expected "balanced" or a list of {classes} weights (one per class), '
                             f"got {_show(value)}", field)
        weights = tuple(self.real(v, f"{field}[{n}]", minimum=0.0) for n, v in enumerate(value))
        if not any(weights):
            raise self.error("every class weight is 0: no row would count", field)
        return weights

    def optimizer(self, d):
        self.table(d, "optimizer", hint="; write [optimizer] with kind = \"...\""
                   if isinstance(d, str) else "")
        if "kind" not in d:
            raise self.error(f"required key is missing (one of {', '.join(OPTIMIZERS)})",
                             "optimizer.kind")
        kind = self.string(d["kind"], "optimizer.kind")
        opt = OPTIMIZERS.get(kind)
        if opt is None:
            raise self.error(f"unknown optimizer {kind!r}{_suggest(kind, OPTIMIZERS)} "
                             f"(built-ins: {', '.join(OPTIMIZERS)})", "optimizer.kind")
        hypers = {h.name: h for h in opt.hyperparameters}
        for key in d:
            if key == "kind" or key in hypers:
                continue
            takers = [o.name for o in OPTIMIZERS.values()
                      if any(h.name == key for h in o.hyperparameters)]
            if takers:
                raise self.error(f"{kind} takes no {key!r} (only {', '.join(takers)} "
                                 f"{'does' if len(takers) == 1 else 'do'}); {kind} takes: "
                                 f"{', '.join(hypers)}", f"optimizer.{key}")
            hint = _suggest(key, list(hypers) + ["kind"]) or f"; {kind} takes: {', '.join(hypers)}"
            raise self.error(f"unknown key{hint}", f"optimizer.{key}")
        params = {}
        for name, hyper in hypers.items():
            value = d.get(name)
            if value is None:
                value = hyper.default
            try:
                params[name] = hyper.validate(_plain(value))
            except ValueError as e:
                raise self.error(str(e), f"optimizer.{name}") from None
        for refusal in opt.refusals:
            if refusal.holds(params):
                raise self.error(refusal.message, f"optimizer.{refusal.key}")
        return OptimizerSpec(kind=kind, params=FrozenParams(params))

    def training(self, d):
        self.table(d, "training")
        self.keys(d, TRAINING_KEYS, "training")
        t = TrainingSpec()
        values = {}
        if d.get("batch_size") is not None:
            values["batch_size"] = self.integer(d["batch_size"], "training.batch_size", minimum=1)
        if d.get("epochs") is not None:
            values["epochs"] = self.integer(d["epochs"], "training.epochs", minimum=1)
        if d.get("shuffle") is not None:
            values["shuffle"] = self.boolean(d["shuffle"], "training.shuffle")
        if d.get("seed") is not None:
            values["seed"] = self.integer(d["seed"], "training.seed", minimum=0, maximum=SEED_MAX)
        if d.get("target_loss") is not None:
            values["target_loss"] = self.real(d["target_loss"], "training.target_loss", minimum=0.0)
        if d.get("patience") is not None:
            values["patience"] = self.integer(d["patience"], "training.patience", minimum=1)
        if d.get("min_delta") is not None:
            values["min_delta"] = self.real(d["min_delta"], "training.min_delta", minimum=0.0)
        if d.get("restore_best") is not None:
            values["restore_best"] = self.boolean(d["restore_best"], "training.restore_best")
        return TrainingSpec(**{**t.__dict__, **values})

    def regularization(self, d):
        self.table(d, "regularization")
        self.keys(d, PENALTY_KEYS, "regularization")
        return RegularizationSpec(**{key: self.real(d[key], f"regularization.{key}", minimum=0.0)
                                     for key in PENALTY_KEYS if d.get(key) is not None})

    def schedule(self, d, n_layers, optimizer):
        self.table(d, "schedule", hint="; write [schedule] with kind = \"...\""
                   if isinstance(d, str) else "")
        if "kind" not in d:
            raise self.error(f"required key is missing (one of {', '.join(SCHEDULES)})", "schedule.kind")
        kind = self.string(d["kind"], "schedule.kind")
        entry = SCHEDULES.get(kind)
        if entry is None:
            raise self.error(f"unknown schedule {kind!r}{_suggest(kind, SCHEDULES)} "
                             f"(built-ins: {', '.join(SCHEDULES)})", "schedule.kind")
        params = {p.name: p for p in entry.params}
        self.keys(d, ("kind", *params), "schedule")
        values = {}
        for name, param in params.items():
            value = d.get(name)
            if value is None:
                if param.default is None:
                    raise self.error(f"required key is missing ({entry.torch} needs it)", f"schedule.{name}")
                value = param.default
            try:
                values[name] = param.validate(_plain(value), n_layers)
            except ValueError as e:
                raise self.error(str(e), f"schedule.{name}") from None
        try:
            check_cycled_momentum(values, OPTIMIZERS[optimizer.kind].cycled)
        except ValueError as e:
            raise self.error(f"{optimizer.kind} {e}", "schedule.cycle_momentum") from None
        return ScheduleSpec(kind=kind, params=FrozenParams(values))

    def data(self, d):
        self.table(d, "data")
        self.keys(d, DATA_KEYS, "data", ("source",))
        source = self.string(d["source"], "data.source")
        if source.startswith("sklearn:"):
            loader = source[len("sklearn:"):]
            if not loader.isidentifier():
                raise self.error(f"expected 'sklearn:<loader name>' such as 'sklearn:digits', "
                                 f"not {source!r}", "data.source")
        elif source.lower().endswith(DATA_SUFFIXES) and source.strip() not in DATA_SUFFIXES:
            pass  # kept as written (the digest must not depend on where the spec lies)
        else:
            raise self.error(f"must be 'sklearn:<name>' or a path to a .npz or .csv file, "
                             f"not {source!r}", "data.source")
        fraction = d.get("test_fraction")
        if fraction is None:
            fraction = 0.2
        else:
            fraction = self.real(fraction, "data.test_fraction")
            if not 0.0 < fraction < 1.0:
                raise self.error(f"must be between 0 and 1 (exclusive), not {fraction:g}",
                                 "data.test_fraction")
        return DataSpec(source=source, test_fraction=fraction)


def _plain(value):
    """numpy scalars and tuples -> the plain Python values Hyper.validate expects."""
    if isinstance(value, bool):
        return value
    if _is_int(value):
        return int(value)
    if _is_real(value):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
