"""A spec's derivation is byte-identical everywhere: across processes and hash seeds,
in a worker thread, and without signals. The optional SymPy searches are bounded
by the size of their input (derive/derivative_forms.py), never by a clock."""
import ast
import hashlib
import json
import os
import pathlib
import signal
import subprocess
import sys
import threading

import pytest
import sympy as sp

from derive import derive
from derive import derivative_forms
from derive.model import activation_ir
from derive.symbols import x, z

from derivation_specs import SPECS, spec

ROOT = pathlib.Path(__file__).resolve().parent.parent
# formulas whose output-form search was cut off by a 2 s alarm, or came close to it
# (the last took 44 s in sympy.solve: its float power makes a cubic)
ONCE_TIME_BOUNDED = ["x**3/(1+x**2)", "x + sin(x)", "x*sigmoid(x)", "log(cosh(x))/2",
                     "log(1 + exp(1.5*(log(1 + exp(0.5*x)))))"]


def _all(d):
    return d.latex(standalone=True) + d.markdown() + d.text() + d._repr_latex_()


def _hard_spec():
    return spec("hard", [ONCE_TIME_BOUNDED[0], ONCE_TIME_BOUNDED[1], "tanh", "softmax"], [4, 3, 3, 2],
                {"kind": "cross_entropy"}, {"kind": "adam"})


def test_deterministic_in_process():
    for s in SPECS.values():
        assert _all(derive(s)) == _all(derive(s))


def test_deterministic_across_hash_seeds():
    code = ("import hashlib, json, sys; from derive import derive; "
            "specs = json.loads(sys.argv[1]); "
            "ds = [derive(s) for s in specs]; "
            "print(hashlib.sha256(''.join(d.latex(True) + d.text() for d in ds).encode()).hexdigest())")
    specs = json.dumps([SPECS["softmax_mse"], SPECS["relu_sigmoid_bce_amsgrad"]])
    digests = set()
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(ROOT))
        run = subprocess.run([sys.executable, "-c", code, specs], env=env, cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        digests.add(run.stdout.strip())
    ds = [derive(s) for s in json.loads(specs)]
    expected = hashlib.sha256("".join(d.latex(True) + d.text() for d in ds).encode()).hexdigest()
    assert digests == {expected}


def test_worker_thread_derives_byte_identical_output():
    """The searches used to be bounded only in the main thread (signals); now a worker
    thread runs the same bounded searches, so its output is the main thread's."""
    activation_ir.cache_clear()           # run the searches in the thread, not from the cache
    out = {}

    def work():
        out["thread"] = _all(derive(_hard_spec()))
    worker = threading.Thread(target=work)
    worker.start()
    worker.join(timeout=300)
    assert not worker.is_alive() and "thread" in out
    activation_ir.cache_clear()
    assert _all(derive(_hard_spec())) == out["thread"]


def test_derive_imports_no_clock_signal_or_thread():
    """No module of derive/ reads a clock, sets a signal or asks for its thread."""
    for path in sorted((ROOT / "derive").glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not {n.split(".")[0] for n in names} & {"signal", "threading", "time"}, path.name


def test_once_time_bounded_formulas_finish_without_signals(monkeypatch):
    """With SIGALRM gone and signal handlers refused, the formulas whose search used
    to be cut off by the alarm derive, to the same result every time: the cubic's
    inverse is not searched (has_closed_inverse is False), so its backward form is
    the simplified form in z."""
    def refuse(*args):
        raise AssertionError("the derivation touched a signal")
    monkeypatch.delattr(signal, "SIGALRM", raising=False)
    monkeypatch.setattr(signal, "signal", refuse)
    monkeypatch.setattr(signal, "setitimer", refuse, raising=False)
    from derive.formula import parse_formula
    results = []
    for attempt in range(2):
        activation_ir.cache_clear()
        results.append([activation_ir("formula", parse_formula(t, ("x",)), "f").backward
                        for t in ONCE_TIME_BOUNDED])
    assert results[0] == results[1]
    cubic = parse_formula(ONCE_TIME_BOUNDED[0], ("x",)).subs(x, z)
    assert not derivative_forms.has_closed_inverse(cubic)
    assert results[0][0] == z ** 2 * (z ** 2 + 3) / (z ** 2 + 1) ** 2


@pytest.mark.parametrize("f, closed", [
    ("1/(1 + exp(-x))", True), ("tanh(x)", True), ("2*atan(x/2)/pi", True), ("x/(1 + x)", True),
    ("x**3", True), ("x**3/(1 + x**2)", False), ("x + sin(x)", False), ("x*tanh(x)", False),
    ("log(cosh(x))", False), ("sqrt(x**2 + 1)", False), ("max(x, 0)", False),
    ("sqrt(1 + exp(x))", True), ("(1 + exp(x))**(1/3)", True),
    ("log(1 + (1 + exp(x))**1.5)", False), ("(1 + exp(x))**(3/2)", False)])
def test_closed_inverse_rules(f, closed):
    from derive.formula import parse_formula
    assert derivative_forms.has_closed_inverse(parse_formula(f, ("x",)).subs(x, z)) is closed


def test_searches_are_bounded_by_size():
    """An expression over SEARCH_OPS operations is returned as it is, unsearched."""
    big = sum(sp.tanh(k * z) ** 2 for k in range(1, 30))
    assert sp.count_ops(big) > derivative_forms.SEARCH_OPS
    assert derivative_forms.bounded_simplify(big) is big
    assert derivative_forms.simplified(sp.diff(big, z), big) is None
    assert derivative_forms.optional(lambda: 1 / 0, big) is big
    assert derivative_forms.bounded_simplify(sp.sin(z) ** 2 + sp.cos(z) ** 2) == 1
