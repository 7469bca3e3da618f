"""The Trainer every generated module binds to its kernels: the training loop
(batches, shuffling, threads, the schedule, validation, early stopping, best
weights, callbacks, progress, Ctrl-C, divergence), prediction, scoring and
checkpoints. A generated module subclasses it with its Model:
class Trainer(runtime.Trainer): model = MODEL."""
import difflib
import math
import time

import numpy as np

from . import checkpoint, threads, validation, weights
from .history import History
from .progress import DeferredInterrupt, progress_bar
from .schedule import ScheduleState
from .workspace import EpochWork

# shuffled rows are gathered in chunks of about this many bytes of X, then trained on
GATHER_BYTES = 1 << 21
# an epoch runs as compiled calls of about this many seconds each (sized from the
# last call's time per batch): between two, fit shows progress and takes Ctrl-C
CALL_SECONDS = 0.25


def _name(callback):
    return getattr(callback, "__qualname__", None) or type(callback).__name__


def _check_callbacks(callbacks):
    """A list of callables (None: none); TypeError naming the first that is not."""
    if callbacks is None:
        return []
    if callable(callbacks):
        callbacks = [callbacks]
    callbacks = list(callbacks)
    for n, callback in enumerate(callbacks):
        if not callable(callback):
            raise TypeError(f"callbacks[{n}] is {callback!r}, not a callable(trainer, epoch, logs)")
    return callbacks


class EpochAbandoned(Exception):
    """_run stopped between two compiled calls (Ctrl-C); the trainer is as before it."""


class DivergenceError(FloatingPointError):
    """Training produced a non-finite loss; Trainer.params keeps the last finite values."""


class Trainer:
    """Trains the model's network with its optimizer (see the generated module)."""
    model = None              # the generated module's Model

    def __init__(self, params=None, seed=0, **overrides):
        model = self.model
        self.params = model.init_params(seed) if params is None else validation.check_params(model, params)
        self.seed = seed
        self.hyper = dict(model.hyperparameters)
        self.training = dict(model.training, seed=seed)
        for key, value in overrides.items():
            if key in model.hyper_rules:
                self.hyper[key] = validation.check_hyper(model.hyper_rules, key, value)
            elif key in validation.TRAINING_TYPES:
                self.training[key] = validation.check_training(key, value)
            else:
                known = sorted(model.hyper_rules) + sorted(validation.TRAINING_TYPES)
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise TypeError(f"unknown setting {key!r}; {hint}{model.optimizer} and training take: "
                                + ", ".join(known))
        if model.check_settings is not None:
            model.check_settings(self.hyper)
        self.state = {name: [np.full_like(p, self.hyper[model.state_initial[name]]
                                          if name in model.state_initial else 0) for p in self.params]
                      for name in model.state_names}
        self.t = 0
        self.schedule = ScheduleState(model.schedule)
        self.class_weight = model.class_weight      # the spec's [loss] class_weight (the Estimator sets its own)
        self.record_masks, self.masks = False, None   # record_masks: keep the last run's dropout factors
        self.history = History()
        self._rng = np.random.default_rng(seed)
        self._pace = {}           # (batch size, threads) -> seconds per batch of the last call

    # -- settings as the kernels take them
    def _learning_rates(self):
        return np.array([self.hyper["learning_rate"] if lr is None else lr
                         for lr in self.model.layer_learning_rates], dtype=np.float64)

    def _hyper_vector(self):
        values = []
        for name in self.model.hyper_order:
            value = self.hyper[name]
            values.extend(value if isinstance(value, tuple) else [0.0 if value is None else float(value)])
        return np.array(values, dtype=np.float64)

    def _work(self, X, Y):
        """The epoch's buffers: the previous call's, if they fit."""
        work = getattr(self, "_epoch_work", None)
        if work is None or not work.fits(self.params, X.shape[1], Y.shape[1]):
            model = self.model
            work = self._epoch_work = EpochWork(self.params, X.shape[1], Y.shape[1], model.state_names,
                                                model.keeps_z, model.dtype, model.dropout)
        return work

    def _run(self, X, Y, order, batch_size, between=None, batches_per_epoch=None, row_weights=None):
        """Run the compiled epoch over the rows `order` of X, Y (None: all, in order); returns (per-batch
        losses, per-batch correct predictions, batch sizes, the groups' rates at the
        first batch); row_weights: each row's (runtime.weights), or None. The schedule sets
        the rates (batches_per_epoch: one_cycle's, on its first use; default this call's
        batches). The batches go in calls
        of about CALL_SECONDS each; between two, between(batches done, batches) is
        asked whether to stop, and a True raises EpochAbandoned with the trainer's
        parameters, states and step count untouched."""
        kernels = self.model.kernels
        n = X.shape[0] if order is None else len(order)
        n_batches = (n + batch_size - 1) // batch_size
        losses = np.full(n_batches, np.nan)
        correct = np.zeros(n_batches, dtype=np.int64)
        sequential = order is None
        work = self._work(X, Y)
        lrs, hypers = self.schedule.tables(self._learning_rates(), self._hyper_vector(), self.t, n_batches,
                                           self.training["epochs"], batches_per_epoch or n_batches)
        # which update the epoch compiles: the specialised one if every batch's settings are the spec's case
        any_case = None if all(kernels.spec_case(h) for h in hypers) else True
        full = n // batch_size * batch_size
        # rows per call at most: shuffled ones are gathered chunk by chunk
        most = full if sequential else batch_size * max(1, GATHER_BYTES // (batch_size * X[:1].nbytes))
        nth = threads.thread_count(batch_size, self.params)       # the last batch's too: one kernel
        if any(self.model.dropout):
            nth = 1                                                # dropout trains on one thread
        pace = self._pace

        def paced():
            """(lo, hi, rows) of each call, sized as the calls go."""
            lo = 0
            while lo < full:
                per_batch = pace.get((batch_size, nth))
                count = 1 if per_batch is None else max(1, int(CALL_SECONDS / per_batch))
                hi = min(lo + count * batch_size, lo + most, full)
                yield lo, hi, batch_size
                lo = hi
            if n > full:
                yield full, n, n - full                          # a smaller last batch

        def run(calls, ask):
            """The calls' batches from the trainer's parameters and states; returns
            (step count, whether the scratch buffer holds the parameters, status,
            batches run, the calls made)."""
            work.load(self.params, self.state)
            t, swapped, made = self.t, False, []
            for lo, hi, rows in calls:
                first = lo // batch_size
                if ask and made and between is not None and between(first, n_batches):
                    raise EpochAbandoned
                Xs, Ys = (X[lo:hi], Y[lo:hi]) if sequential else work.gather(X, Y, order[lo:hi])
                Ws = (None if row_weights is None else row_weights[lo:hi] if sequential
                      else row_weights[order[lo:hi]])
                if lo not in masks:                    # a replay (of fewer rows) runs on the masks drawn
                    masks[lo] = self._dropout_masks(hi - lo)
                mask = None if masks[lo] is None else masks[lo][:hi - lo]
                rates, settings_ = (lrs, hypers) if lrs.shape[0] == 1 else (lrs[first:], hypers[first:])
                settings = (Xs, Ys, Ws, mask, rows, rates, settings_, t, losses[first:],
                            correct[first:], any_case)
                started = time.perf_counter()
                if nth > 1:
                    ran, t, status, flipped = threads.run_threads(kernels.epoch_threads, min(nth, rows),
                                                                  settings, work, rows, swapped)
                else:
                    ran, t, status, flipped = kernels.epoch(*settings, work.ranges, *work.args(rows, swapped))
                if rows == batch_size and ran:
                    pace[batch_size, nth] = (time.perf_counter() - started) / ran
                made.append((lo, hi, rows))
                swapped ^= flipped
                if status:
                    return t, swapped, status, first + ran, made
            return t, swapped, 0, n_batches, made

        masks = {}                                   # a call's first row -> its dropout factors
        if nth > 1:
            threads.BlasThreads.hold()
        try:
            t, swapped, status, done, made = run(paced(), True)
            if status == 2:
                # The undone step kept the old parameters (two flat buffers) but has
                # moved the optimizer's states, which are stepped in place. Replay the
                # batches before it from the trainer's own arrays, which nothing has
                # written yet: the same batches give the same results, so the states
                # too are those of the last finite step.
                end = done * batch_size
                t, swapped, _, _, _ = run([(lo, min(hi, end), rows) for lo, hi, rows in made if lo < end], False)
        finally:
            if nth > 1:
                threads.BlasThreads.release()
        work.finish(self.params, self.state, swapped)
        self.t = t
        if self.record_masks and any(m is not None for m in masks.values()):
            self.masks = np.concatenate([masks[lo] for lo in sorted(masks)])
        sizes = np.minimum(batch_size, n - batch_size * np.arange(n_batches))
        if row_weights is not None:  # what each batch's (weighted) mean loss counts for in the epoch's
            sizes = np.add.reduceat(row_weights if sequential else row_weights[order],
                                    batch_size * np.arange(n_batches))
        if status == 1:
            raise DivergenceError(f"the loss became {losses[done]} at step {self.t + 1} "
                                  f"(batch {done + 1} of the epoch); the parameters of the "
                                  "last finite step are kept. Try a smaller learning rate.")
        if status == 2:
            raise DivergenceError(f"step {self.t + 1} (batch {done + 1} of the epoch) made the "
                                  "parameters non-finite; it was undone, the parameters of the "
                                  "last finite step are kept. Try a smaller learning rate.")
        return losses, correct, sizes, [float(r) for r in lrs[0]]

    def _dropout_masks(self, rows):
        """The dropout factors of `rows` rows, in the epoch's row order, from the trainer's
        generator: one array, each dropout layer's units in its columns (layer order), 0
        where dropped (probability p) and 1/(1 - p) where kept; None without dropout.
        Drawn row by row, so an epoch's masks do not depend on how it is split into calls."""
        model = self.model
        if not any(model.dropout):
            return None
        widths = [W.shape[1] for W in self.params[::2]]
        p = np.concatenate([np.full(w, q) for w, q in zip(widths, model.dropout) if q])
        scale = np.concatenate([np.full(w, s) for w, q, s in zip(widths, model.dropout, model.dropout_scales) if q])
        kept = self._rng.random((rows, p.size)) >= p
        return np.ascontiguousarray(np.where(kept, scale, 0.0), dtype=model.dtype)

    def _data(self, X, y):
        return self.model.inputs(self.params, X, y)

    # -- the contract's API
    def step(self, X, y, sample_weight=None):
        """One optimizer step on exactly this batch; returns its loss before the step
        (weighted by sample_weight and the spec's class_weight, if any)."""
        X, Y = self._data(X, y)
        w = weights.row_weights(self.model, Y, sample_weight, self.class_weight)
        losses, _, _, _ = self._run(X, Y, None, X.shape[0], row_weights=w)
        return float(losses[0])

    def fit(self, X, y, epochs=None, batch_size=None, shuffle=None, validation_data=None,
            target_loss=None, progress=None, patience=None, callbacks=None, min_delta=None,
            restore_best=None, sample_weight=None):
        """Train for `epochs` epochs (defaults from the spec's [training]); returns History.

        After every epoch: the schedule steps, then each callback(trainer, epoch, logs)
        is called (epoch counted from 1, logs the epoch's metrics); one returning True
        stops training, one raising leaves the trainer at that epoch and propagates.
        sample_weight (and the spec's class_weight) weigh the rows of the loss minimised
        and of History.loss (the validation loss is unweighted).
        restore_best ends with the parameters of the epoch of lowest validation loss
        (training loss without validation data), whatever stopped training."""
        model = self.model
        cfg = dict(self.training)
        for key, value in (("epochs", epochs), ("batch_size", batch_size), ("shuffle", shuffle),
                           ("target_loss", target_loss), ("patience", patience),
                           ("min_delta", min_delta), ("restore_best", restore_best)):
            if value is not None:
                cfg[key] = validation.check_training(key, value)
        callbacks = _check_callbacks(callbacks)
        X, Y = self._data(X, y)
        w = weights.row_weights(model, Y, sample_weight, self.class_weight)
        if validation_data is not None:
            Xv, Yv = self._data(*validation_data)
        history = self.history = History()
        best, since_best = math.inf, 0               # patience's best (improvements beyond min_delta)
        lowest, kept = math.inf, None                # the lowest watched loss and its parameters
        bar = progress_bar(cfg["epochs"], progress, model.name)
        interrupted = DeferredInterrupt()
        try:
            for epoch in range(cfg["epochs"]):
                if interrupted:
                    history.stopped_early, history.stop_reason = True, "interrupted (Ctrl-C)"
                    raise KeyboardInterrupt
                rng_state = self._rng.bit_generator.state
                order = self._rng.permutation(X.shape[0]).astype(np.int64, copy=False) if cfg["shuffle"] else None

                def between(done, total):
                    """Between two compiled calls: the bar says how far; Ctrl-C stops the epoch."""
                    if bar is not None:
                        bar.set_postfix_str(f"batch {done}/{total}" + (
                            f", loss {history.loss[-1]:.4g}" if history.loss else ""))
                    return bool(interrupted)
                try:
                    losses, correct, sizes, rates = self._run(X, Y, order, cfg["batch_size"], between, row_weights=w)
                except DivergenceError as err:
                    history.stopped_early, history.stop_reason = True, "diverged"
                    raise DivergenceError(f"epoch {epoch + 1}: {err}") from None
                except EpochAbandoned:
                    # the epoch under way is dropped: the trainer stays at the last completed one
                    self._rng.bit_generator.state = rng_state
                    history.stopped_early, history.stop_reason = True, "interrupted (Ctrl-C)"
                    raise KeyboardInterrupt from None
                history.loss.append(float(np.dot(losses, sizes) / sizes.sum()))
                history.learning_rate.append(rates)
                if model.task != "regression":
                    history.accuracy.append(float(correct.sum() / X.shape[0]))
                if validation_data is not None:
                    value, hits = model.loss_only(Xv, Yv, self.params)
                    history.val_loss.append(float(value))
                    if model.task != "regression":
                        history.val_accuracy.append(float(hits / Xv.shape[0]))
                history.epochs_run = epoch + 1
                watched = history.val_loss[-1] if history.val_loss else history.loss[-1]
                self.schedule.after_epoch(watched, self._learning_rates)
                if watched < lowest:
                    lowest, history.best_epoch = watched, epoch + 1
                    if cfg["restore_best"]:
                        kept = [p.copy() for p in self.params]
                if bar is not None:
                    bar.set_postfix(loss=f"{history.loss[-1]:.4g}")
                    bar.update(1)
                if callbacks and self._callbacks_stop(callbacks, epoch + 1, history):
                    break
                if cfg["target_loss"] is not None and history.loss[-1] <= cfg["target_loss"]:
                    history.stopped_early, history.stop_reason = True, (
                        f"loss {history.loss[-1]:.6g} <= target_loss {cfg['target_loss']:g}")
                    break
                if cfg["patience"] is not None:
                    best, since_best = (watched, 0) if watched < best - cfg["min_delta"] else (best, since_best + 1)
                    if since_best >= cfg["patience"]:
                        which = "validation loss" if history.val_loss else "loss"
                        history.stopped_early, history.stop_reason = True, (
                            f"{which} did not improve by more than {cfg['min_delta']:g} for "
                            f"{cfg['patience']} epochs")
                        break
            if interrupted:
                history.stopped_early, history.stop_reason = True, "interrupted (Ctrl-C)"
                raise KeyboardInterrupt
            if kept is not None and history.best_epoch != history.epochs_run:
                self.params = kept
                history.restored = True
        finally:
            interrupted.restore()
            if bar is not None:
                bar.close()
        return history

    def _callbacks_stop(self, callbacks, epoch, history):
        """Call each callback after an epoch; True if one asked to stop. One that raises
        leaves the trainer as the epoch ended, the history saying why it stopped."""
        logs = history.epoch_logs(epoch - 1)
        stop = None
        for callback in callbacks:
            try:
                answer = callback(self, epoch, dict(logs))
            except BaseException as err:
                history.stopped_early = True
                history.stop_reason = f"callback {_name(callback)} raised {type(err).__name__}: {err}"
                raise
            if answer is True and stop is None:
                stop = callback
        if stop is not None:
            history.stopped_early, history.stop_reason = True, f"callback {_name(stop)} stopped training"
            return True
        return False

    def predict(self, X):
        """Class labels when classifying, else the output values."""
        A = self.model.forward(self.params, X)
        if self.model.task == "multiclass":
            return A.argmax(axis=1)
        if self.model.task == "binary":
            labels = (A > 0.5).astype(np.int64)
            return labels[:, 0] if labels.shape[1] == 1 else labels
        return A[:, 0] if A.shape[1] == 1 else A

    def predict_proba(self, X):
        """Class probabilities: (n, k) for softmax heads, (n, 2) for one sigmoid unit."""
        if self.model.task == "regression":
            raise AttributeError("predict_proba is for classification heads only")
        A = self.model.forward(self.params, X)
        if self.model.task == "binary" and A.shape[1] == 1:
            return np.hstack([1 - A, A])
        return A

    def score(self, X, y):
        """Accuracy when classifying, else R^2 (averaged over outputs)."""
        X, Y = self._data(X, y)
        if self.model.task != "regression":
            return float(self.model.loss_only(X, Y, self.params)[1] / X.shape[0])
        return validation.r2(Y, self.model.predict(X, self.params))

    # -- checkpoints
    def save(self, path):
        """Parameters, optimizer and schedule state, step count and RNG state, written atomically."""
        return checkpoint.save(self, path)

    @classmethod
    def load(cls, path):
        """A Trainer resumed from `save`; a file that is not a whole checkpoint of this
        spec raises ValueError naming it."""
        meta, params, states = checkpoint.read(cls.model, path)
        overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["hyper"].items()}
        training = {k: v for k, v in meta["training"].items() if k != "seed"}
        try:
            trainer = cls(params=params, seed=meta["seed"], **overrides, **training)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{path}: its settings are refused: {err}") from None
        trainer.state = states
        trainer.t = meta["t"]
        trainer._rng.bit_generator.state = meta["rng"]
        trainer.history = History.from_dict(meta["history"])
        trainer.schedule.load(meta.get("schedule", {}))
        return trainer
