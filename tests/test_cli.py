"""The command line: exit codes, one-line errors, and the commands end to end."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from gradgen import cli

ROOT = Path(__file__).resolve().parent.parent
DIGITS = ROOT / "examples" / "digits.toml"


def run_cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "gradgen.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd)


def _assert_one_line_error(proc, *words):
    assert proc.returncode == 2, proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.startswith("gradgen: error:")]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for w in words:
        assert w in lines[0], lines[0]


def test_bad_spec_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(DIGITS.read_text().replace("units = 32", "untis = 32"))
    for command in ("derive", "generate", "check", "train"):
        _assert_one_line_error(run_cli(command, bad), "bad.toml", "layers[1].untis", "units")


def test_malformed_toml_names_line(tmp_path):
    bad = tmp_path / "broken.toml"
    bad.write_text('name = "x"\ninputs = = 3\n')
    _assert_one_line_error(run_cli("derive", bad), "broken.toml", "line 2")


def test_missing_file_and_bad_usage(tmp_path):
    _assert_one_line_error(run_cli("derive", tmp_path / "nope.toml"), "nope.toml")
    _assert_one_line_error(run_cli("frobnicate"))
    _assert_one_line_error(run_cli("derive", DIGITS, "--format", "html"), "html")


def test_bad_data_source_is_one_line(tmp_path):
    _assert_one_line_error(run_cli("train", DIGITS, "--data", tmp_path / "missing.npz"), "missing.npz")
    _assert_one_line_error(run_cli("train", DIGITS, "--data", "sklearn:nosuchset"), "nosuchset")


def test_derive_formats(tmp_path):
    for fmt, marker in (("latex", "\\frac"), ("markdown", "$$"), ("text", "a[j] - y[j]")):
        proc = run_cli("derive", DIGITS, "--format", fmt)
        assert proc.returncode == 0 and marker in proc.stdout, (fmt, proc.stderr)
    out = tmp_path / "d.tex"
    proc = run_cli("derive", DIGITS, "--standalone", "-o", out)
    assert proc.returncode == 0 and out.read_text().startswith("\\documentclass")


def test_python_m_entry_points(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "derive", str(DIGITS), "--format", "text"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0 and "cross" in proc.stdout.lower()
    proc = subprocess.run([sys.executable, "-m", "codegen", str(DIGITS), "-o", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0 and (tmp_path / "digits_mlp.py").exists()
    assert proc.stdout.strip() == str(tmp_path / "digits_mlp.py")


def test_check_passes_on_digits(capsys):
    assert cli.main(["check", str(DIGITS)]) == 0
    assert "OK" in capsys.readouterr().out


def test_check_fails_on_a_wrong_gradient(monkeypatch, capsys):
    """Break the derived output delta (x1.5): `check` must notice and exit 1."""
    import dataclasses

    import derive.model as model
    real = model.loss_ir

    def broken(*args, **kwargs):
        ir = real(*args, **kwargs)
        return dataclasses.replace(ir, delta=ir.delta * 3 / 2)
    monkeypatch.setattr(model, "loss_ir", broken)
    assert cli.main(["check", str(DIGITS)]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_train_digits_end_to_end(tmp_path):
    out = tmp_path / "run"
    proc = run_cli("train", DIGITS, "--out", out, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    history = json.loads((out / "history.json").read_text())
    assert history["metric"] == "accuracy" and history["test_score"] >= 0.95
    assert len(history["loss"]) == history["epochs_run"] == 30
    assert (out / "params.npz").exists()
    assert "test accuracy" in proc.stdout and str(out / "params.npz") in proc.stdout


def test_train_with_a_one_cycle_schedule_over_the_epochs_asked(tmp_path):
    """--epochs sets the run's length, so one_cycle's T: the cycle ends with the run."""
    spec = tmp_path / "cycle.toml"
    spec.write_text(DIGITS.read_text().replace('name = "digits_mlp"', 'name = "digits_cycle"')
                    + '\n[schedule]\nkind = "one_cycle"\nmax_lr = 0.05\n')
    out = tmp_path / "run"
    proc = run_cli("train", spec, "--epochs", "3", "--out", out, "--no-progress", "--generated-dir", tmp_path)
    assert proc.returncode == 0, proc.stderr
    history = json.loads((out / "history.json").read_text())
    rates = [r[0] for r in history["learning_rate"]]
    assert history["epochs_run"] == 3 and abs(rates[0] - 0.05 / 25) < 1e-15
    assert rates[1] > rates[2] > rates[0]      # the peak in epoch 2: T is 3 epochs, not the spec's 30


def test_generate_refuses_hand_edited_file_unless_forced(tmp_path):
    assert run_cli("generate", DIGITS, "-o", tmp_path).returncode == 0
    target = tmp_path / "digits_mlp.py"
    target.write_text(target.read_text().replace("DO NOT EDIT", "I edited this"))
    proc = run_cli("generate", DIGITS, "-o", tmp_path)
    _assert_one_line_error(proc, "digits_mlp.py", "edited by hand", "--force")
    assert "I edited this" in target.read_text()
    assert run_cli("generate", DIGITS, "-o", tmp_path, "--force").returncode == 0
    assert "I edited this" not in target.read_text()
    # a file of the user's own that happens to share the name is never overwritten
    target.write_text("print('mine')\n")
    _assert_one_line_error(run_cli("generate", DIGITS, "-o", tmp_path), "edited by hand")


def test_sigint_during_train_saves_and_exits_cleanly(tmp_path):
    """Ctrl-C mid-training: exit 130, no traceback, parameters and history of the last
    completed epoch saved and loadable."""
    import re
    import signal
    import threading
    import time

    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "gradgen.cli", "train", str(DIGITS),
                             "--epochs", "100000", "--out", str(out)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    reader = threading.Thread(target=lambda: seen.extend(iter(lambda: proc.stderr.read(64), "")),
                              daemon=True)
    reader.start()
    deadline = time.time() + 300
    while time.time() < deadline:
        done = [int(n) for n in re.findall(r"(\d+)/100000", "".join(seen))]
        if done and max(done) >= 3:
            break
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("training never showed progress: " + "".join(seen)[-500:])
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    reader.join(timeout=30)
    stdout = proc.stdout.read()
    err = "".join(seen)
    assert proc.returncode == 130, err[-800:]
    assert "Traceback" not in err and "interrupted" in err
    history = json.loads((out / "history.json").read_text())
    assert history["stopped_early"] and "interrupted" in history["stop_reason"]
    assert 3 <= history["epochs_run"] < 100000
    assert len(history["loss"]) == history["epochs_run"]
    from gradgen.loader import import_generated
    module = import_generated(ROOT / "generated" / "digits_mlp.py")
    trainer = module.Trainer.load(out / "params.npz")
    steps_per_epoch = -(-1438 // 32)       # 1797 digits, 20% held out, batches of 32
    assert trainer.t == history["epochs_run"] * steps_per_epoch
    assert "saved parameters" in stdout


def test_debug_flag_shows_the_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(DIGITS.read_text().replace("units = 32", "units = 0"))
    proc = subprocess.run([sys.executable, "-m", "gradgen.cli", "--debug", "derive", str(bad)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "SpecError" in proc.stderr


def test_report_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(DIGITS.read_text().replace("units = 32", "untis = 32"))
    out = tmp_path / "r.html"
    _assert_one_line_error(run_cli("report", bad, "-o", out), "bad.toml", "layers[1].untis", "units")
    _assert_one_line_error(run_cli("report", DIGITS, "--optimizers", "sgd,nadam", "-o", out), "nadam")
    _assert_one_line_error(run_cli("report", DIGITS, "--optimizers", "adam:-1", "-o", out), "adam:-1")
    _assert_one_line_error(run_cli("report", DIGITS, "--data", "sklearn:nosuchset", "-o", out),
                           "nosuchset")
    assert not out.exists()
