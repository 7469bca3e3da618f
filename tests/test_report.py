"""`gradgen report`: one self-contained HTML page, opened in a real browser.

The browser test drives Debian's headless Chromium through the DevTools protocol over
a pipe (--remote-debugging-pipe: JSON messages on fds 3 and 4, no port, no extra
package), with every network path closed (a proxy that leads nowhere, host
resolution mapped to NOTFOUND, no background or component traffic). It loads the
report from disk, records every console message, exception, log entry and request,
measures the <math> elements and the four chart <svg>s with getBoundingClientRect,
and takes a full-page screenshot. It is skipped when no Chromium is installed
(`.ci/run` installs it).

`python3 tests/test_report.py REPORT.html SHOT.png` takes a screenshot of a report
the same way (the README's was made so).
"""
import fcntl
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from browser import Browser, find_chromium, visit  # noqa: E402
from gradgen import charts, cli  # noqa: E402
from gradgen.report import DEFAULT_OPTIMIZERS, ReportError, chart_data, parse_optimizers  # noqa: E402

CHART_IDS = ("chart-performance", "chart-activations", "chart-optimizers", "chart-learning-rates")

IRIS_SPEC = """\
name = "iris_report"
inputs = 4

[[layers]]
units = 6
activation = "tanh"

[[layers]]
units = 3
activation = "softmax"
learning_rate = 0.02

[loss]
kind = "cross_entropy"

[optimizer]
kind = "sgd"
learning_rate = 0.05
momentum = 0.9

[training]
batch_size = 16
epochs = 6

[data]
source = "sklearn:iris"
"""


MEASURE = """(() => {
  const box = e => { const r = e.getBoundingClientRect(); return [r.width, r.height]; };
  const maths = [...document.querySelectorAll('math')];
  const charts = {};
  for (const id of %s) {
    const e = document.getElementById(id);
    charts[id] = e ? {tag: e.tagName.toLowerCase(), size: box(e),
                      paths: e.querySelectorAll('path').length} : null;
  }
  return {
    maths: maths.length,
    mathSizes: maths.map(box),
    mathNamespace: maths.every(m => m.namespaceURI === 'http://www.w3.org/1998/Math/MathML'),
    mfracHeight: Math.max(0, ...[...document.querySelectorAll('mfrac')].map(e => box(e)[1])),
    charts: charts,
    chartData: JSON.parse(document.getElementById('chart-data').textContent),
    images: document.images.length,
    scripts: [...document.scripts].map(s => s.type),
    links: [...document.querySelectorAll('link')].length,
  };
})()""" % json.dumps(list(CHART_IDS))


# --------------------------------------------------------------------------- fixtures

def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "gradgen.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT)


def _build(tmp):
    spec = tmp / "iris.toml"
    spec.write_text(IRIS_SPEC)
    started = time.perf_counter()
    options = ("--optimizers", "sgd,adam:0.01", "--generated-dir", tmp / "generated",
               "--work-dir", tmp / "work", "--no-progress")
    proc = run_cli("report", spec, "-o", tmp / "report.html", "--png", tmp / "png", *options)
    seconds = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr
    again = run_cli("report", spec, "-o", tmp / "again.html", *options)      # modules cached
    assert again.returncode == 0, again.stderr
    train = run_cli("train", spec, "--out", tmp / "run", "--generated-dir", tmp / "generated",
                    "--no-progress")
    assert train.returncode == 0, train.stderr
    return {"seconds": seconds, "report_stdout": proc.stdout, "train_stdout": train.stdout}


@pytest.fixture(scope="session")
def built(tmp_path_factory, worker_id):
    """One report of a small iris network (sgd vs adam:0.01) with --png, and `gradgen
    train`'s run of the same spec, both from the command line; built once per test
    session (pytest-xdist workers share it through a lock file)."""
    if worker_id == "master":
        tmp = tmp_path_factory.mktemp("report")
        info = _build(tmp)
    else:
        shared = tmp_path_factory.getbasetemp().parent
        tmp = shared / "gradgen-report"
        with open(shared / "gradgen-report.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            done = tmp / "built.json"
            if not done.exists():
                tmp.mkdir(exist_ok=True)
                done.write_text(json.dumps(_build(tmp)))
            info = json.loads(done.read_text())
    return dict(info, dir=tmp, spec=tmp / "iris.toml", html=tmp / "report.html", png=tmp / "png",
                run=tmp / "run")


# --------------------------------------------------------------------------- the tests

def test_report_opens_in_a_real_browser_offline(built):
    page, problems, requests, shot = visit(built["html"], MEASURE, screenshot=built["dir"] / "report.png")

    # the mathematics: many <math> elements, laid out by the browser's MathML engine
    assert page["maths"] >= 40 and page["mathNamespace"]
    empty = [n for n, (w, h) in enumerate(page["mathSizes"]) if w <= 0 or h <= 0]
    assert not empty, f"{len(empty)} <math> elements have no rendered size"
    assert page["mfracHeight"] > 20          # fractions are stacked, not a line of text
    # the four charts: inline <svg>s with drawn paths and a rendered size
    for chart_id in CHART_IDS:
        chart = page["charts"][chart_id]
        assert chart is not None, f"no #{chart_id}"
        assert chart["tag"] == "svg" and chart["paths"] > 5
        width, height = chart["size"]
        assert width > 200 and height > 100, (chart_id, chart["size"])
    # nothing to fetch, nothing fetched, nothing complained about
    assert page["images"] == 0 and page["links"] == 0 and page["scripts"] == ["application/json"]
    assert all(url.startswith(("file:", "about:", "data:")) for url in requests), requests
    assert problems == []
    # the page the browser parsed carries the same chart data as the file
    assert page["chartData"] == chart_data(built["html"])
    data = Path(shot).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000


def test_chart_data_are_the_training_history(built):
    """Chart 1's points are history.json's numbers (`gradgen train` on the same spec:
    same data, split, seed and initial parameters), and the figure plots exactly them."""
    data = chart_data(built["html"])
    history = json.loads((built["run"] / "history.json").read_text())
    perf = data["performance"]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert perf[key] == history[key] and len(perf[key]) == history["epochs_run"] == 6
    assert perf["epochs"] == [1, 2, 3, 4, 5, 6]
    figure = charts.draw("performance", perf)
    lines = {line.get_gid(): line for ax in figure.axes for line in ax.get_lines()}
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        line = lines[f"performance-{key}"]
        assert list(line.get_xdata()) == perf["epochs"]
        assert [float(v) for v in line.get_ydata()] == history[key]
    # chart 3: the spec's own optimizer is the run of chart 1; adam ran from the same start
    variants = {v["name"]: v for v in data["optimizers"]["variants"]}
    assert list(variants) == ["sgd", "adam"]
    assert variants["sgd"]["loss"] == history["loss"] and variants["sgd"]["source"] == "spec"
    assert variants["adam"]["learning_rate"] == 0.01 and variants["adam"]["source"] == "given"
    assert len(variants["adam"]["loss"]) == 6 and variants["adam"]["loss"] != history["loss"]
    # chart 2: every training row's every unit counted, at the start and the end
    acts = data["activations"]
    assert [l["units"] for l in acts["layers"]] == [6, 3]
    for layer in acts["layers"]:
        assert len(layer["bins"]) == len(layer["start"]) + 1
        assert sum(layer["start"]) == sum(layer["end"]) == acts["rows"] * layer["units"]
    softmax = acts["layers"][1]
    assert softmax["bins"][0] >= 0 and softmax["bins"][-1] <= 1
    # chart 4: the layers' learning rates (layer 2 has its own) and positive gradient norms
    rates = data["learning_rates"]
    assert rates["parameters"] == ["W1", "b1", "W2", "b2"]
    assert rates["learning_rate"] == [0.05, 0.05, 0.02, 0.02]
    assert all(n > 0 for n in rates["grad_norm"])


def test_activations_come_from_generated_forward_passes(built):
    """The last layer's histogram at the end is that of the trained module's forward on
    the training rows (the same split as train), and the hidden layer's is the tanh range."""
    import numpy as np

    from gradgen.data import load_data, split
    from gradgen.loader import import_generated
    data = chart_data(built["html"])
    module = import_generated(built["dir"] / "generated" / "iris_report.py")
    trainer = module.Trainer.load(built["run"] / "params.npz")
    X, y = load_data("sklearn:iris")
    X_train = split(X, y, 0.2, 0)[0]
    layer = data["activations"]["layers"][1]
    counts = np.histogram(module.forward(trainer.params, X_train).astype(np.float64),
                          bins=np.array(layer["bins"]))[0]
    assert counts.tolist() == layer["end"]
    hidden = data["activations"]["layers"][0]
    assert -1 <= hidden["bins"][0] and hidden["bins"][-1] <= 1


def test_report_is_self_contained(built):
    text = built["html"].read_text(encoding="utf-8")
    assert not re.search(r"https?://", text), re.search(r".{60}https?://.{60}", text)
    assert not re.search(r"<(img|link|iframe|object|embed)\b", text)
    assert not re.search(r"\b(src|srcset)=", text)
    assert re.findall(r"<script\b[^>]*>", text) == ['<script type="application/json" id="chart-data">']
    assert "@import" not in text and "url(" not in text.replace("url(#", "")
    for chart_id in CHART_IDS:
        assert f'<svg id="{chart_id}"' in text
    ids = re.findall(r'\bid="([^"]+)"', text)
    assert len(ids) == len(set(ids)), "duplicate ids"
    assert text.count("<math") >= 40


def test_report_is_deterministic(built):
    """The same spec and data give a byte-identical page (SVG ids are salted, no dates)."""
    assert built["html"].read_bytes() == (built["dir"] / "again.html").read_bytes()


def test_png_option_writes_each_chart(built):
    names = sorted(p.name for p in built["png"].iterdir())
    assert names == sorted(f"{name}.png" for name in charts.CHARTS)
    for path in built["png"].iterdir():
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_train_saves_history_png(built):
    png = built["run"] / "history.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"saved the loss/accuracy plot to {png}" in built["train_stdout"]
    assert "report: " in built["report_stdout"] and "chart: " in built["report_stdout"]


def test_report_timing(built):
    """The first `report` run (two optimizers of a two-layer network: two modules to
    generate and compile, both trained, the PNGs rendered) finishes within 240 s.
    That is the bound checked; on a small idle machine it usually takes well under
    a minute, and the margin is for slow or loaded CI machines."""
    assert built["seconds"] < 240


def test_optimizer_list():
    from derive import load_spec
    spec = load_spec({"name": "t", "inputs": 2, "layers": [{"units": 1, "activation": "sigmoid"}],
                      "loss": {"kind": "binary_cross_entropy"},
                      "optimizer": {"kind": "adam", "learning_rate": 0.005, "betas": [0.8, 0.9]}})
    variants = parse_optimizers(None, spec)
    assert [v.kind for v in variants] == list(DEFAULT_OPTIMIZERS)
    rates = {v.kind: (v.learning_rate, v.source) for v in variants}
    assert rates == {"sgd": (1e-3, "default"), "adam": (0.005, "spec"), "rmsprop": (1e-2, "default"),
                     "adagrad": (1e-2, "default")}
    adam = next(v for v in variants if v.kind == "adam")
    assert adam.options["betas"] == [0.8, 0.9]            # the spec's own settings are kept
    given = parse_optimizers("adamw:0.1, adam:0.005,adam", spec)
    assert [(v.kind, v.learning_rate, v.source) for v in given] == [
        ("adamw", 0.1, "given"), ("adam", 0.005, "spec")]
    for bad in ("", "nadam", "sgd:-1", "sgd:fast", "sgd:nan"):
        with pytest.raises(ReportError):
            parse_optimizers(bad, spec)


def test_report_bad_options_are_one_line_errors(tmp_path, capsys):
    spec = tmp_path / "iris.toml"
    spec.write_text(IRIS_SPEC)
    for args, word in ((["--optimizers", "sgd,nadam"], "nadam"), (["--epochs", "0"], "--epochs"),
                       (["--data", str(tmp_path / "missing.npz")], "missing.npz")):
        assert cli.main(["report", str(spec), "-o", str(tmp_path / "r.html"), *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("gradgen: error:") and word in err and "Traceback" not in err
    assert not (tmp_path / "r.html").exists()


def test_derive_and_generate_do_not_import_matplotlib():
    code = ("import sys; from gradgen import cli; "
            "cli.main(['derive', 'examples/digits.toml', '--format', 'text', '-o', '/dev/null']); "
            "cli.main(['generate', 'examples/digits.toml', '-o', sys.argv[1]]); "
            "print('matplotlib' in sys.modules)")
    with tempfile.TemporaryDirectory() as out:
        proc = subprocess.run([sys.executable, "-c", code, out], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "False"


if __name__ == "__main__":
    # python3 tests/test_report.py REPORT.html SHOT.png [SELECTOR | HEIGHT]: a screenshot, as the
    # test takes it, of the whole page, of one element (CSS selector) or of the top HEIGHT pixels
    report, shot = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
    where = sys.argv[3] if len(sys.argv) > 3 else None
    browser = Browser(find_chromium() or "chromium")
    try:
        browser.open(report.as_uri())
        if where is not None and where.isdigit():
            browser.screenshot(shot, height=int(where))
        else:
            browser.screenshot(shot, selector=where)
        print(shot, "problems:", browser.problems(), "requests:", browser.requests())
    finally:
        browser.close()
