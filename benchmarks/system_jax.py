"""JAX, two ways: one jitted step per batch, and lax.scan over the whole epoch."""
import numpy as np

from system_base import System, _installed
from workloads import batches, epoch_mean


def _jax_model(wl, dtype):
    """Pure functions (loss, one optimizer step with torch.optim's semantics) for JAX."""
    import jax
    import jax.numpy as jnp

    acts = {"sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh, "relu": jax.nn.relu, "elu": jax.nn.elu,
            "leaky_relu": lambda z: jax.nn.leaky_relu(z, 0.01),
            "identity": lambda z: z, "softmax": lambda z: z}     # softmax: in the loss, from the logits

    def loss_fn(params, x, y):
        a = x
        for i, layer in enumerate(wl.layers):
            z = a @ params[2 * i] + params[2 * i + 1]
            a = acts[layer.activation](z)
        if wl.loss == "cross_entropy":
            lse = jax.nn.logsumexp(a, axis=1)
            return jnp.mean(lse - jnp.take_along_axis(a, y[:, None], axis=1)[:, 0])
        return jnp.mean((a - y) ** 2)

    grad_fn = jax.value_and_grad(loss_fn)
    h = wl.hyper
    dt = jnp.dtype(dtype)

    def init_state(params):
        zeros = [jnp.zeros_like(p) for p in params]
        if wl.optimizer in ("adam", "adamw"):
            return (jnp.zeros((), jnp.int32), zeros, [jnp.zeros_like(p) for p in params])
        return (jnp.zeros((), jnp.int32), zeros)      # sgd: momentum buffers; rmsprop: square_avg

    def step(params, state, x, y):
        loss, grads = grad_fn(params, x, y)
        t = state[0] + 1
        lr = jnp.asarray(h["lr"], dt)
        if wl.optimizer == "rmsprop":       # not centered, no momentum; torch's defaults
            alpha, eps = jnp.asarray(h.get("alpha", 0.99), dt), jnp.asarray(h.get("eps", 1e-8), dt)
            v = [alpha * vi + (1 - alpha) * g * g for vi, g in zip(state[1], grads)]
            params = [p - lr * g / (jnp.sqrt(vi) + eps) for p, g, vi in zip(params, grads, v)]
            return params, (t, v), loss
        if wl.optimizer == "adamw":        # decoupled weight decay first, then Adam's step
            params = [p * jnp.asarray(1 - h["lr"] * h.get("weight_decay", 1e-2), dt) for p in params]
        if wl.optimizer in ("adam", "adamw"):
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
