"""Checkpoints: a trainer's parameters, optimizer state, step count, RNG state,
schedule state and history in one .npz file, written atomically; a file that is not a whole
checkpoint of the same spec is refused with ValueError naming it."""
import json
import os
import zipfile

import numpy as np

from .files import write_atomic

VERSION = 2                 # 2 adds the schedule's state
READS = (1, 2)              # a version-1 checkpoint resumes with the schedule at its start


def save(trainer, path):
    """Write trainer's checkpoint to path (atomically: the old file or the new one,
    never half of one); returns the path as given."""
    model = trainer.model
    arrays = {f"param_{i}": p for i, p in enumerate(trainer.params)}
    for name in model.state_names:
        arrays.update({f"state_{name}_{i}": s for i, s in enumerate(trainer.state[name])})
    meta = {"checkpoint_version": VERSION, "name": model.name, "spec_digest": model.spec_digest,
            "t": trainer.t, "seed": trainer.seed, "hyper": trainer.hyper, "training": trainer.training,
            "rng": trainer._rng.bit_generator.state, "history": trainer.history.as_dict(),
            "schedule": trainer.schedule.as_dict()}
    arrays["meta"] = np.array(json.dumps(meta))

    def write(tmp):
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    write_atomic(os.fspath(path), write)
    return os.fspath(path)


def read(model, path):
    """(meta, params, states) of the checkpoint at path; ValueError naming the file
    when it is empty, truncated, not a checkpoint, another spec's or another
    version's, or misses an array or has one of the wrong shape."""
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            if "meta" not in data.files:
                raise ValueError("no checkpoint metadata")
            meta = json.loads(str(data["meta"]))
            if not isinstance(meta, dict):
                raise ValueError("its metadata is not a dict")
            if meta.get("spec_digest") != model.spec_digest:
                raise _Refused(f"checkpoint of spec {meta.get('name')!r} (digest "
                               f"{str(meta.get('spec_digest'))[:12]}), not of this module's spec "
                               f"{model.name!r} (digest {model.spec_digest[:12]})")
            if meta.get("checkpoint_version") not in READS:
                raise _Refused(f"checkpoint version {meta.get('checkpoint_version')} is not "
                               f"supported (this module reads {', '.join(map(str, READS))})")
            params = [data[f"param_{i}"] for i in range(len(model.param_names))]
            states = {name: [np.array(data[f"state_{name}_{i}"], dtype=model.dtype)
                             for i in range(len(model.param_names))] for name in model.state_names}
            for key in ("t", "seed", "hyper", "training", "rng", "history"):
                if key not in meta:
                    raise ValueError(f"its metadata has no {key!r}")
    except _Refused as err:
        raise ValueError(f"{path}: {err}") from None
    except FileNotFoundError:
        raise
    except (ValueError, KeyError, EOFError, OSError, zipfile.BadZipFile, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a whole gradgen checkpoint of {model.name!r} "
                         f"({type(err).__name__}: {err})") from None
    # the widths may differ from the spec's (the Estimator's): each parameter needs its
    # rank, and each state the shape of its parameter
    for i, (value, shape) in enumerate(zip(params, model.param_shapes)):
        if value.ndim != len(shape):
            raise ValueError(f"{path}: params array {i} has shape {value.shape}, expected {len(shape)}-D")
    for name, values in states.items():
        for i, (value, param) in enumerate(zip(values, params)):
            if value.shape != param.shape:
                raise ValueError(f"{path}: {name} array {i} has shape {value.shape}, expected {param.shape}")
    return meta, params, states


class _Refused(Exception):
    """A whole checkpoint, but not one this module can resume."""
