"""A plain one-thread Numba epoch, written by hand: the reference gradgen must never
fall below (issue 19). What a user who knows Numba would write in an afternoon:
np.dot for the products (Numba's BLAS, one thread here), each layer's bias,
activation and derivative as one fused loop, the optimizer as one loop per
parameter, the whole epoch one compiled call; no threads of its own, no intrinsics."""
import math

import numpy as np
from numba import njit

from system_base import System, _installed
from workloads import epoch_mean, one_hot

ACTS = {"sigmoid": 0, "tanh": 1, "relu": 2, "softmax": 3, "identity": 4, "elu": 5, "leaky_relu": 6}
OPTS = {"sgd": 0, "adam": 1, "rmsprop": 2, "adamw": 3}


@njit(cache=True, nogil=True, error_model="numpy")
def activate(Z, b, kind):
    for r in range(Z.shape[0]):
        for c in range(Z.shape[1]):
            z = Z[r, c] + b[c]
            if kind == 0:
                Z[r, c] = 1 / (1 + math.exp(-z))
            elif kind == 1:
                Z[r, c] = math.tanh(z)
            elif kind == 2:
                Z[r, c] = z if z > 0 else 0
            elif kind == 5:
                Z[r, c] = z if z > 0 else math.expm1(z)
            elif kind == 6:
                Z[r, c] = z if z > 0 else 0.01 * z
            else:
                Z[r, c] = z


@njit(cache=True, nogil=True, error_model="numpy")
def derivative(D, A, kind):
    for r in range(D.shape[0]):
        for c in range(D.shape[1]):
            a = A[r, c]
            if kind == 0:
                D[r, c] *= a * (1 - a)
            elif kind == 1:
                D[r, c] *= 1 - a * a
            elif kind == 2:
                D[r, c] = D[r, c] if a > 0 else 0
            elif kind == 5 and a <= 0:
                D[r, c] *= a + 1
            elif kind == 6 and a <= 0:
                D[r, c] *= 0.01


@njit(cache=True, nogil=True, error_model="numpy")
def slope(a, kind):
    """The output activation's derivative, from its value a."""
    if kind == 0:
        return a * (1 - a)
    if kind == 1:
        return 1 - a * a
    if kind == 2:
        return 1.0 if a > 0 else 0.0
    if kind == 5:
        return 1.0 if a > 0 else a + 1
    if kind == 6:
        return 1.0 if a > 0 else 0.01
    return 1.0


@njit(cache=True, nogil=True, error_model="numpy")
def output_delta(A, Y, D, cross_entropy, kind):
    """Softmax + cross-entropy (from the logits in A, then A = softmax), or the
    output activation + mse; D = dL/dZ; returns the batch's mean loss."""
    m, k = A.shape
    total = 0.0
    if cross_entropy:
        for r in range(m):
            zmax = A[r, 0]
            for c in range(k):
                zmax = max(zmax, A[r, c])
            s = 0.0
            for c in range(k):
                s += math.exp(A[r, c] - zmax)
            lse = zmax + math.log(s)
            for c in range(k):
                total += Y[r, c] * (lse - A[r, c])
                D[r, c] = (math.exp(A[r, c] - lse) - Y[r, c]) / m
        return total / m
    for r in range(m):
        for c in range(k):
            diff = A[r, c] - Y[r, c]
            total += diff * diff
            D[r, c] = 2 * diff / (m * k) * slope(A[r, c], kind)
    return total / (m * k)


@njit(cache=True, nogil=True, error_model="numpy")
def step(p, g, m, v, t, opt, lr, momentum, alpha, eps, weight_decay):
    flat_p, flat_g, flat_m, flat_v = p.ravel(), g.ravel(), m.ravel(), v.ravel()
    if opt == 3:                   # adamw: decoupled weight decay, then Adam's step
        for i in range(flat_p.size):
            flat_p[i] *= 1 - lr * weight_decay
    if opt == 1 or opt == 3:
        step_size = lr / (1 - 0.9 ** t)
        root = math.sqrt(1 - 0.999 ** t)
        for i in range(flat_p.size):
            flat_m[i] = 0.9 * flat_m[i] + 0.1 * flat_g[i]
            flat_v[i] = 0.999 * flat_v[i] + 0.001 * flat_g[i] * flat_g[i]
            flat_p[i] -= step_size * flat_m[i] / (math.sqrt(flat_v[i]) / root + 1e-8)
    elif opt == 2:                 # rmsprop, not centered, no momentum
        for i in range(flat_p.size):
            flat_v[i] = alpha * flat_v[i] + (1 - alpha) * flat_g[i] * flat_g[i]
            flat_p[i] -= lr * flat_g[i] / (math.sqrt(flat_v[i]) + eps)
    elif momentum != 0:
        for i in range(flat_p.size):
            flat_m[i] = flat_g[i] if t == 1 else momentum * flat_m[i] + flat_g[i]
            flat_p[i] -= lr * flat_m[i]
    else:
        for i in range(flat_p.size):
            flat_p[i] -= lr * flat_g[i]


@njit(cache=True, nogil=True, error_model="numpy")
def epoch(X, Y, Ws, bs, Ms, Vs, Mb, Vb, kinds, batch, cross_entropy, opt, hyper, t, losses):
    lr, momentum, alpha, eps, weight_decay = hyper
    n, layers = X.shape[0], len(Ws)
    for bi in range((n + batch - 1) // batch):
        x, y = X[bi * batch:(bi + 1) * batch], Y[bi * batch:(bi + 1) * batch]
        acts = [x]
        for l in range(layers):
            Z = np.dot(acts[l], Ws[l])
            activate(Z, bs[l], kinds[l] if l < layers - 1 or not cross_entropy else 4)
            acts.append(Z)
        D = np.empty_like(acts[layers])
        losses[bi] = output_delta(acts[layers], y, D, cross_entropy, kinds[layers - 1])
        t += 1
        for l in range(layers - 1, -1, -1):
            gW, gb = np.dot(acts[l].T, D), D.sum(axis=0)
            if l:
                D = np.dot(D, Ws[l].T)
                derivative(D, acts[l], kinds[l - 1])
            step(Ws[l], gW, Ms[l], Vs[l], t, opt, lr, momentum, alpha, eps, weight_decay)
            step(bs[l], gb, Mb[l], Vb[l], t, opt, lr, momentum, alpha, eps, weight_decay)
    return t



class NumbaRef(System):
    name, label = "numba", "Numba (plain, 1 thread)"
    note = "one hand-written @njit epoch: np.dot, fused loops, BLAS on one thread"

    def missing(self, wl):
        if not _installed("numba") or not _installed("threadpoolctl"):
            return "numba or threadpoolctl not installed"
        if any(l.activation not in ACTS for l in wl.layers):
            return "an activation this reference does not write"
        if wl.optimizer not in OPTS:
            return "an optimizer this reference does not write"
        return None

    def setup(self, wl, dtype, X, y, params):
        from numba.typed import List
        from threadpoolctl import threadpool_limits
        self.limits = threadpool_limits(1)           # no threads of its own: BLAS on one too
        self.wl, self.X, self.n = wl, X, len(X)
        self.Y = one_hot(y, wl.classes, X.dtype) if wl.classes else y.reshape(len(X), -1).astype(X.dtype)
        cast = [np.array(p, dtype=dtype, order="C") for p in params]      # copies: it trains in place
        self.Ws, self.bs = List(cast[0::2]), List(cast[1::2])
        self.Ms, self.Vs = List([np.zeros_like(w) for w in cast[0::2]]), List([np.zeros_like(w) for w in cast[0::2]])
        self.Mb, self.Vb = List([np.zeros_like(b) for b in cast[1::2]]), List([np.zeros_like(b) for b in cast[1::2]])
        self.kinds = np.array([ACTS[l.activation] for l in wl.layers], np.int64)
        h = wl.hyper        # torch.optim's defaults where the workload leaves one out (adamw's decay)
        self.hyper = (h["lr"], h.get("momentum", 0.0), h.get("alpha", 0.99), h.get("eps", 1e-8),
                      h.get("weight_decay", 1e-2))
        self.t = 0
        self.epoch = epoch

    def _one(self):
        wl = self.wl
        losses = np.empty((self.n + wl.batch_size - 1) // wl.batch_size)
        self.t = self.epoch(self.X, self.Y, self.Ws, self.bs, self.Ms, self.Vs, self.Mb, self.Vb, self.kinds,
                            wl.batch_size, wl.loss == "cross_entropy", OPTS[wl.optimizer], self.hyper,
                            self.t, losses)
        return losses

    def run(self, epochs):
        return [epoch_mean(self._one(), self.n, self.wl.batch_size) for _ in range(epochs)]

    def batch_losses(self):
        return [float(v) for v in self._one()]
