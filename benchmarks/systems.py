"""The systems the benchmark compares. Each one trains a workload's network on the
same data, from the same initial weights, with the same batches (no shuffling).

A system has
    missing()             -> None, or why it cannot run here (not installed, does not apply)
    setup(wl, dtype, X, y, params)   builds the model; no training, no compilation
    run(epochs)           -> [mean loss of each epoch]  (the timed call)
    batch_losses()        -> per-batch losses of one epoch, or None (the float64 check)

The peers are written as a user of each library would write them: idiomatic code,
the library's own optimizer where it has one, data staged once before timing.
"""
import importlib.util
import tempfile

import numpy as np

from workloads import batches, epoch_mean, gemm_shapes, one_hot


def _installed(module):
    return importlib.util.find_spec(module) is not None


class System:
    name = ""
    label = ""
    note = ""

    def missing(self, wl):
        return None

    def setup(self, wl, dtype, X, y, params):
        raise NotImplementedError

    def run(self, epochs):
        raise NotImplementedError

    def batch_losses(self):
        return None


# ------------------------------------------------------------------ gradgen
class Gradgen(System):
    name, label = "gradgen", "gradgen (Numba)"
    note = ("Trainer.fit(X, y, epochs=k, shuffle=False); the module is generated into a fresh "
            "folder (cold Numba cache); the first epoch includes importing it and compiling")

    _modules = {}       # (workload, dtype) -> (folder, path, module): one per process

    def setup(self, wl, dtype, X, y, params):
        from codegen import generate
        from workloads import gradgen_spec
        key = (wl.id, dtype)
        if key not in self._modules:
            folder = tempfile.TemporaryDirectory(prefix="gradgen_bench_")
            path = generate(gradgen_spec(wl, dtype), out_dir=folder.name)
            self._modules[key] = [folder, path, None]
        self.key, self.wl, self.X, self.y = key, wl, X, y
        self.params = [p.astype(dtype) for p in params]
        self.trainer = None

    def _trainer(self):
        """Import the module (first use) and make the trainer: part of the first epoch."""
        if self.trainer is None:
            entry = self._modules[self.key]
            if entry[2] is None:
                from gradgen.loader import import_generated
                entry[2] = import_generated(entry[1])
            self.trainer = entry[2].Trainer(params=self.params)
        return self.trainer

    def run(self, epochs):
        history = self._trainer().fit(self.X, self.y, epochs=epochs, batch_size=self.wl.batch_size,
                                      shuffle=False, progress=False)
        return list(history.loss)

    def batch_losses(self):
        """Per-batch losses through Trainer.step (the same compiled epoch, one batch at a time)."""
        trainer = self._trainer()
        return [trainer.step(self.X[s:e], self.y[s:e])
                for s, e in batches(len(self.X), self.wl.batch_size)]


# ------------------------------------------------------------ PyTorch eager
class TorchEager(System):
    name, label = "torch", "PyTorch eager"
    note = "nn.Sequential + torch.optim, loss.backward(), set_num_threads(2)"

    def missing(self, wl):
        return None if _installed("torch") else "torch is not installed"

    def setup(self, wl, dtype, X, y, params):
        import torch
        from torch import nn
        torch.set_num_threads(2)
        tdtype = getattr(torch, dtype)
        mods = []
        for i, layer in enumerate(wl.layers):
            W, b = params[2 * i], params[2 * i + 1]
            lin = nn.Linear(W.shape[0], W.shape[1], dtype=tdtype)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
                lin.bias.copy_(torch.from_numpy(b))
            mods.append(lin)
            act = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}.get(layer.activation)
            if act is not None:           # softmax lives in cross_entropy (from the logits)
                mods.append(act())
        self.model = nn.Sequential(*mods)
        kw = dict(wl.hyper)
        self.opt = (torch.optim.Adam(self.model.parameters(), **kw) if wl.optimizer == "adam"
                    else torch.optim.SGD(self.model.parameters(), **kw))
        self.loss_fn = (torch.nn.functional.cross_entropy if wl.loss == "cross_entropy"
                        else torch.nn.functional.mse_loss)
        self.wl, self.X, self.y = wl, torch.from_numpy(X), torch.from_numpy(y)
        self.slices = batches(len(X), wl.batch_size)
        self.torch = torch

    def _epoch(self):
        losses = []
        for s, e in self.slices:
            self.opt.zero_grad(set_to_none=True)
            loss = self.loss_fn(self.model(self.X[s:e]), self.y[s:e])
            loss.backward()
            self.opt.step()
            losses.append(loss.detach())
        return self.torch.stack(losses).numpy()

    def run(self, epochs):
        return [epoch_mean(self._epoch(), len(self.X), self.wl.batch_size) for _ in range(epochs)]

    def batch_losses(self):
        return [float(v) for v in self._epoch()]


# --------------------------------------------------------------------- JAX
def _jax_model(wl, dtype):
    """Pure functions (loss, one optimizer step with torch.optim's semantics) for JAX."""
    import jax
    import jax.numpy as jnp

    acts = {"sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh, "relu": jax.nn.relu}

    def loss_fn(params, x, y):
        a = x
        for i, layer in enumerate(wl.layers):
            z = a @ params[2 * i] + params[2 * i + 1]
            a = acts[layer.activation](z) if layer.activation != "softmax" else z
        if wl.loss == "cross_entropy":
            lse = jax.nn.logsumexp(a, axis=1)
            return jnp.mean(lse - jnp.take_along_axis(a, y[:, None], axis=1)[:, 0])
        return jnp.mean((a - y) ** 2)

    grad_fn = jax.value_and_grad(loss_fn)
    h = wl.hyper
    dt = jnp.dtype(dtype)

    def init_state(params):
        zeros = [jnp.zeros_like(p) for p in params]
        if wl.optimizer == "adam":
            return (jnp.zeros((), jnp.int32), zeros, [jnp.zeros_like(p) for p in params])
        return (jnp.zeros((), jnp.int32), zeros)

    def step(params, state, x, y):
        loss, grads = grad_fn(params, x, y)
        t = state[0] + 1
        lr = jnp.asarray(h["lr"], dt)
        if wl.optimizer == "adam":
            b1, b2, eps = jnp.asarray(0.9, dt), jnp.asarray(0.999, dt), jnp.asarray(1e-8, dt)
            tf = t.astype(dt)
            bc1, bc2 = 1 - b1 ** tf, 1 - b2 ** tf
            m = [b1 * mi + (1 - b1) * g for mi, g in zip(state[1], grads)]
            v = [b2 * vi + (1 - b2) * g * g for vi, g in zip(state[2], grads)]
            params = [p - (lr / bc1) * mi / (jnp.sqrt(vi) / jnp.sqrt(bc2) + eps)
                      for p, mi, vi in zip(params, m, v)]
            return params, (t, m, v), loss
        mom = h.get("momentum", 0.0)
        if mom:
            mom = jnp.asarray(mom, dt)
            buf = [jnp.where(t == 1, g, mom * b + g) for b, g in zip(state[1], grads)]
            params = [p - lr * b for p, b in zip(params, buf)]
            return params, (t, buf), loss
        return [p - lr * g for p, g in zip(params, grads)], (t, state[1]), loss

    return init_state, step


class _Jax(System):
    def missing(self, wl):
        return None if _installed("jax") else "jax is not installed (pip install jax jaxlib)"

    def setup(self, wl, dtype, X, y, params):
        import jax
        if dtype == "float64":
            jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        self.jax, self.jnp = jax, jnp
        self.wl = wl
        init_state, self.step = _jax_model(wl, dtype)
        self.params = [jnp.asarray(p.astype(dtype)) for p in params]
        self.state = init_state(self.params)
        self.n = len(X)
        self._stage(X, y)

    def run(self, epochs):
        return [epoch_mean(self._epoch(), self.n, self.wl.batch_size) for _ in range(epochs)]

    def batch_losses(self):
        return [float(v) for v in self._epoch()]


class JaxJit(_Jax):
    name, label = "jax_jit", "JAX jit (one step)"
    note = "jax.jit of one training step, called per batch from Python; batches staged on the device once"

    def _stage(self, X, y):
        self.jstep = self.jax.jit(self.step, donate_argnums=(0, 1))
        self.data = [(self.jnp.asarray(X[s:e]), self.jnp.asarray(y[s:e]))
                     for s, e in batches(len(X), self.wl.batch_size)]

    def _epoch(self):
        losses = []
        for xb, yb in self.data:
            self.params, self.state, loss = self.jstep(self.params, self.state, xb, yb)
            losses.append(loss)
        return np.asarray(self.jnp.stack(losses))


class JaxScan(_Jax):
    name, label = "jax_scan", "JAX lax.scan (epoch)"
    note = "jax.jit of lax.scan over the epoch's full batches (+ one jitted step for a partial last batch)"

    def _stage(self, X, y):
        jax, jnp, B = self.jax, self.jnp, self.wl.batch_size
        full = len(X) // B
        step = self.step

        def epoch(params, state, xs, ys):
            def body(carry, batch):
                p, s = carry
                p, s, loss = step(p, s, batch[0], batch[1])
                return (p, s), loss
            (params, state), losses = jax.lax.scan(body, (params, state), (xs, ys))
            return params, state, losses

        self.jepoch = jax.jit(epoch, donate_argnums=(0, 1))
        self.jstep = jax.jit(step, donate_argnums=(0, 1))
        self.xs = jnp.asarray(X[:full * B].reshape(full, B, *X.shape[1:]))
        self.ys = jnp.asarray(y[:full * B].reshape(full, B, *y.shape[1:]))
        self.rest = ((jnp.asarray(X[full * B:]), jnp.asarray(y[full * B:]))
                     if full * B < len(X) else None)

    def _epoch(self):
        self.params, self.state, losses = self.jepoch(self.params, self.state, self.xs, self.ys)
        losses = [losses]
        if self.rest is not None:
            self.params, self.state, loss = self.jstep(self.params, self.state, *self.rest)
            losses.append(loss[None])
        return np.asarray(self.jnp.concatenate(losses))


# ------------------------------------------------------------- scikit-learn
class Sklearn(System):
    name, label = "sklearn", "scikit-learn MLPClassifier"
    note = "partial_fit per epoch (shuffle=False, alpha=0), weights and optimizer state set before"
    ACTIVATION = {"tanh": "tanh", "relu": "relu", "sigmoid": "logistic", "identity": "identity"}

    def missing(self, wl):
        if not _installed("sklearn"):
            return "scikit-learn is not installed"
        if wl.loss != "cross_entropy":
            return "MLPClassifier trains log-loss, not this workload's mse"
        hidden = {l.activation for l in wl.layers[:-1]}
        if (len(hidden) != 1 or not hidden <= set(self.ACTIVATION)
                or wl.layers[-1].activation != "softmax"):
            return "MLPClassifier has no such network (one hidden activation of its four, softmax out)"
        return None

    def setup(self, wl, dtype, X, y, params):
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        h = wl.hyper
        kw = dict(solver=wl.optimizer, learning_rate_init=h["lr"], alpha=0.0,
                  batch_size=wl.batch_size, shuffle=False, max_iter=1, tol=0.0,
                  n_iter_no_change=10 ** 9, random_state=0)
        if wl.optimizer == "sgd":
            kw.update(momentum=h.get("momentum", 0.0), nesterovs_momentum=False,
                      learning_rate="constant")
        self.clf = MLPClassifier(hidden_layer_sizes=tuple(l.units for l in wl.layers[:-1]),
                                 activation=self.ACTIVATION[wl.layers[0].activation], **kw)
        classes = np.arange(wl.classes)
        self.clf.partial_fit(X[:wl.batch_size], y[:wl.batch_size], classes=classes)
        self.clf.coefs_ = [p.astype(dtype).copy() for p in params[0::2]]
        self.clf.intercepts_ = [p.astype(dtype).copy() for p in params[1::2]]
        del self.clf._optimizer          # the next partial_fit makes a fresh one on these arrays
        self.X, self.y = X, y

    def run(self, epochs):
        out = []
        for _ in range(epochs):
            self.clf.partial_fit(self.X, self.y)
            out.append(float(self.clf.loss_))
        return out


# -------------------------------------------------------------------- NumPy
class NumpyRef(System):
    name, label = "numpy", "NumPy (hand-written)"
    note = "forward/backward/optimizer in vectorised NumPy, allocating as plain code does"

    def setup(self, wl, dtype, X, y, params):
        self.wl, self.X = wl, X
        self.Y = one_hot(y, wl.classes, X.dtype) if wl.classes else y
        self.params = [p.astype(dtype) for p in params]
        self.state = [np.zeros_like(p) for p in self.params]
        self.state2 = [np.zeros_like(p) for p in self.params]
        self.t = 0
        self.dtype = np.dtype(dtype)

    def _act(self, kind, z):
        if kind == "sigmoid":
            return 1 / (1 + np.exp(-z))
        if kind == "tanh":
            return np.tanh(z)
        if kind == "relu":
            return np.maximum(z, 0)
        return z

    def _dact(self, kind, a):
        if kind == "sigmoid":
            return a * (1 - a)
        if kind == "tanh":
            return 1 - a * a
        return (a > 0).astype(a.dtype)

    def _step(self, x, y):
        wl, P = self.wl, self.params
        acts = [x]
        for i, layer in enumerate(wl.layers):
            z = acts[-1] @ P[2 * i] + P[2 * i + 1]
            acts.append(self._act(layer.activation, z))
        m = len(x)
        out = acts[-1]
        if wl.loss == "cross_entropy":
            zmax = out.max(axis=1, keepdims=True)
            e = np.exp(out - zmax)
            s = e.sum(axis=1, keepdims=True)
            loss = float(np.mean((zmax + np.log(s))[:, 0] - (out * y).sum(axis=1)))
            delta = (e / s - y) / m
        else:
            diff = out - y
            loss = float(np.mean(diff * diff))
            delta = 2 * diff / diff.size * self._dact(wl.layers[-1].activation, out)
        grads = [None] * len(P)
        for i in reversed(range(len(wl.layers))):
            grads[2 * i] = acts[i].T @ delta
            grads[2 * i + 1] = delta.sum(axis=0)
            if i:
                delta = (delta @ P[2 * i].T) * self._dact(wl.layers[i - 1].activation, acts[i])
        self._update(grads)
        return loss

    def _update(self, grads):
        h = self.wl.hyper
        self.t += 1
        lr = self.dtype.type(h["lr"])
        if self.wl.optimizer == "adam":
            b1, b2, eps = 0.9, 0.999, 1e-8
            step = self.dtype.type(h["lr"] / (1 - b1 ** self.t))
            root_bc2 = self.dtype.type(np.sqrt(1 - b2 ** self.t))
            for p, g, m, v in zip(self.params, grads, self.state, self.state2):
                m *= b1
                m += (1 - b1) * g
                v *= b2
                v += (1 - b2) * g * g
                p -= step * m / (np.sqrt(v) / root_bc2 + self.dtype.type(eps))
            return
        mom = h.get("momentum", 0.0)
        for p, g, buf in zip(self.params, grads, self.state):
            if mom:
                if self.t == 1:
                    buf[...] = g
                else:
                    buf *= mom
                    buf += g
                g = buf
            p -= lr * g

    def _epoch(self):
        return [self._step(self.X[s:e], self.Y[s:e])
                for s, e in batches(len(self.X), self.wl.batch_size)]

    def run(self, epochs):
        return [epoch_mean(self._epoch(), len(self.X), self.wl.batch_size) for _ in range(epochs)]

    def batch_losses(self):
        return self._epoch()


# ------------------------------------------------------------- GEMM floor
class GemmFloor(System):
    name, label = "floor", "GEMM floor (NumPy)"
    note = "one epoch's matrix products alone: np.dot(a, b, out=) on preallocated operands"

    def setup(self, wl, dtype, X, y, params):
        self.X = X
        rng = np.random.default_rng(0)
        by_rows = {}
        self.plan = []
        for s, e in batches(len(X), wl.batch_size):
            if e - s not in by_rows:
                ops = []
                for kind, layer, a, b, ta, tb in gemm_shapes(wl, e - s):
                    # the first layer's products read the batch's rows of X itself
                    A = None if layer == 0 and kind != "delta" else rng.standard_normal(a).astype(dtype)
                    B = rng.standard_normal(b).astype(dtype)
                    out = np.empty((a[1] if ta else a[0], b[0] if tb else b[1]), dtype)
                    ops.append((A, B, ta, tb, out))
                by_rows[e - s] = ops
            self.plan.append((s, e, by_rows[e - s]))

    def run(self, epochs):
        for _ in range(epochs):
            for s, e, ops in self.plan:
                xb = self.X[s:e]
                for A, B, ta, tb, out in ops:
                    A = xb if A is None else A
                    np.dot(A.T if ta else A, B.T if tb else B, out=out)
        return [0.0] * epochs


SYSTEMS = {s.name: s for s in (Gradgen, TorchEager, JaxJit, JaxScan, Sklearn, NumpyRef, GemmFloor)}
ORDER = ["gradgen", "torch", "jax_jit", "jax_scan", "sklearn", "numpy", "floor"]
