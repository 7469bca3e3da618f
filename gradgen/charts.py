"""The report's four charts (and `gradgen train`'s history.png), drawn with matplotlib.

Each chart is drawn from its part of the chart data (codegen/report.py builds it;
the report also embeds it as JSON), and only from it: the plotted points are those
numbers. Figures are made with `matplotlib.figure.Figure`, never pyplot, so nothing
global changes (a notebook's backend is left alone): PNGs are rendered by the Agg
canvas, SVGs by the SVG backend with glyphs as paths (no font needed to view them).

matplotlib is imported here only, when a chart is drawn: `gradgen derive` and
`gradgen generate` never load it.
"""
from __future__ import annotations

import io
import math
import re

from .runtime.files import write_atomic

CHARTS = ("performance", "activations", "optimizers", "learning_rates")
TITLES = {
    "performance": "Performance over time",
    "activations": "Distribution of activations",
    "optimizers": "Gradient-descent variants",
    "learning_rates": "Layer-wise learning rates",
}

_TRAIN, _VAL = "#1f77b4", "#ff7f0e"
_START, _END = "#9aa5b1", "#d62728"
_RC = {"svg.hashsalt": "gradgen", "svg.fonttype": "path", "font.size": 9,
       "axes.titlesize": 10, "legend.fontsize": 8, "axes.spines.top": False,
       "axes.spines.right": False}


class MissingMatplotlib(ImportError):
    """Charts need matplotlib (pip install 'gradgen[data]')."""


def _mpl():
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingMatplotlib("charts need matplotlib: pip install 'gradgen[data]'") from None
    return matplotlib, Figure


def _figure(width, height):
    _, Figure = _mpl()
    return Figure(figsize=(width, height), layout="constrained")


def _finite(values):
    return [math.nan if v is None else v for v in values]


# --------------------------------------------------------------------------- the charts

def performance_figure(data):
    """Loss (and accuracy, when classifying) per epoch, training and validation; and
    each layer's learning rate per epoch when a schedule moved it."""
    epochs = data["epochs"]
    panels = [("loss", "val_loss", "loss")]
    if data.get("accuracy"):
        panels.append(("accuracy", "val_accuracy", "accuracy"))
    rates = data.get("learning_rate") or []
    scheduled = len({tuple(r) for r in rates}) > 1
    count = len(panels) + scheduled
    fig = _figure(4.2 * count + 0.4, 3.3)
    if scheduled:
        ax = fig.add_subplot(1, count, count)
        for layer in range(len(rates[0])):
            ax.plot(epochs[:len(rates)], [r[layer] for r in rates], marker="o", markersize=3,
                    label=f"layer {layer + 1}", gid=f"performance-learning_rate-{layer + 1}")
        ax.set_xlabel("epoch")
        ax.set_ylabel("learning rate")
        ax.set_title("learning rate per epoch")
        ax.grid(alpha=0.3)
        ax.legend()
        _integer_epochs(ax)
    for n, (train, val, label) in enumerate(panels, start=1):
        ax = fig.add_subplot(1, count, n)
        ax.plot(epochs, _finite(data[train]), color=_TRAIN, marker="o", markersize=3,
                label="training", gid=f"performance-{train}")
        if data.get(val):
            ax.plot(epochs, _finite(data[val]), color=_VAL, marker="s", markersize=3,
                    label="validation", gid=f"performance-{val}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(f"{label} per epoch")
        ax.grid(alpha=0.3)
        ax.legend()
        _integer_epochs(ax)
    return fig


def _integer_epochs(ax):
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def activations_figure(data):
    """Per layer: histograms of its activations over the data, at the start (the initial
    parameters) and at the end of training, on the same bins."""
    layers = data["layers"]
    columns = min(len(layers), 3)
    rows = -(-len(layers) // columns)
    fig = _figure(3.3 * columns + 0.4, 2.7 * rows)
    for n, layer in enumerate(layers, start=1):
        ax = fig.add_subplot(rows, columns, n)
        edges = layer["bins"]
        ax.stairs(layer["start"], edges, fill=True, color=_START, alpha=0.55,
                  label="start", gid=f"activations-{layer['layer']}-start")
        ax.stairs(layer["end"], edges, fill=False, color=_END, linewidth=1.4,
                  label="end", gid=f"activations-{layer['layer']}-end")
        ax.set_title(f"layer {layer['layer']}: {layer['activation']} ({layer['units']} units)")
        ax.set_xlabel("activation")
        ax.set_ylabel("count" if n % columns == 1 or columns == 1 else "")
        ax.legend()
    return fig


def optimizers_figure(data):
    """Training (solid) and validation (dashed) loss per epoch of each optimizer, all
    from the same initial parameters and the same batches."""
    variants = data["variants"]
    has_val = any(v.get("val_loss") for v in variants)
    fig = _figure(9.0 if has_val else 5.0, 3.5)
    axes = [fig.add_subplot(1, 2 if has_val else 1, 1)]
    if has_val:
        axes.append(fig.add_subplot(1, 2, 2, sharey=axes[0]))
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    for n, v in enumerate(variants):
        color = colors[n % len(colors)]
        label = f"{v['name']} (lr {v['learning_rate']:g})" + (" diverged" if v.get("diverged") else "")
        epochs = list(range(1, len(v["loss"]) + 1))
        axes[0].plot(epochs, _finite(v["loss"]), color=color, label=label, gid=f"optimizers-{n}-loss")
        if has_val and v.get("val_loss"):
            axes[1].plot(epochs, _finite(v["val_loss"]), color=color, linestyle="--", label=label,
                         gid=f"optimizers-{n}-val_loss")
    axes[0].set_title("training loss")
    if has_val:
        axes[1].set_title("validation loss")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        _integer_epochs(ax)
    axes[0].set_ylabel("loss")
    axes[0].legend()
    return fig


def learning_rates_figure(data):
    """Radar charts over the parameters (W1, b1, W2, ...): each one's learning rate (its
    layer's parameter group) at the last epoch, and at the first, dashed, when a
    schedule moved it; beside it, the norm of its gradient at the end of training."""
    names = data["parameters"]
    count = len(names)
    angles = [2 * math.pi * n / count for n in range(count)]
    closed = angles + angles[:1]
    fig = _figure(8.6, 3.9)
    panels = (("learning_rate", "learning rate", "#2ca02c"),
              ("grad_norm", "gradient norm ‖∂L/∂θ‖ (end)", "#d62728"))
    for n, (key, title, color) in enumerate(panels, start=1):
        ax = fig.add_subplot(1, 2, n, projection="polar")
        ax.set_theta_offset(math.pi / 2)            # the first parameter at the top,
        ax.set_theta_direction(-1)                  # then clockwise
        values = _finite(data[key])
        ax.plot(closed, values + values[:1], color=color, marker="o", markersize=4,
                gid=f"learning_rates-{key}", label="last epoch")
        ax.fill(closed, values + values[:1], color=color, alpha=0.15)
        start = data.get(f"{key}_start")
        if start is not None and start != data[key]:
            first = _finite(start)
            ax.plot(closed, first + first[:1], color=color, linestyle="--", linewidth=1,
                    gid=f"learning_rates-{key}-start", label="first epoch")
            ax.legend(loc="lower right", fontsize=7)
            values = values + first
        ax.set_xticks(angles)
        ax.set_xticklabels(names)
        top = max([v for v in values if math.isfinite(v)] or [1.0])
        ax.set_ylim(0, top * 1.15 if top > 0 else 1.0)
        ax.tick_params(axis="y", labelsize=7)
        ax.set_title(title, pad=14)
    return fig


FIGURES = {
    "performance": performance_figure,
    "activations": activations_figure,
    "optimizers": optimizers_figure,
    "learning_rates": learning_rates_figure,
}


# --------------------------------------------------------------------------- output

_ID = re.compile(r'\bid="([^"]+)"')


def svg(fig, chart_id):
    """The figure as an <svg> element to inline in HTML: no XML prolog, DOCTYPE,
    metadata or namespace URLs; its ids prefixed with chart_id (four charts share
    one document); the root element gets id=chart_id."""
    matplotlib, _ = _mpl()
    buf = io.StringIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    text = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    text = text.replace("xlink:href=", "href=")
    ids = set(_ID.findall(text))
    text = _ID.sub(lambda m: f'id="{chart_id}-{m.group(1)}"', text)
    text = re.sub(r'(href="#|url\(#)([^")]+)',
                  lambda m: m.group(1) + (f"{chart_id}-{m.group(2)}" if m.group(2) in ids else m.group(2)),
                  text)
    return text.replace("<svg", f'<svg id="{chart_id}" role="img"', 1).strip()


def png(fig, path, dpi=110):
    """Write the figure as a PNG (Agg), atomically; returns the path."""
    matplotlib, _ = _mpl()

    def save(tmp):
        with matplotlib.rc_context(_RC):
            fig.savefig(tmp, format="png", dpi=dpi)
    return write_atomic(path, save)


def draw(name, data):
    """The figure of chart `name` from its data."""
    matplotlib, _ = _mpl()
    with matplotlib.rc_context(_RC):
        return FIGURES[name](data)


def performance_data(history):
    """Chart 1's data from a History's dict (History.as_dict() or history.json): the
    same numbers, epoch by epoch."""
    n = len(history["loss"])
    return {"epochs": list(range(1, n + 1)), "loss": list(history["loss"]),
            "accuracy": list(history.get("accuracy") or []),
            "val_loss": list(history.get("val_loss") or []),
            "val_accuracy": list(history.get("val_accuracy") or []),
            "learning_rate": [list(r) for r in history.get("learning_rate") or []]}


def history_png(history, path):
    """`gradgen train`'s loss/accuracy plot of a History's dict."""
    return png(draw("performance", performance_data(history)), path)
