"""`gradgen check`: the generated gradients against central finite differences (float64)."""
import tempfile

import numpy as np

from derive.spec import load_spec

from codegen.generator import generate
from .loader import import_generated

TOLERANCE = 1e-5
MAX_COORDINATES = 3000


def _targets(module, rng, n, k):
    if module.TASK == "multiclass":
        return rng.integers(0, k, size=n)
    if module.TASK == "binary":
        return rng.integers(0, 2, size=(n, k)).astype(np.float64)
    return rng.normal(size=(n, k))


def gradient_check(spec, seed=0, batch=8, h=1e-5):
    """(worst relative error, where, coordinates checked) for random params and data.

    Relative error per coordinate: |g - fd| / max(|g| + |fd|, 1e-6). The floor keeps
    finite-difference rounding (~1e-11 absolute at h = 1e-5) on near-zero gradients
    from reading as error: an exact gradient scores ~1e-8 or better, a wrong one ~1."""
    spec = load_spec(spec)
    data = spec.to_dict()
    data["dtype"] = "float64"
    with tempfile.TemporaryDirectory(prefix="gradgen-check-") as tmp:
        module = import_generated(generate(data, out_dir=tmp))
        rng = np.random.default_rng(seed)
        params = [p + rng.normal(scale=0.1, size=p.shape) for p in module.init_params(seed)]
        X = rng.normal(size=(batch, spec.inputs))
        y = _targets(module, rng, batch, spec.layers[-1].units)
        _, grads = module.loss_and_grad(params, X, y)
        coords = [(i, idx) for i, p in enumerate(params) for idx in np.ndindex(p.shape)]
        if len(coords) > MAX_COORDINATES:
            picks = rng.choice(len(coords), size=MAX_COORDINATES, replace=False)
            coords = [coords[c] for c in sorted(picks)]
        worst, where = 0.0, None
        for i, idx in coords:
            old = params[i][idx]
            params[i][idx] = old + h
            up = module.loss(params, X, y)
            params[i][idx] = old - h
            down = module.loss(params, X, y)
            params[i][idx] = old
            fd = (up - down) / (2 * h)
            g = grads[i][idx]
            err = abs(g - fd) / max(abs(g) + abs(fd), 1e-6)
            if err > worst or where is None:
                worst, where = err, f"{module.PARAM_NAMES[i]}{list(idx)}"
        return worst, where, len(coords)
