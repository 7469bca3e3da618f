"""Hostile and malformed formulas at the command line: `gradgen derive SPEC`.

tests/test_formula.py checks the parser itself; here every formula goes through
a spec TOML file as a layer's activation or as loss.formula, and the CLI must
refuse it with exit 2 and exactly one line on stderr,
`gradgen: error: <file>: <field>: ...`, no traceback, nothing on stdout, and
nothing executed (the payloads that would create a file leave no file; in-process,
eval / exec / os.system / subprocess are spied on and never called).

A few cases run `python -m gradgen.cli` as a real subprocess; the rest call
`gradgen.cli.main([...])`, the same entry point, in-process (it returns the exit code).
"""
import builtins
import importlib
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:     # Python 3.10: the tomli backport (a dependency there)
    import tomli as tomllib

from gradgen import cli

ROOT = Path(__file__).resolve().parent.parent
TARGET = "{target}"          # replaced by a path under tmp_path that must never appear

FIELDS = {
    "hidden": "layers[1].activation",
    "output": "layers[2].activation",
    "loss": "loss.formula",
}

# (formula, where): where is "hidden" (layers[1]), "output" (layers[2]) or "loss"
HOSTILE = [
    # code execution attempts, several of which would create TARGET
    (f"__import__('os').system('touch {TARGET}')", "hidden"),
    (f"open('{TARGET}', 'w')", "hidden"),
    (f"__import__('pathlib').Path('{TARGET}').touch()", "output"),
    (f"exec(\"open('{TARGET}', 'w')\")", "hidden"),
    (f"eval(\"__import__('os').system('touch {TARGET}')\")", "hidden"),
    (f"(lambda: open('{TARGET}', 'w'))()", "hidden"),
    (f"[open('{TARGET}', 'w') for _ in (1,)]", "output"),
    (f"x + __import__('subprocess').call(['touch', '{TARGET}'])", "hidden"),
    (f"exp(open('{TARGET}', 'w'))", "hidden"),
    (f"().__class__.__base__.__subclasses__()[0]('{TARGET}')", "hidden"),
    (f"__import__('os').system('touch {TARGET}')", "loss"),
    (f"(yhat - y)**2 + len(open('{TARGET}', 'w').name)", "loss"),
    ("print('PWNED')", "hidden"),
    ("breakpoint()", "hidden"),
    ("input()", "hidden"),
    ("globals()", "hidden"),
    ("compile('1', 'f', 'eval')", "hidden"),
    # names, attributes, dunders
    ("__import__", "hidden"),
    ("__builtins__", "hidden"),
    ("x.__class__", "hidden"),
    ("x.__class__.__mro__[-1].__subclasses__()", "output"),
    ("getattr(x, '__dict__')", "hidden"),
    ("yhat.real", "loss"),
    ("sympy.exp(x)", "hidden"),
    # other syntax a formula may not use
    ("lambda: 1", "hidden"),
    ("lambda yhat, y: (yhat - y)**2", "loss"),
    ("[x for x in range(3)]", "hidden"),
    ("{x: 1}", "hidden"),
    ("(x, x)", "output"),
    ("'x'", "hidden"),
    ("b'x'", "hidden"),
    ('f"{x}"', "hidden"),
    ("x[0]", "hidden"),
    ("yhat[0] - y", "loss"),
    ("x if x else 1", "hidden"),
    ("(yhat - y)**2 if y else 0", "loss"),
    ("x < 1", "hidden"),
    ("x and 1", "hidden"),
    ("(x := 1)", "hidden"),
    ("x % 2", "hidden"),
    ("x ^ 2", "hidden"),
    ("exp(x=1)", "hidden"),
    ("1j*x", "hidden"),
    ("None", "hidden"),
    ("...", "hidden"),
    # unknown symbols and functions
    ("y", "hidden"),
    ("z + 1", "hidden"),
    ("foo(x)", "hidden"),
    ("x", "loss"),
    ("(yhat - y)**2 + w", "loss"),
    # syntax errors
    ("import os", "hidden"),
    ("x; import os", "hidden"),
    ("exp(x", "hidden"),
    ("x y", "output"),
    ("x +", "hidden"),
    ("(yhat - y", "loss"),
    ("", "hidden"),
    ("x\x00", "hidden"),
    # sizes: too long, too deep, too large
    ("(" * 10000 + "x" + ")" * 10000, "hidden"),
    ("(" * 10000 + "yhat" + ")" * 10000, "loss"),
    ("(" * 500 + "x" + ")" * 500, "hidden"),
    ("exp(" * 150 + "x" + ")" * 150, "output"),
    ("-" * 1500 + "x", "hidden"),
    ("x**10**10", "hidden"),
    ("10**100000", "hidden"),
    ("1" + "0" * 150, "loss"),
    ("x/0", "hidden"),
]

# run as real subprocesses (the rest in-process): the ones that would touch the disk,
# the huge ones, and one loss
_SUBPROCESS_PREFIXES = ("__import__('os').system", "open(", "__import__('pathlib')",
                        "x + __import__('subprocess')", "print(")
SUBPROCESS = {i for i, (text, _) in enumerate(HOSTILE)
              if text.startswith(_SUBPROCESS_PREFIXES) or len(text) > 10000}


def test_table_is_big_enough():
    assert len(HOSTILE) >= 30
    assert len({text for text, _ in HOSTILE}) >= 30
    assert sum(where == "loss" for _, where in HOSTILE) >= 8
    assert len(SUBPROCESS) <= 8 and max(SUBPROCESS) < len(HOSTILE)


def toml_string(text):
    """A TOML basic string for text: JSON's escapes (\\" \\\\ \\n \\uXXXX) are TOML's."""
    return json.dumps(text, ensure_ascii=True)


def write_spec(path, text, where):
    hidden, output = "tanh", "identity"
    loss = 'kind = "mse"'
    if where == "hidden":
        hidden = text
    elif where == "output":
        output = text
    else:
        loss = f"formula = {toml_string(text)}"
    doc = f"""name = "hostile"
inputs = 3
dtype = "float64"

[[layers]]
units = 4
activation = {toml_string(hidden)}

[[layers]]
units = 2
activation = {toml_string(output)}

[loss]
{loss}

[optimizer]
kind = "sgd"
learning_rate = 0.1
"""
    path.write_text(doc, encoding="utf-8")
    # the escaping is right: the file reads back to exactly this formula
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    got = {"hidden": data["layers"][0]["activation"], "output": data["layers"][1]["activation"],
           "loss": data["loss"].get("formula")}[where]
    assert got == text
    return path


def _case(tmp_path, index):
    text, where = HOSTILE[index]
    target = tmp_path / "pwned"
    text = text.replace(TARGET, str(target))
    spec = write_spec(tmp_path / f"hostile_{index:02d}.toml", text, where)
    return spec, target, FIELDS[where]


def _check_refusal(code, out, err, spec, field, target):
    assert code == 2, f"exit {code}; stderr: {err!r}"
    assert "Traceback" not in err, err
    assert out == "", f"stdout: {out!r}"
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), f"stderr is not one line: {err[:500]!r}"
    line = lines[0]
    assert line.startswith("gradgen: error: "), line[:300]
    assert spec.name in line, line[:300]
    assert field in line, line[:300]
    assert not target.exists(), f"{target} was created: the formula was executed"


@pytest.mark.parametrize("index", sorted(SUBPROCESS),
                         ids=[repr(HOSTILE[i][0])[:40] for i in sorted(SUBPROCESS)])
def test_hostile_formula_refused_by_subprocess(tmp_path, index):
    spec, target, field = _case(tmp_path, index)
    proc = subprocess.run([sys.executable, "-m", "gradgen.cli", "derive", str(spec)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    _check_refusal(proc.returncode, proc.stdout, proc.stderr, spec, field, target)


@pytest.fixture
def no_code_runs(monkeypatch):
    """Spies on eval / exec / os.system / os.popen / subprocess.Popen; nothing may call them."""
    import derive                         # every module imported before the spies go in:
    for info in pkgutil.iter_modules(derive.__path__):     # importing a module calls exec
        if info.name != "__main__":
            importlib.import_module(f"derive.{info.name}")

    calls = []

    def spy(name):
        def forbidden(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"{name} was called while refusing a formula")
        return forbidden

    monkeypatch.setattr(builtins, "eval", spy("eval"))
    monkeypatch.setattr(builtins, "exec", spy("exec"))
    monkeypatch.setattr(os, "system", spy("os.system"))
    monkeypatch.setattr(os, "popen", spy("os.popen"))
    monkeypatch.setattr(subprocess, "Popen", spy("subprocess.Popen"))
    yield calls


@pytest.mark.parametrize("index", [i for i in range(len(HOSTILE)) if i not in SUBPROCESS],
                         ids=[repr(t)[:40] for i, (t, _) in enumerate(HOSTILE) if i not in SUBPROCESS])
def test_hostile_formula_refused_in_process(tmp_path, capsys, no_code_runs, index):
    spec, target, field = _case(tmp_path, index)
    code = cli.main(["derive", str(spec)])
    captured = capsys.readouterr()
    assert no_code_runs == []
    _check_refusal(code, captured.out, captured.err, spec, field, target)


def test_the_same_spec_with_a_valid_formula_derives(tmp_path, capsys):
    """Control: the spec template itself is fine, so each refusal is the formula's."""
    for where, text in (("hidden", "x*sigmoid(x)"), ("output", "x/(1 + abs(x))"),
                        ("loss", "log(cosh(yhat - y))")):
        spec = write_spec(tmp_path / f"ok_{where}.toml", text, where)
        assert cli.main(["derive", str(spec), "--format", "text"]) == 0
        captured = capsys.readouterr()
        assert captured.err == "" and captured.out.strip()
