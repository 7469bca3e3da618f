"""The learning-rate schedule's state over a trainer's life, as torch.optim.lr_scheduler
keeps it: the epochs completed (epoch schedules), one_cycle's total steps (its step
is the trainer's step count t), plateau's best loss, bad epochs, cooldown and
current rates. The rates themselves are the generated module's printed functions
(ScheduleRule); this file only counts, and hands the fused epoch its tables: the
rates per parameter group, and the hyper-parameter vector, per batch for one_cycle
and once for the others."""
import math
from dataclasses import dataclass

import numpy as np

PLATEAU_EPS = 1e-8            # ReduceLROnPlateau's eps: a smaller decrease is skipped


@dataclass(frozen=True)
class ScheduleRule:
    """A generated module's [schedule]: its parameters and printed functions."""
    kind: str
    values: dict
    per_batch: bool
    bases: list | None        # one_cycle: eta_max per layer
    cycled: int | None        # the hyper-parameter vector's entry cycle_momentum sets
    rate: object = None       # (eta_0 or eta_max, e or s, T) -> rate
    momentum: object = None   # (s, T) -> momentum
    improved: object = None   # plateau: (current, best) -> bool
    reduced: object = None    # plateau: eta -> its reduced rate

    @classmethod
    def from_namespace(cls, names):
        if names.get("SCHEDULE") is None:
            return None
        return cls(kind=names["SCHEDULE_KIND"], values=names["SCHEDULE"],
                   per_batch=names["SCHEDULE_PER_BATCH"], bases=names["SCHEDULE_BASES"],
                   cycled=names["CYCLED_HYPER"], rate=names.get("_schedule_rate"),
                   momentum=names.get("_schedule_momentum"), improved=names.get("_plateau_improved"),
                   reduced=names.get("_plateau_reduced"))


class ScheduleState:
    """Where a trainer is in its schedule (none: every group at its own rate)."""

    def __init__(self, rule):
        self.rule = rule
        self.epoch = 0            # epochs completed by fit
        self.total = None         # one_cycle: epochs x batches per epoch, fixed on first use
        self.rates = None         # plateau: each group's current rate (None: the groups' own)
        self.best = None          # plateau: the best watched loss so far
        self.bad_epochs = 0
        self.cooldown = 0

    # -- what the epoch runs at
    def tables(self, base, hypers, t, n_batches, epochs, batches_per_epoch):
        """(rates, hyper-parameters): float64 tables of one row, or one row per batch
        for one_cycle, for an epoch of n_batches batches starting at step count t.
        base: each group's own rate; epochs, batches_per_epoch: one_cycle's T on first use."""
        rule = self.rule
        if rule is None:
            return base[None, :], hypers[None, :]
        if rule.kind == "plateau":
            rates = base if self.rates is None else np.array(self.rates)
            return rates[None, :], hypers[None, :]
        if not rule.per_batch:
            return np.array([[rule.rate(b, self.epoch, 0) for b in base]]), hypers[None, :]
        if self.total is None:
            self.total = epochs * batches_per_epoch
        if t + n_batches > self.total:
            raise ValueError(f"one_cycle: this epoch would take the trainer to step {t + n_batches}, "
                             f"past the schedule's {self.total} steps (epochs x batches per epoch, "
                             "fixed when it started); raise epochs for a new Trainer")
        steps = range(t, t + n_batches)
        rates = np.array([[rule.rate(top, step, self.total) for top in rule.bases] for step in steps])
        table = np.repeat(hypers[None, :], n_batches, axis=0)
        if rule.momentum is not None:
            table[:, rule.cycled] = [rule.momentum(step, self.total) for step in steps]
        return rates, table

    # -- after an epoch of fit
    def after_epoch(self, watched, base):
        """Step an epoch schedule (plateau on the watched loss; base() gives each
        group's own rate, where plateau starts)."""
        rule = self.rule
        self.epoch += 1
        if rule is None or rule.kind != "plateau":
            return
        if self.best is None:
            self.best = math.inf if rule.values["mode"] == "min" else -math.inf
        if rule.improved(watched, self.best):
            self.best, self.bad_epochs = watched, 0
        else:
            self.bad_epochs += 1
        if self.cooldown > 0:
            self.cooldown -= 1
            self.bad_epochs = 0          # bad epochs in cooldown are ignored
        if self.bad_epochs > rule.values["patience"]:
            rates = list(base()) if self.rates is None else list(self.rates)
            for n, old in enumerate(rates):
                new = float(rule.reduced(old))
                if old - new > PLATEAU_EPS:
                    rates[n] = new
            self.rates = rates
            self.cooldown, self.bad_epochs = rule.values["cooldown"], 0

    # -- checkpoints
    def as_dict(self):
        best = self.best
        return {"epoch": self.epoch, "total": self.total, "rates": self.rates,
                "best": None if best is None else repr(best), "bad_epochs": self.bad_epochs,
                "cooldown": self.cooldown}

    def load(self, data):
        """The state of as_dict (a checkpoint's; a version-1 one has none)."""
        self.epoch = int(data.get("epoch", 0))
        self.total = data.get("total")
        self.rates = data.get("rates")
        best = data.get("best")
        self.best = None if best is None else float(best)     # repr keeps inf and every bit
        self.bad_epochs = int(data.get("bad_epochs", 0))
        self.cooldown = int(data.get("cooldown", 0))
