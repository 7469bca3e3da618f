"""A sweep's grid: `--set KEY=V1,V2` settings, every combination's spec, its folds.

Each setting is a dotted path into the spec (`optimizer.learning_rate`,
`layers.1.units` with layers counted from 1, `training.batch_size`) and its
values. Every combination is validated as a whole spec before anything runs, so a
bad key or value is one error that names it. Keys under [optimizer] (but its kind)
and [training] are the Trainer's overrides: combinations that differ only there
share one generated module.
"""
import hashlib
import itertools
import json

import numpy as np

from derive.errors import SpecError
from derive.spec import load_spec

try:  # pragma: no cover - depends on the Python version
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib


class SweepError(ValueError):
    """A sweep that cannot run as asked: a bad setting, an empty grid, too few rows."""


def parse_setting(text):
    """'KEY=V1,V2,...' -> (KEY, [values]); each value is read as TOML (1e-3, 32, true,
    [0.9, 0.99]) or else taken as a string (relu)."""
    key, sep, values = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise SweepError(f"--set {text!r}: expected KEY=V1,V2,...")
    items = _split_values(values)
    if not items:
        raise SweepError(f"--set {key}: no values")
    return key, [_value(item) for item in items]


def _split_values(text):
    """Comma-separated values; commas inside [...] or quotes do not split."""
    items, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    items = [item.strip() for item in items]
    return [] if items == [""] else items


def _value(text):
    if text == "":
        raise SweepError("an empty value in a --set list")
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def is_override(key):
    """Whether KEY is a Trainer override (no new module): [optimizer] but its kind, [training]."""
    head, _, rest = key.partition(".")
    return (head == "optimizer" and rest != "kind") or head == "training"


def _assign(spec, key, value):
    """spec with KEY (dotted, layers counted from 1) set to value, in a copy."""
    parts = key.split(".")
    if any(not p for p in parts):
        raise SweepError(f"--set {key}: not a dotted spec path")
    if parts[0] == "name":
        raise SweepError("--set name: a sweep names each combination's module itself")
    out = json.loads(json.dumps(spec))
    node = out
    for depth, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            node = node[_layer_index(key, part, len(node))]
        elif isinstance(node, dict):
            if part not in node:
                node[part] = {}        # a table the spec leaves out ([data]): load_spec judges the key
            node = node[part]
        else:
            raise SweepError(f"--set {key}: {'.'.join(parts[:depth + 1])} is not a table")
    last = parts[-1]
    if isinstance(node, list):
        node[_layer_index(key, last, len(node))] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise SweepError(f"--set {key}: {'.'.join(parts[:-1])} is not a table")
    return out


def _layer_index(key, part, count):
    if not part.isdigit() or not 1 <= int(part) <= count:
        raise SweepError(f"--set {key}: {part!r} is not a layer number from 1 to {count}")
    return int(part) - 1


def combinations(base, settings):
    """[(values, spec dict, module spec dict, overrides)] for every combination of
    settings {KEY: [values]}: `values` in settings' order, `spec dict` the whole
    combination (validated), `module spec dict` it without the overrides (the
    generated module's), `overrides` {name: value} for its Trainer."""
    if not settings:
        raise SweepError("nothing to sweep: give at least one --set KEY=V1,V2,...")
    base = load_spec(base).to_dict()
    out = []
    for values in itertools.product(*settings.values()):
        whole, module = base, base
        for key, value in zip(settings, values):
            whole = _assign(whole, key, value)
            if not is_override(key):
                module = _assign(module, key, value)
        try:
            whole = load_spec(whole).to_dict()
        except SpecError as err:
            raise SweepError(f"--set {', '.join(f'{k}={v!r}' for k, v in zip(settings, values))}: "
                             f"{err}") from None
        module = load_spec(module).to_dict()
        # the overrides as the spec validated them (a list of betas read back as the spec keeps it)
        overrides = {key.split(".", 1)[1]: whole[key.split(".", 1)[0]][key.split(".", 1)[1]]
                     for key in settings if is_override(key)}
        name = f"{base['name']}_{digest(module)[:10]}"
        out.append((list(values), whole, dict(module, name=name), overrides))
    return out


def digest(data):
    """sha256 of a JSON-able value, in a fixed key order."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def folds(y, k, seed, stratified):
    """Fold number (0..k-1) of every row: seeded; for classifiers stratified (each
    class's rows dealt out over the folds in turn, so every fold has each class's
    share). k None: no folds (the spec's test split is the validation set)."""
    n = len(y)
    if k < 2 or k > n:
        raise SweepError(f"--folds {k}: needs 2 to {n} (the rows of the data)")
    rng = np.random.default_rng(seed)
    out = np.empty(n, np.int64)
    if stratified:
        labels = np.asarray(y).reshape(n, -1)
        labels = labels.argmax(axis=1) if labels.shape[1] > 1 else labels[:, 0]
        offset = 0
        for label in np.unique(labels):
            rows = rng.permutation(np.flatnonzero(labels == label))
            out[rows] = (np.arange(len(rows)) + offset) % k
            offset += len(rows)
    else:
        out[rng.permutation(n)] = np.arange(n) % k
    return out
