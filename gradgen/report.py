"""`gradgen report`: train a spec's model and write one self-contained HTML page with
the derivation typeset in MathML and four charts as inline SVG.

What the charts show, and how it is computed (only the generated modules' public API:
init_params, forward, loss_and_grad, Trainer):

1. performance over time: `Trainer.fit`'s History, per epoch, on the same data,
   split, seed and initial parameters as `gradgen train` (so the same numbers as its
   history.json);
2. the distribution of each layer's activations over the training rows (the first
   HISTOGRAM_VALUES / widest-layer of them, for a big set), at the start
   (the initial parameters) and at the end of training. Hidden activations come from
   generated code, not from a re-implementation here: for each hidden layer l a
   truncated spec (the first l layers, an mse loss so that any output activation is
   allowed) is generated, and its `forward(params[:2l], X)` is layer l's output. Only
   its `forward` kernel is compiled;
3. gradient-descent variants: the spec with only `optimizer.kind` (and its learning
   rate) swapped, generated and trained from the same initial parameters on the same
   batches (the same shuffling seed). The spec's own optimizer keeps all its settings
   and its run is the one of chart 1; any other optimizer gets torch.optim's defaults,
   including the learning rate, unless one is given (`adam:0.01`). Layers' own
   learning rates (parameter groups) are kept;
4. layer-wise learning rates: each parameter group's learning rate, and the norm of
   each parameter's gradient over the training rows at the end of training.

The chart data is embedded in the page as JSON (<script type="application/json"
id="chart-data">) and each chart is drawn from it alone (codegen/charts.py).
"""
from __future__ import annotations

import json
import math
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from derive.optimizers import LEARNING_RATE, OPTIMIZERS
from derive.spec import load_spec

from codegen.generator import VERSION, generate

from . import charts
from .data import DataError, load_data, split
from .loader import import_generated
from .runtime.files import write_atomic

TEMPLATES = Path(__file__).parent / "templates"

DEFAULT_OPTIMIZERS = ("sgd", "adam", "rmsprop", "adagrad")
HISTOGRAM_BINS = 40
HISTOGRAM_VALUES = 4_000_000     # at most about this many activations per layer (rows x units)


class ReportError(DataError):
    """A bad report option (an unknown optimizer, a bad learning rate)."""


@dataclass(frozen=True)
class Variant:
    kind: str
    learning_rate: float
    source: str               # "spec" (the spec's own optimizer), "default" (torch's) or "given"
    options: dict             # the [optimizer] table of the variant's spec


def parse_optimizers(text, spec):
    """'sgd,adam:0.01,...' -> [Variant]; None -> the default list."""
    spec = load_spec(spec)
    items = DEFAULT_OPTIMIZERS if text is None else [s.strip() for s in text.split(",") if s.strip()]
    if not items:
        raise ReportError("--optimizers: give at least one optimizer, e.g. sgd,adam")
    variants, seen = [], set()
    for item in items:
        kind, _, rate = item.partition(":")
        kind = kind.strip()
        if kind not in OPTIMIZERS:
            raise ReportError(f"--optimizers: unknown optimizer {kind!r}; "
                              f"choose from {', '.join(OPTIMIZERS)}")
        if kind == spec.optimizer.kind:
            options = spec.to_dict()["optimizer"]
            source = "spec"
        else:
            options = {"kind": kind}
            source = "default"
        if rate:
            try:
                value = float(rate)
            except ValueError:
                value = math.nan
            if not math.isfinite(value) or value <= 0:
                raise ReportError(f"--optimizers: {item!r}: the learning rate must be a positive number")
            if value != options.get(LEARNING_RATE):
                options = dict(options, learning_rate=value)
                source = "given"
        lr = options.get(LEARNING_RATE)
        if lr is None:
            lr = next(h.default for h in OPTIMIZERS[kind].hyperparameters if h.name == LEARNING_RATE)
        key = (kind, lr)
        if key in seen:
            continue
        seen.add(key)
        variants.append(Variant(kind, float(lr), source, options))
    return variants


# --------------------------------------------------------------------------- running

class _Log:
    def __init__(self, stream):
        self.stream = stream

    def __call__(self, message):
        if self.stream is not None:
            print(message, file=self.stream, flush=True)


def _history_dict(history):
    return history.as_dict() if hasattr(history, "as_dict") else dict(history)


def _fit(module, init, seed, X, y, validation, epochs, progress):
    """Train from `init` with the spec's settings; (trainer, diverged message or None)."""
    # epochs is the run's planned length too (one_cycle's T)
    trainer = module.Trainer(params=[p.copy() for p in init], seed=seed,
                             **({} if epochs is None else {"epochs": epochs}))
    try:
        trainer.fit(X, y, epochs=epochs, validation_data=validation, progress=progress)
    except module.DivergenceError as err:
        return trainer, str(err)
    except ValueError as err:
        raise DataError(str(err)) from None
    return trainer, None


def _histograms(start, end):
    values = np.concatenate([start.ravel(), end.ravel()]).astype(np.float64)
    values = values[np.isfinite(values)]
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    if high <= low:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, HISTOGRAM_BINS + 1)
    count = lambda a: np.histogram(a[np.isfinite(a)], bins=edges)[0].astype(int).tolist()
    return edges.tolist(), count(start), count(end)


def _json_safe(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value


class Report:
    """A trained spec's report: `.data` (the chart data), `.meta`, `.html()`."""

    def __init__(self, spec, data, meta):
        self.spec, self.data, self.meta = spec, data, meta
        self._figures = {}

    def figure(self, name):
        if name not in self._figures:
            self._figures[name] = charts.draw(name, self.data[name])
        return self._figures[name]

    def svgs(self):
        return {name: charts.svg(self.figure(name), chart_id(name))
                for name in charts.CHARTS}

    def write_pngs(self, directory):
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        return [charts.png(self.figure(name), directory / f"{name}.png") for name in charts.CHARTS]

    def html(self):
        import jinja2
        from markupsafe import Markup

        from derive import derive
        from derive.render_mathml import html_sections

        sections, fallbacks = html_sections(derive(self.spec))
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                                 autoescape=True, undefined=jinja2.StrictUndefined,
                                 trim_blocks=True, lstrip_blocks=True)
        data_json = json.dumps(_json_safe(self.data), allow_nan=False).replace("</", "<\\/")
        svgs = self.svgs()
        return env.get_template("report.html.j2").render(
            spec=self.spec, meta=self.meta, data=self.data, titles=charts.TITLES,
            charts=[(name, chart_id(name), Markup(svgs[name])) for name in charts.CHARTS],
            sections=[(n, title, Markup(body)) for n, title, body in sections],
            fallbacks=fallbacks, chart_json=Markup(data_json),
            spec_json=json.dumps(self.spec.to_dict(), indent=2))


def chart_id(name):
    """The id of a chart's <svg> element in the page: chart-performance, ..."""
    return "chart-" + name.replace("_", "-")


def build(spec, data=None, optimizers=None, epochs=None, generated_dir="generated",
          work_dir=None, progress=False, log=sys.stdout):
    """Train and collect everything the report shows; returns a Report."""
    say = _Log(log)
    spec = load_spec(spec)
    if epochs is not None and epochs < 1:
        raise DataError("--epochs must be >= 1")
    variants = parse_optimizers(optimizers, spec)
    source = spec.data_source(data)
    fraction = spec.data.test_fraction if spec.data else 0.2
    X, y = load_data(source)
    X_train, y_train, X_test, y_test = split(X, y, fraction, spec.training.seed)
    seed = spec.training.seed
    validation = (X_test, y_test)

    path = generate(spec, out_dir=generated_dir)
    module = import_generated(path)
    say(f"module: {path}")
    init = module.init_params(seed)
    trainer, diverged = _fit(module, init, seed, X_train, y_train, validation, epochs, progress)
    history = _history_dict(trainer.history)
    metric = "accuracy" if module.TASK != "regression" else "R^2"
    train_score = trainer.score(X_train, y_train)
    test_score = trainer.score(X_test, y_test)
    say(f"trained {history['epochs_run']} epochs with {spec.optimizer.kind}"
        + (f" (stopped early: {history['stop_reason']})" if history["stopped_early"] else ""))
    n_layers = len(spec.layers)

    owned = work_dir is None
    work = Path(tempfile.mkdtemp(prefix=f"gradgen-report-{spec.name}-")) if owned else Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    try:
        # 2. activations, layer by layer, from generated forward passes
        base = spec.to_dict()
        base.pop("data", None)
        widest = max(layer.units for layer in spec.layers)
        rows = min(len(X_train), max(1000, HISTOGRAM_VALUES // widest))
        X_rows = X_train[:rows]           # the split has shuffled the rows already
        layers = []
        for l in range(1, n_layers + 1):
            if l == n_layers:
                prefix = module
            else:
                truncated = dict(base, name=f"{spec.name}__layers{l}", layers=base["layers"][:l],
                                 loss={"kind": "mse"})
                prefix = import_generated(generate(truncated, out_dir=work))
            start = np.asarray(prefix.forward(init[:2 * l], X_rows), dtype=np.float64)
            end = np.asarray(prefix.forward(trainer.params[:2 * l], X_rows), dtype=np.float64)
            edges, before, after = _histograms(start, end)
            layer = spec.layers[l - 1]
            with np.errstate(all="ignore"):        # a diverged run's huge activations
                stats = {"start_mean": float(start.mean()), "start_std": float(start.std()),
                         "end_mean": float(end.mean()), "end_std": float(end.std())}
            layers.append({"layer": l, "activation": "formula" if layer.formula else layer.activation,
                           "units": layer.units, "bins": edges, "start": before, "end": after,
                           **stats})
        say(f"activations of {n_layers} layer{'s' if n_layers > 1 else ''} over {rows} rows")

        # 3. the optimizers, from the same initial parameters and batches
        runs = []
        for v in variants:
            if v.source == "spec":
                run_history, run_diverged = history, diverged
            else:
                variant_spec = dict(base, name=f"{spec.name}__{v.kind}", optimizer=v.options)
                variant_module = import_generated(generate(variant_spec, out_dir=work))
                run, run_diverged = _fit(variant_module, init, seed, X_train, y_train, validation,
                                         epochs, progress)
                run_history = _history_dict(run.history)
            runs.append({"name": v.kind, "learning_rate": v.learning_rate, "source": v.source,
                         "loss": list(run_history["loss"]), "val_loss": list(run_history["val_loss"]),
                         "diverged": run_diverged})
            final = run_history["loss"][-1] if run_history["loss"] else math.nan
            say(f"optimizer {v.kind} (lr {v.learning_rate:g}, {v.source}): final training loss "
                f"{final:.4g}" + (" (diverged)" if run_diverged else ""))
    finally:
        if owned:
            shutil.rmtree(work, ignore_errors=True)

    # 4. learning rates and gradient norms per parameter
    value, grads = module.loss_and_grad(trainer.params, X_train, y_train)
    names, rates, starts, norms = [], [], [], []
    per_epoch = history.get("learning_rate") or []
    for n, name in enumerate(module.PARAM_NAMES):
        layer = spec.layers[n // 2]
        names.append(name)
        own = float(layer.learning_rate if layer.learning_rate is not None else spec.optimizer.learning_rate)
        # the rate the schedule gave its group in the last and the first epoch (without one: its own)
        rates.append(float(per_epoch[-1][n // 2]) if per_epoch else own)
        starts.append(float(per_epoch[0][n // 2]) if per_epoch else own)
        with np.errstate(all="ignore"):
            norms.append(float(np.linalg.norm(np.asarray(grads[n], dtype=np.float64))))

    chart_data = {
        "performance": charts.performance_data(history),
        "activations": {"rows": int(rows), "layers": layers},
        "optimizers": {"variants": runs, "epochs": epochs or spec.training.epochs,
                       "seed": seed},
        "learning_rates": {"parameters": names, "layers": [n // 2 + 1 for n in range(len(names))],
                           "learning_rate": rates, "learning_rate_start": starts, "grad_norm": norms,
                           "loss": float(value)},
    }
    meta = {
        "name": spec.name, "spec_path": spec.path, "source": source, "version": VERSION,
        "n_train": int(len(X_train)), "n_test": int(len(X_test)), "task": module.TASK,
        "metric": metric, "train_score": float(train_score), "test_score": float(test_score),
        "epochs_run": history["epochs_run"], "stopped_early": history["stopped_early"],
        "stop_reason": history["stop_reason"], "diverged": diverged,
        "optimizer": spec.optimizer.kind,
        "widths": [spec.inputs] + [layer.units for layer in spec.layers],
        "activations": [layer.activation if not layer.formula else f"formula {layer.activation}"
                        for layer in spec.layers],
        "loss": spec.loss.kind or f"formula {spec.loss.formula}",
        "final_loss": history["loss"][-1] if history["loss"] else None,
        "final_val_loss": history["val_loss"][-1] if history["val_loss"] else None,
    }
    return Report(spec, chart_data, meta)


def write(report, output, png_dir=None):
    """Write the HTML (atomically) and, with png_dir, each chart as PNG; returns the paths."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(output, report.html())
    pngs = report.write_pngs(png_dir) if png_dir is not None else []
    return output, pngs


def chart_data(path):
    """The chart data embedded in a report file (what the tests compare)."""
    text = Path(path).read_text(encoding="utf-8")
    start = text.index('<script type="application/json" id="chart-data">')
    start = text.index(">", start) + 1
    end = text.index("</script>", start)
    return json.loads(text[start:end])
