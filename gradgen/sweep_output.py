"""What a sweep writes: results.csv and results.json (a row as each training
finishes), best.toml (the best combination's spec) and sweep.html (an offline page
with the table and, per swept setting, the validation loss against its values)."""
import csv
import html
import io
import json
import math
from pathlib import Path

from .runtime.files import write_atomic

METRICS = ("status", "epochs_run", "train_loss", "val_loss", "train_accuracy", "val_accuracy",
           "train_r2", "val_r2", "seconds")


def read_rows(out_dir):
    """The rows results.json holds ([] when there is none yet)."""
    path = Path(out_dir) / "results.json"
    if not path.exists():
        return []
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ValueError(f"{path}: not a sweep's results ({err}); move it away to start afresh") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "run_id" in r for r in rows):
        raise ValueError(f"{path}: not a sweep's results; move it away to start afresh")
    return rows


def columns(keys, rows):
    """The CSV's columns: each swept KEY as given, fold, the metrics present (results.json
    has each row's run_id too, and a diverged or failed one's error)."""
    present = [m for m in METRICS if any(m in r for r in rows)] or list(METRICS[:4])
    return list(keys) + ["fold"] + present


def write_results(out_dir, keys, rows):
    """results.json and results.csv, both rewritten atomically (a reader never sees half
    a file; an interrupted sweep keeps every row written before)."""
    out = Path(out_dir)
    write_atomic(out / "results.json", json.dumps(rows, indent=1, allow_nan=False))
    cols = columns(keys, rows)
    lines = [_csv_line(cols)] + [_csv_line(["" if r.get(c) is None else r.get(c) for c in cols]) for r in rows]
    write_atomic(out / "results.csv", "".join(lines))


def _csv_line(values):
    line = io.StringIO()
    csv.writer(line, lineterminator="\n").writerow(values)
    return line.getvalue()


def best(rows, keys):
    """(values, mean validation loss, rows) of the combination with the lowest mean
    validation loss over its folds, among those whose every fold trained; None if none."""
    groups = {}
    for r in rows:
        groups.setdefault(json.dumps([r.get(k) for k in keys]), []).append(r)
    scored = []
    for values, group in groups.items():
        losses = [r.get("val_loss") for r in group]
        if all(r.get("status") == "ok" for r in group) and all(v is not None for v in losses):
            scored.append((sum(losses) / len(losses), values, group))
    if not scored:
        return None
    loss, values, group = min(scored, key=lambda s: s[0])
    return json.loads(values), loss, group


# ---------------------------------------------------------------- best.toml
def toml(spec):
    """A spec dict (load_spec(...).to_dict()) as TOML that load_spec reads back equal."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in spec.items() if not isinstance(v, (dict, list))]
    for layer in spec.get("layers", []):
        lines += ["", "[[layers]]"] + [f"{k} = {_toml_value(v)}" for k, v in layer.items()]
    for key, table in spec.items():
        if isinstance(table, dict):
            lines += ["", f"[{key}]"] + [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def _toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("nan" if value != value else
                                                          "inf" if value > 0 else "-inf")
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


# ---------------------------------------------------------------- sweep.html
def page(title, keys, rows, best_values):
    """The offline page: per swept setting a chart of the validation loss against its
    values (each training a dot, the mean over folds a line), then the table."""
    cols = columns(keys, rows)
    charts = "\n".join(_chart(k, i, rows) for i, k in enumerate(keys))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "\n".join(
        "<tr{}>{}</tr>".format(' class="best"' if best_values is not None
                               and [r.get(k) for k in keys] == best_values else "",
                               "".join(f"<td>{html.escape(_cell(r.get(c)))}</td>" for c in cols))
        for r in rows)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin-top: 1em; }}
td, th {{ border: 1px solid #ccc; padding: 2px 8px; text-align: right; }}
tr.best td {{ background: #e6f4e6; font-weight: 600; }}
.chart {{ display: inline-block; margin: 0 1em 1em 0; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{len(rows)} trainings; lower validation loss is better; the best combination's rows are
highlighted (its spec: best.toml).</p>
<div id="charts">
{charts}
</div>
<table id="results"><thead><tr>{head}</tr></thead><tbody>
{body}
</tbody></table>
</body></html>
"""


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _chart(key, index, rows, width=360, height=220, pad=44):
    """An inline SVG: validation loss against KEY's values, in the order swept."""
    values = list(dict.fromkeys(json.dumps(r.get(key)) for r in rows))
    points = [(values.index(json.dumps(r.get(key))), r["val_loss"]) for r in rows
              if r.get("val_loss") is not None]
    losses = [p[1] for p in points] or [0.0, 1.0]
    lo, hi = min(losses), max(losses)
    hi = hi if hi > lo else lo + 1.0
    x = lambda i: pad + (width - 2 * pad) * (i + 0.5) / len(values)            # noqa: E731
    y = lambda v: height - pad + (v - lo) / (hi - lo) * (2 * pad - height)      # noqa: E731
    dots = "".join(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="#3366aa"/>' for i, v in points)
    means = []
    for i in range(len(values)):
        at = [v for j, v in points if j == i]
        if at:
            means.append(f"{x(i):.1f},{y(sum(at) / len(at)):.1f}")
    line = f'<polyline points="{" ".join(means)}" fill="none" stroke="#cc5522" stroke-width="2"/>'
    ticks = "".join(f'<text x="{x(i):.1f}" y="{height - pad + 16}" text-anchor="middle" font-size="11">'
                    f"{html.escape(json.loads(v) if isinstance(json.loads(v), str) else v)}</text>"
                    for i, v in enumerate(values))
    axes = (f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#888"/>'
            f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#888"/>'
            f'<text x="{pad - 4}" y="{pad + 4}" text-anchor="end" font-size="11">{hi:.3g}</text>'
            f'<text x="{pad - 4}" y="{height - pad}" text-anchor="end" font-size="11">{lo:.3g}</text>'
            f'<text x="{width / 2}" y="{height - 8}" text-anchor="middle" font-size="12">'
            f"{html.escape(key)}</text>"
            f'<text x="12" y="{height / 2}" transform="rotate(-90 12 {height / 2})" text-anchor="middle" '
            f'font-size="12">validation loss</text>')
    return (f'<svg class="chart" id="chart-{index}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
            f"{axes}{ticks}{line}{dots}</svg>")
