"""PyTorch eager, the reference of the float64 check where it is installed."""
import numpy as np

from system_base import System, _installed
from workloads import batches, epoch_mean


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
            # LeakyReLU's default slope is 0.01; softmax lives in cross_entropy (from the logits)
            act = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU,
                   "leaky_relu": nn.LeakyReLU, "identity": None, "softmax": None}[layer.activation]
            if act is not None:
                mods.append(act())
        self.model = nn.Sequential(*mods)
        kw = dict(wl.hyper)
        opt = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop,
               "adamw": torch.optim.AdamW}[wl.optimizer]
        self.opt = opt(self.model.parameters(), **kw)
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
