"""Hand-written NumPy: what plain code costs, and the float64 check's reference without PyTorch."""
import numpy as np

from system_base import System
from workloads import batches, epoch_mean, one_hot


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
        if kind == "elu":
            return np.where(z > 0, z, np.expm1(np.minimum(z, 0)))
        if kind == "leaky_relu":
            return np.where(z > 0, z, 0.01 * z)
        return z                      # identity; softmax: the logits (the loss takes them)

    def _dact(self, kind, a):
        """The derivative from the activation's output a."""
        if kind == "sigmoid":
            return a * (1 - a)
        if kind == "tanh":
            return 1 - a * a
        if kind == "relu":
            return (a > 0).astype(a.dtype)
        if kind == "elu":
            return np.where(a > 0, 1, a + 1).astype(a.dtype)
        if kind == "leaky_relu":
            return np.where(a > 0, 1, 0.01).astype(a.dtype)
        return np.ones_like(a)        # identity

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
        if self.wl.optimizer == "rmsprop":       # not centered, no momentum
            alpha, eps = h.get("alpha", 0.99), self.dtype.type(h.get("eps", 1e-8))
            for p, g, v in zip(self.params, grads, self.state):
                v *= alpha
                v += (1 - alpha) * g * g
                p -= lr * g / (np.sqrt(v) + eps)
            return
        if self.wl.optimizer == "adamw":         # decoupled weight decay, then Adam's step
            for p in self.params:
                p *= 1 - h["lr"] * h.get("weight_decay", 1e-2)
        if self.wl.optimizer in ("adam", "adamw"):
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
