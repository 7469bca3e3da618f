"""gradgen sweep on a Dask distributed cluster: every combination and fold trained,
bit for bit as the same training alone in this process; a worker killed mid-sweep;
an interrupted sweep resumed without training a finished row again; bad input
refused before any worker starts; the page opened offline in Chromium; the
Estimator in GridSearchCV under joblib's Dask backend."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("distributed")

from derive.spec import load_spec  # noqa: E402
from gradgen import cli  # noqa: E402
from gradgen import sweep as sweep_mod  # noqa: E402
from gradgen.sweep import SweepError, sweep  # noqa: E402
from gradgen.sweep_grid import combinations, folds, parse_setting  # noqa: E402
from gradgen.sweep_task import run_training  # noqa: E402

GRID = {"optimizer.learning_rate": [0.05, 0.2], "layers.1.units": [4, 7]}


def _spec(tmp_path, rows=150):
    """A small 3-class problem in an .npz, and a spec that trains on it."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(rows, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 0.8)
    np.savez(tmp_path / "data.npz", X=X, y=y)
    spec = {"name": "sweep_small", "inputs": 4,
            "layers": [{"units": 5, "activation": "tanh"}, {"units": 3, "activation": "softmax"}],
            "loss": {"kind": "cross_entropy"}, "optimizer": {"kind": "adam", "learning_rate": 0.01},
            "training": {"batch_size": 16, "epochs": 3, "shuffle": True, "seed": 2},
            "data": {"source": str(tmp_path / "data.npz"), "test_fraction": 0.25}}
    return spec, X, y


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A 2-worker local-cluster sweep of GRID with 3 folds."""
    tmp = tmp_path_factory.mktemp("sweep")
    spec, X, y = _spec(tmp)
    out = tmp / "out"
    rows = sweep(spec, GRID, folds=3, workers=2, out_dir=out, progress=False)
    return dict(spec=spec, X=X, y=y, out=out, rows=rows)


def test_every_combination_and_fold_trains_as_it_would_alone(swept):
    rows, out = swept["rows"], swept["out"]
    assert sorted((r["optimizer.learning_rate"], r["layers.1.units"], r["fold"]) for r in rows) == sorted(
        (lr, units, fold) for lr in GRID["optimizer.learning_rate"] for units in GRID["layers.1.units"]
        for fold in range(3))
    assert all(r["status"] == "ok" and r["epochs_run"] == 3 for r in rows)
    assert len({r["worker"] for r in rows}) == 2            # both workers trained
    # the same trainings, alone in this process, from the same tasks: bit for bit
    tasks = sweep_mod._tasks(load_spec(swept["spec"]), GRID, combinations(swept["spec"], GRID), 3,
                             swept["spec"]["data"]["source"], 3, None, out)
    fold_of = folds(swept["y"], 3, 2, True)
    by_id = {r["run_id"]: r for r in rows}
    for task in tasks:
        alone = run_training(task, {"X": swept["X"], "y": swept["y"], "fold_of": fold_of})
        there = by_id[task["row"]["run_id"]]
        for key in ("train_loss", "val_loss", "train_accuracy", "val_accuracy", "epochs_run"):
            assert alone[key] == there[key], (key, task["row"])
    # the files: one CSV row per training, columns as given, then fold and the metrics
    csv_lines = (out / "results.csv").read_text().splitlines()
    assert csv_lines[0].startswith("optimizer.learning_rate,layers.1.units,fold,status,epochs_run,")
    assert len(csv_lines) == 1 + len(rows)
    assert json.loads((out / "results.json").read_text()) == rows
    # best.toml is a valid spec: the combination of lowest mean validation loss
    best = load_spec(str(out / "best.toml"))
    means = {}
    for r in rows:
        means.setdefault((r["optimizer.learning_rate"], r["layers.1.units"]), []).append(r["val_loss"])
    lr, units = min(means, key=lambda k: sum(means[k]) / 3)
    assert (best.optimizer.params["learning_rate"], best.layers[0].units) == (lr, units)
    # one module per distinct network, generated before the fan-out
    assert sorted(p.name for p in (out / "modules").glob("*.py")) == sorted(
        {f"{c[2]['name']}.py" for c in combinations(swept["spec"], GRID)})
    assert len(list((out / "modules").glob("*.py"))) == 2


def test_the_sweep_page_opens_offline_in_chromium(swept):
    from browser import visit
    page, problems, requests, _ = visit(swept["out"] / "sweep.html", """(() => ({
        rows: document.querySelectorAll('#results tbody tr').length,
        best: document.querySelectorAll('#results tr.best').length,
        charts: [...document.querySelectorAll('svg.chart')].map(s => [
            s.querySelectorAll('circle').length, s.querySelector('polyline').points.length,
            s.getBoundingClientRect().width]),
    }))()""")
    assert page["rows"] == len(swept["rows"]) and page["best"] == 3
    assert [c[:2] for c in page["charts"]] == [[12, 2], [12, 2]] and all(c[2] > 100 for c in page["charts"])
    assert not problems, problems
    assert all(url.startswith("file:") for url in requests), requests


def test_a_worker_killed_mid_sweep_loses_no_row(tmp_path):
    from dask.distributed import Client, LocalCluster
    spec, _, _ = _spec(tmp_path, rows=400)
    spec["training"]["epochs"] = 25
    out = tmp_path / "out"
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None,
                           env=sweep_mod.WORKER_ENV)
    client = Client(cluster)
    killed = []

    def kill_one_when_a_row_is_in():
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            if (out / "results.json").exists():
                pid = next(iter(client.run(os.getpid).values()))
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.05)
    killer = threading.Thread(target=kill_one_when_a_row_is_in, daemon=True)
    killer.start()
    try:
        rows = sweep(spec, {"optimizer.learning_rate": [0.01, 0.02, 0.05, 0.1, 0.2, 0.5]}, folds=2,
                     client=client, out_dir=out, progress=False)
    finally:
        killer.join(5)
        client.close()
        cluster.close()
    assert killed, "no worker was killed: the sweep ended before its first row was written"
    assert len(rows) == 12 and all(r["status"] == "ok" for r in rows)
    assert sorted((r["optimizer.learning_rate"], r["fold"]) for r in rows) == sorted(
        (lr, f) for lr in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5) for f in (0, 1))


def test_an_interrupted_sweep_resumes_without_training_a_finished_row(tmp_path, monkeypatch):
    from dask.distributed import Client, LocalCluster
    spec, _, _ = _spec(tmp_path)
    out = tmp_path / "out"
    grid = {"optimizer.learning_rate": [0.01, 0.05, 0.2], "training.batch_size": [8, 16]}
    real, calls = sweep_mod.write_results, []

    def interrupted_after_three(*args):
        real(*args)
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt          # as Ctrl-C after the third row
    with LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as cluster, \
            Client(cluster) as client:
        monkeypatch.setattr(sweep_mod, "write_results", interrupted_after_three)
        with pytest.raises(KeyboardInterrupt):
            sweep(spec, grid, client=client, out_dir=out, progress=False)
        kept = json.loads((out / "results.json").read_text())
        assert len(kept) == 3 and (out / "sweep.html").exists() and (out / "best.toml").exists()
        monkeypatch.setattr(sweep_mod, "write_results", real)
        trained = []
        monkeypatch.setattr(sweep_mod, "_compile", lambda tasks, *a: trained.extend(tasks))
        rows = sweep(spec, grid, client=client, out_dir=out, progress=False)
    assert rows[:3] == kept                           # kept as they were, seconds and worker too
    assert len(rows) == 6 and len(trained) == 3       # only the missing three trained
    assert {r["run_id"] for r in kept}.isdisjoint(t["row"]["run_id"] for t in trained)


def test_a_diverging_training_is_a_row_and_the_sweep_goes_on(tmp_path):
    spec, X, y = _spec(tmp_path)
    spec = dict(spec, layers=[{"units": 5, "activation": "tanh"}, {"units": 1, "activation": "identity"}],
                loss={"kind": "mse"}, optimizer={"kind": "sgd", "learning_rate": 0.1})
    y = y.astype(float)
    [(_, _, module_spec, overrides)] = combinations(spec, {"optimizer.learning_rate": [1e30]})
    from codegen.generator import generate
    path = generate(module_spec, out_dir=tmp_path)
    task = {"module": module_spec["name"], "path": str(path), "source": path.read_text(),
            "overrides": overrides, "seed": 0, "fold": 0, "epochs": None, "row": {"run_id": "x"}}
    row = run_training(task, {"X": X, "y": y, "fold_of": folds(y, 2, 0, False)})
    assert row["status"] == "diverged" and "Try a smaller learning rate" in row["error"]
    assert row["val_r2"] is None and row["seconds"] > 0


@pytest.mark.parametrize("argv, message", [
    (["--set", "optimizer.lerning_rate=0.1"], "optimizer.lerning_rate: unknown key"),
    (["--set", "training.batch_size=abc"], "training.batch_size: expected an integer"),
    (["--set", "optimizer.learning_rate=-1"], "optimizer.learning_rate: must be >= 0"),
    (["--set", "layers.3.units=4"], "'3' is not a layer number from 1 to 2"),
    (["--set", "layers.1.activation=tanh,nope"], "layers[1].activation"),
    (["--set", "optimizer.learning_rate="], "--set optimizer.learning_rate: no values"),
    (["--set", "learning_rate"], "expected KEY=V1,V2"),
    ([], "nothing to sweep"),
    (["--set", "training.seed=1", "--set", "training.seed=2"], "given twice"),
    (["--set", "optimizer.learning_rate=0.1", "--folds", "1"], "--folds 1: needs 2 to"),
    (["--set", "optimizer.learning_rate=0.1", "--epochs", "0"], "--epochs 0"),
])
def test_bad_input_is_one_line_and_exit_2_before_any_worker(tmp_path, monkeypatch, capsys, argv, message):
    spec, _, _ = _spec(tmp_path)
    (tmp_path / "s.toml").write_text(_toml(spec))

    def no_cluster(*args):
        raise AssertionError("a cluster was started for bad input")
    monkeypatch.setattr(sweep_mod, "_client", no_cluster)
    code = cli.main(["sweep", str(tmp_path / "s.toml"), "-o", str(tmp_path / "out"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_without_dask_the_sweep_says_how_to_install_it(tmp_path, monkeypatch):
    spec, _, _ = _spec(tmp_path)
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    with pytest.raises(SweepError, match=r"pip install 'gradgen\[sweep\]'"):
        sweep(spec, {"optimizer.learning_rate": [0.1]}, out_dir=tmp_path / "out", progress=False)


@pytest.mark.parametrize("dashboard", [False, True])
def test_the_local_cluster_listens_on_loopback_only(dashboard):
    """Scheduler, workers and the scheduler's HTTP server on 127.0.0.1; the dashboard's
    pages only when asked for."""
    import urllib.error
    import urllib.request
    client, cluster = sweep_mod._client(None, None, 1, dashboard)
    try:
        info = client.scheduler_info()
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        assert all(addr.startswith("tcp://127.0.0.1:") for addr in info["workers"])
        assert all(w["nanny"].startswith("tcp://127.0.0.1:") for w in info["workers"].values())
        assert cluster.scheduler.http_server._sockets, "no HTTP server to check"
        hosts = {sock.getsockname()[0] for sock in cluster.scheduler.http_server._sockets.values()}
        assert hosts == {"127.0.0.1"}, hosts
        port = info["services"]["dashboard"]
        try:
            status = urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=10).status
        except urllib.error.HTTPError as err:
            status = err.code
        assert status == (200 if dashboard else 404)
    finally:
        client.close()
        cluster.close()


def test_settings_parse_as_toml_values():
    assert parse_setting("optimizer.learning_rate=1e-3, 0.1") == ("optimizer.learning_rate", [0.001, 0.1])
    assert parse_setting("optimizer.betas=[0.9, 0.99],[0.8, 0.9]") == ("optimizer.betas",
                                                                        [[0.9, 0.99], [0.8, 0.9]])
    assert parse_setting("layers.1.activation=relu,x*sigmoid(x)") == ("layers.1.activation",
                                                                      ["relu", "x*sigmoid(x)"])
    assert parse_setting("training.shuffle=true,false") == ("training.shuffle", [True, False])


def test_grid_search_cv_runs_the_estimator_on_joblibs_dask_backend():
    joblib = pytest.importorskip("joblib")
    from dask.distributed import Client, LocalCluster
    from sklearn.datasets import load_digits
    from sklearn.model_selection import GridSearchCV

    from generated.digits_mlp import Estimator
    X, y = load_digits(return_X_y=True)
    X, y = X[:400] / 16, y[:400]
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as cluster, \
            Client(cluster):
        with joblib.parallel_backend("dask"):
            search = GridSearchCV(Estimator(epochs=3), {"learning_rate": [0.01, 0.1]}, cv=2, n_jobs=-1).fit(X, y)
    assert search.best_params_["learning_rate"] in (0.01, 0.1) and 0.5 < search.best_score_ <= 1


def test_the_cli_writes_the_files_and_says_where(tmp_path):
    spec, _, _ = _spec(tmp_path)
    (tmp_path / "s.toml").write_text(_toml(spec))
    proc = subprocess.run([sys.executable, "-m", "gradgen", "sweep", str(tmp_path / "s.toml"), "--set",
                           "optimizer.learning_rate=0.01,0.1", "--workers", "1", "--epochs", "2",
                           "--no-progress", "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "2 trainings (2 ok)" in proc.stdout
    assert {p.name for p in (tmp_path / "out").iterdir()} >= {"results.csv", "results.json", "best.toml",
                                                             "sweep.html", "modules"}
    assert load_spec(str(tmp_path / "out" / "best.toml")).training.epochs == 2


def _toml(spec):
    from gradgen.sweep_output import toml
    return toml(load_spec(spec).to_dict())
