"""Jupyter representations: a derivation renders as mathematics (_repr_latex_,
_repr_markdown_), a training History as a table and an inline SVG plot (_repr_html_)."""
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from derive import derive, load_spec

ROOT = Path(__file__).resolve().parent.parent
DIGITS = ROOT / "examples" / "digits.toml"


# ---------------------------------------------------------------- the derivation
@pytest.fixture(scope="module")
def derivation():
    return derive(load_spec(DIGITS))


def test_repr_latex_is_one_display_math_block(derivation):
    latex = derivation._repr_latex_()
    assert isinstance(latex, str)
    body = latex.strip()
    # Jupyter renders _repr_latex_ with MathJax: it must be math-mode delimited
    assert body.startswith("$$") and body.endswith("$$") and body.count("$$") == 2
    assert r"\documentclass" not in body and r"\begin{document}" not in body
    assert body.count(r"\begin{aligned}") == body.count(r"\end{aligned}") >= 1
    assert body.count("{") == body.count("}")
    # the mathematics of the derivation: sums, the softmax, partial derivatives, tanh'
    for needle in (r"\sum", r"\frac", r"\partial", r"\tanh", "softmax"):
        assert needle in body, needle


def test_repr_markdown_is_prose_with_math(derivation):
    markdown = derivation._repr_markdown_()
    assert markdown == derivation.markdown()
    assert markdown.lstrip().startswith("# Derivation of digits_mlp")
    blocks = re.findall(r"\$\$(.*?)\$\$", markdown, flags=re.S)
    assert len(blocks) >= 5 and markdown.count("$$") % 2 == 0
    maths = "".join(blocks)
    assert r"\partial" in maths and r"\frac" in maths
    for block in blocks:
        assert block.count("{") == block.count("}"), block[:200]
    # inline math too
    assert re.search(r"(?<!\$)\$[^$\n]+\$(?!\$)", markdown)


# ---------------------------------------------------------------- History
class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.cells, self.rows, self._in_cell = [], [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_cell = tag in ("td", "th")
        if tag == "tr":
            self.rows.append([])

    def handle_endtag(self, tag):
        self._in_cell = False

    def handle_data(self, data):
        if self._in_cell:
            self.cells.append(data)
            self.rows[-1].append(data)


def _parse(html):
    parser = _Collect()
    parser.feed(html)
    return parser


def _points(parser, series):
    (attrs,) = [a for tag, a in parser.tags if tag == "polyline" and a.get("data-series") == series]
    return np.array([[float(v) for v in p.split(",")] for p in attrs["points"].split()])


def test_history_html_has_the_numbers_and_a_plot_of_them(digits):
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    trainer = digits.Trainer(seed=0)
    history = trainer.fit(X[:400], y[:400], epochs=6, validation_data=(X[400:600], y[400:600]),
                          progress=False)
    html = history._repr_html_()
    parser = _parse(html)
    cells = parser.cells
    assert cells[:5] == ["epoch", "loss", "val_loss", "accuracy", "val_accuracy"]
    for epoch in range(6):
        row = cells[5 * (epoch + 1): 5 * (epoch + 2)]
        assert row[0] == str(epoch + 1)
        values = [history.loss, history.val_loss, history.accuracy, history.val_accuracy]
        for text, series in zip(row[1:], values):
            assert float(text) == pytest.approx(series[epoch], rel=1e-5)
    svgs = [a for tag, a in parser.tags if tag == "svg"]
    assert len(svgs) == 2        # loss and accuracy
    # the plotted points are the numbers: x evenly spaced by epoch, y linear in the value
    for name in ("loss", "val_loss", "accuracy", "val_accuracy"):
        pts = _points(parser, name)
        assert len(pts) == 6
        np.testing.assert_allclose(np.diff(pts[:, 0]), np.diff(pts[:, 0])[0], atol=0.02)
        values = np.array(getattr(history, name))
        if np.ptp(values) > 0:
            slope, intercept = np.polyfit(values, pts[:, 1], 1)
            assert slope < 0      # SVG y grows downwards
            np.testing.assert_allclose(pts[:, 1], slope * values + intercept, atol=0.02)
    # loss and val_loss share one chart's scale, so their points compare
    assert (_points(parser, "loss")[:, 1] < _points(parser, "val_loss")[:, 1]).tolist() == \
        (np.array(history.loss) > np.array(history.val_loss)).tolist()


def test_history_html_regression_long_and_empty(digits):
    history = digits.History.from_dict({
        "loss": [1.0 / (i + 1) for i in range(30)], "epochs_run": 30,
        "stopped_early": True, "stop_reason": "loss 0.03 <= target_loss <script>"})
    html = history._repr_html_()
    parser = _parse(html)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert [a.get("data-series") for tag, a in parser.tags if tag == "polyline"] == ["loss"]
    assert len(_points(parser, "loss")) == 30            # the plot has every epoch
    assert parser.rows[0] == ["epoch", "loss"]
    epochs = [row[0] for row in parser.rows[1:]]        # the middle rows are elided
    assert epochs == [str(i) for i in range(1, 11)] + ["\u2026"] + [str(i) for i in range(21, 31)]
    assert parser.rows[-1] == ["30", "0.0333333"]
    single = digits.History.from_dict({"loss": [0.5], "accuracy": [0.75], "epochs_run": 1})
    parsed = _parse(single._repr_html_())
    assert [a.get("data-series") for tag, a in parsed.tags if tag == "circle"] == ["loss", "accuracy"]
    assert "0.5" in parsed.cells and "0.75" in parsed.cells
    empty = digits.History()._repr_html_()
    assert "0 epoch(s)" in empty and "<svg" not in empty


def test_estimator_history_renders(digits):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(50, 3)), np.arange(50) % 2
    est = digits.Estimator(epochs=3, hidden_units=(4,)).fit(X, y)
    html = est.history_._repr_html_()
    assert html.count("<svg") == 2 and f"{est.history_.loss[-1]:.6g}" in html
