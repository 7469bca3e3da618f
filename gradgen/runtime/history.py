"""History: the per-epoch metrics of Trainer.fit, as lists, a dict (JSON) and, in
Jupyter, a table beside a plot of them (inline SVG drawn from the numbers: no
plotting library)."""
import html
import math


class History:
    """Per-epoch metrics of Trainer.fit."""

    def __init__(self):
        self.loss, self.accuracy, self.val_loss, self.val_accuracy = [], [], [], []
        self.learning_rate = []       # per epoch: each parameter group's (layer's) rate, at its first batch
        self.epochs_run = 0
        self.stopped_early = False
        self.stop_reason = None
        self.best_epoch = None        # the epoch (from 1) of lowest validation loss (training loss without)
        self.restored = False         # restore_best put that epoch's parameters back

    def as_dict(self):
        return {"loss": self.loss, "accuracy": self.accuracy, "val_loss": self.val_loss,
                "val_accuracy": self.val_accuracy, "learning_rate": self.learning_rate,
                "epochs_run": self.epochs_run, "stopped_early": self.stopped_early,
                "stop_reason": self.stop_reason, "best_epoch": self.best_epoch,
                "restored": self.restored}

    def epoch_logs(self, i):
        """Epoch i's (from 0) metrics: loss, accuracy, val_loss, val_accuracy, learning_rate
        (the first group's) and learning_rates (every group's), those it has."""
        logs = {name: getattr(self, name)[i] for name in ("loss", "accuracy", "val_loss", "val_accuracy")
                if len(getattr(self, name)) > i}
        if len(self.learning_rate) > i:
            logs["learning_rate"] = self.learning_rate[i][0]
            logs["learning_rates"] = list(self.learning_rate[i])
        return logs

    @classmethod
    def from_dict(cls, data):
        h = cls()
        for key, value in data.items():
            setattr(h, key, value)
        return h

    def __repr__(self):
        last = f", loss={self.loss[-1]:.6g}" if self.loss else ""
        why = f", stopped early: {self.stop_reason}" if self.stopped_early else ""
        best = f", best_epoch={self.best_epoch}" if self.best_epoch is not None else ""
        return f"History(epochs_run={self.epochs_run}{last}{best}{why})"

    # -- Jupyter: a table of the per-epoch metrics beside a plot of them (inline SVG,
    #    drawn from the numbers: no plotting library)
    _SERIES = (("loss", "#1f77b4"), ("val_loss", "#ff7f0e"),
               ("accuracy", "#2ca02c"), ("val_accuracy", "#d62728"))

    def _repr_html_(self):
        series = [(name, list(getattr(self, name) or [])) for name, _ in self._SERIES]
        series = [(name, values) for name, values in series if values]
        n = max((len(values) for _, values in series), default=0)
        why = f"; stopped early: {html.escape(str(self.stop_reason))}" if self.stopped_early else ""
        head = f"<p><b>History</b>: {self.epochs_run} epoch(s) run{why}</p>"
        if not series:
            return f'<div class="gradgen-history">{head}</div>'
        shown = list(range(n)) if n <= 20 else list(range(10)) + [None] + list(range(n - 10, n))
        cells = "".join(f"<th>{name}</th>" for name, _ in series)
        rows = [f"<tr><th>epoch</th>{cells}</tr>"]
        for i in shown:
            if i is None:
                rows.append(f'<tr><td colspan="{len(series) + 1}">&hellip;</td></tr>')
                continue
            cells = "".join(f"<td>{values[i]:.6g}</td>" if i < len(values) else "<td></td>"
                            for _, values in series)
            rows.append(f"<tr><td>{i + 1}</td>{cells}</tr>")
        table = '<table class="gradgen-history-table" style="text-align:right">' + "".join(rows) + "</table>"
        charts = "".join(self._svg_chart(title, [(name, values) for name, values in series
                                                  if name.endswith(title)])
                         for title in ("loss", "accuracy")
                         if any(name.endswith(title) for name, _ in series))
        return (f'<div class="gradgen-history">{head}<div style="display:flex; gap:1em; '
                f'align-items:flex-start">{table}{charts}</div></div>')

    @classmethod
    def _svg_chart(cls, title, series, width=320, height=200):
        """An SVG line chart of per-epoch values: one polyline per series, epochs on x."""
        colours = dict(cls._SERIES)
        left, right, top, bottom = 52, 10, 22, 30
        finite = [v for _, values in series for v in values if math.isfinite(v)]
        lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
        if title == "accuracy":
            lo, hi = min(lo, 0.0), max(hi, 1.0)
        if hi - lo <= 1e-12 * max(1.0, abs(hi)):
            lo, hi = lo - 0.5, hi + 0.5
        n = max(len(values) for _, values in series)
        plot_w, plot_h = width - left - right, height - top - bottom

        def x(i):
            return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

        def y(v):
            return top + plot_h * (hi - v) / (hi - lo)

        parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="gradgen-chart" '
                 f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
                 f'font-family="sans-serif" font-size="11">',
                 f'<text x="{left}" y="14" font-weight="bold">{title}</text>',
                 f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#888"/>',
                 f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" '
                 f'y2="{top + plot_h}" stroke="#888"/>',
                 f'<text x="{left - 4}" y="{top + 4}" text-anchor="end">{hi:.4g}</text>',
                 f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end">{lo:.4g}</text>',
                 f'<text x="{left}" y="{height - 8}" text-anchor="middle">1</text>',
                 f'<text x="{left + plot_w}" y="{height - 8}" text-anchor="middle">{n}</text>',
                 f'<text x="{left + plot_w / 2}" y="{height - 8}" text-anchor="middle">epoch</text>']
        legend_end = left + plot_w
        for name, values in series:
            points = [(x(i), y(v)) for i, v in enumerate(values) if math.isfinite(v)]
            if not points:
                continue
            colour = colours[name]
            shape = (f'<polyline points="{" ".join(f"{px:.2f},{py:.2f}" for px, py in points)}" '
                     f'fill="none" stroke="{colour}" stroke-width="1.5" data-series="{name}"/>'
                     if len(points) > 1 else
                     f'<circle cx="{points[0][0]:.2f}" cy="{points[0][1]:.2f}" r="3" '
                     f'fill="{colour}" data-series="{name}"/>')
            parts += [shape, f'<text x="{legend_end}" y="14" text-anchor="end" '
                             f'fill="{colour}">{name}</text>']
            legend_end -= 7 * len(name) + 12
        return "".join(parts) + "</svg>"
