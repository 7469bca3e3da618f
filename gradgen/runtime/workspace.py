"""The arrays a fused epoch works in, made once per trainer and kept between calls."""
import numpy as np

from . import threads
from .kernels import gather


class EpochWork:
    """The parameters packed into one flat buffer (`live`) with views W1, b1, ...
    into it; a second buffer (`scratch`) of the same layout with views gW1, gb1,
    ..., which first receives the gradients and then, from the optimizer, the new
    parameters (the epoch swaps the two when every new value is finite); each
    optimizer state packed in the same layout; the ranges of the flat buffer the
    optimizer steps (each layer's, or each thread's blocks: threads.shares); per
    batch size, the Z (where the layer keeps it), A and delta buffers of each
    layer, and H (its dropped activations) where it has dropout; and buffers for shuffled rows. load() and finish() copy the trainer's
    arrays in and out: the arrays here are a cache, never state."""

    def __init__(self, params, x_cols, y_cols, state_names, keeps_z, dtype, dropout=()):
        self.key = self._key(params, x_cols, y_cols)
        self.shapes = [p.shape for p in params]
        self.offsets = np.concatenate([[0], np.cumsum([p.size for p in params])]).astype(np.int64)
        total = int(self.offsets[-1])
        self.dtype, self.state_names, self.keeps_z = dtype, tuple(state_names), tuple(keeps_z)
        self.dropout = tuple(bool(p) for p in dropout) or (False,) * len(self.keeps_z)   # per layer: an H buffer
        self.live, self.scratch = np.empty(total, dtype), np.empty(total, dtype)
        self.states = [np.empty(total, dtype) for _ in self.state_names]
        self.views = {id(buf): [self._view(buf, i, shape) for i, shape in enumerate(self.shapes)]
                      for buf in [self.live, self.scratch] + self.states}
        # layer l's W_l and b_l: flat[offsets[2l-2]:offsets[2l]], learning-rate group l-1
        self.ranges = np.array([(self.offsets[i], self.offsets[i + 2], i // 2) for i in range(0, len(params), 2)],
                               np.uint64)
        self.x_cols, self.y_cols = x_cols, y_cols
        self.layer_buffers, self.split, self.blocks = {}, {}, {}
        self.gathered = None

    def __reduce__(self):
        """A copied or pickled trainer makes its buffers afresh (these are views into the
        flat buffers, which a copy would not keep)."""
        return type(None), ()

    @staticmethod
    def _key(params, x_cols, y_cols):
        return (tuple(p.shape for p in params), x_cols, y_cols)

    def fits(self, params, x_cols, y_cols):
        return self.key == self._key(params, x_cols, y_cols)

    def _view(self, buf, i, shape):
        return buf[self.offsets[i]:self.offsets[i + 1]].reshape(shape)

    def args(self, rows, swapped):
        """The epoch's last arguments (live, scratch, W1, b1, gW1, gb1, ..., states,
        layer buffers), for batches of `rows` rows; with swapped, the scratch buffer
        holds the current parameters (and the live one becomes the scratch)."""
        if rows not in self.layer_buffers:
            buffers = []
            for i, (keeps_z, dropped) in enumerate(zip(self.keeps_z, self.dropout)):
                width = self.shapes[2 * i][1]
                buffers += [np.empty((rows, width), self.dtype)
                            for _ in range((3 if keeps_z else 2) + dropped)]   # Z, A, D, and H (dropped A)
            self.layer_buffers[rows] = buffers
        live, scratch = (self.scratch, self.live) if swapped else (self.live, self.scratch)
        args = [live, scratch]
        for i in range(0, len(self.shapes), 2):
            for buf in (live, scratch):
                args += self.views[id(buf)][i:i + 2]
        return args + self.states + self.layer_buffers[rows]

    def shares(self, nth):
        """Each of nth threads' (blocks, ranges) of the parameters (threads.shares)."""
        if nth not in self.split:
            self.split[nth] = threads.shares(self.shapes, self.offsets, nth)
        return self.split[nth]

    def forward_blocks(self, rows, nth):
        """Each of nth threads' blocks of the hidden layers' forward products for
        batches of `rows` rows (threads.forward_blocks)."""
        if (rows, nth) not in self.blocks:
            self.blocks[rows, nth] = threads.forward_blocks(self.shapes, rows, nth)
        return self.blocks[rows, nth]

    def gather(self, X, Y, rows):
        """X[rows], Y[rows] copied into buffers kept for the next call (views of them)."""
        if self.gathered is None or self.gathered[0].shape[0] < len(rows):
            self.gathered = (np.empty((len(rows), self.x_cols), self.dtype),
                             np.empty((len(rows), self.y_cols), self.dtype))
        Xg, Yg = self.gathered[0][:len(rows)], self.gathered[1][:len(rows)]
        gather(X, rows, Xg)
        gather(Y, rows, Yg)
        return Xg, Yg

    def load(self, params, state):
        """Copy the trainer's parameters and optimizer states in."""
        for buf, arrays in zip([self.live] + self.states, [params] + [state[name] for name in self.state_names]):
            np.concatenate([a.reshape(-1) for a in arrays], out=buf)

    def finish(self, params, state, swapped):
        """Copy the final parameters and states back into the trainer's arrays."""
        for buf, arrays in zip([self.scratch if swapped else self.live] + self.states,
                               [params] + [state[name] for name in self.state_names]):
            for a, view in zip(arrays, self.views[id(buf)]):
                a[...] = view
