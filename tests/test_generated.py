"""The generated module: fresh, deterministic, standalone, and safe with bad input."""
import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from codegen import render
from gradgen.loader import import_generated
from derive import load_spec

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_checked_in_module_is_fresh(example):
    spec = load_spec(example)
    checked_in = ROOT / "generated" / f"{spec.name}.py"
    assert checked_in.exists(), f"run: gradgen generate {example.relative_to(ROOT)}"
    assert checked_in.read_text() == render(spec), (
        f"generated/{spec.name}.py is stale: run gradgen generate {example.relative_to(ROOT)}")


def test_generation_is_byte_identical_across_processes():
    example = ROOT / "examples" / "digits.toml"
    code = "import sys; from codegen import render; sys.stdout.write(render(sys.argv[1]))"
    outputs = set()
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, "-c", code, str(example)], capture_output=True,
                             text=True, env=env, cwd=ROOT, check=True).stdout
        outputs.add(out)
    assert len(outputs) == 1 and outputs.pop() == render(example)


def test_module_imports_only_numpy_numba_stdlib_and_the_runtime():
    tree = ast.parse((ROOT / "generated" / "digits_mlp.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module)
    allowed = {"numpy", "numba", "tqdm"} | set(sys.stdlib_module_names)
    outside = {n for n in names if n.split(".")[0] not in allowed}
    assert outside and outside <= {"gradgen", "gradgen.runtime", "gradgen.runtime.intrinsics",
                                   "gradgen.runtime.kernels"}, outside
    assert "exec(" not in (ROOT / "codegen" / "generator.py").read_text()


def test_importing_a_module_imports_no_sympy_jinja2_or_generator():
    """A deployment needs the module and the runtime only (CONTRACT §1): importing one,
    and training it, loads neither SymPy nor Jinja2 nor derive, codegen or the app."""
    code = ("import sys, numpy as np; import generated.digits_mlp as m; "
            "m.Trainer(seed=0).fit(np.zeros((8, 64)), np.arange(8), epochs=1, progress=False); "
            "bad = sorted({n.split('.')[0] for n in sys.modules} & {'sympy', 'jinja2', 'derive', 'codegen'}); "
            "app = sorted(n for n in sys.modules if n.startswith('gradgen') and not n.startswith('gradgen.runtime') "
            "and n != 'gradgen'); print(bad, app)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[] []", out.stdout + out.stderr


def test_header_names_spec_and_version():
    head = (ROOT / "generated" / "digits_mlp.py").read_text().split("\n", 8)
    text = "\n".join(head[:8])
    assert "digits.toml" in text and "gradgen 0.1.0" in text and "DO NOT EDIT" in text


def test_contract_constants(digits):
    assert digits.NAME == "digits_mlp" and digits.DTYPE == np.float32
    assert digits.PARAM_NAMES == ["W1", "b1", "W2", "b2"]
    assert digits.PARAM_SHAPES == [(64, 32), (32,), (32, 10), (10,)]
    assert digits.SPEC["layers"][0]["activation"] == "tanh"
    params = digits.init_params(3)
    assert [p.shape for p in params] == digits.PARAM_SHAPES
    assert all(p.dtype == np.float32 for p in params)
    np.testing.assert_array_equal(params[0], digits.init_params(3)[0])


@pytest.mark.parametrize("X,y,words", [
    (np.zeros((4, 63)), np.zeros(4, int), "features"),
    (np.zeros((4, 64)), np.zeros(5, int), "rows"),
    (np.full((4, 64), np.nan), np.zeros(4, int), "NaN"),
    (np.zeros((4, 64)), np.array([0, 1, 2, 10]), "0..9"),
    (np.zeros((4, 64)), np.array([0, 1, -1, 2]), "0..9"),
    (np.zeros((4, 64)), np.array([0.5, 1, 2, 3]), "integers"),
    (np.zeros((0, 64)), np.zeros(0, int), "no rows"),
    (np.array([["a"] * 64] * 4), np.zeros(4, int), "cannot be cast"),
    (np.zeros(64), np.zeros(1, int), "2-D"),
])
def test_bad_input_raises_value_error_before_jit(digits, X, y, words):
    params = digits.init_params(0)
    before = [p.copy() for p in params]
    with pytest.raises(ValueError, match=words):
        digits.loss_and_grad(params, X, y)
    trainer = digits.Trainer(params)
    with pytest.raises(ValueError, match=words):
        trainer.step(X, y)
    for p, q in zip(trainer.params, before):
        np.testing.assert_array_equal(p, q)


def test_one_hot_targets_equal_labels(digits):
    rng = np.random.default_rng(0)
    X, labels = rng.normal(size=(9, 64)), rng.integers(0, 10, size=9)
    params = digits.init_params(0)
    l1, g1 = digits.loss_and_grad(params, X, labels)
    l2, g2 = digits.loss_and_grad(params, X, np.eye(10)[labels])
    assert l1 == l2 and all(np.array_equal(a, b) for a, b in zip(g1, g2))


def test_save_load_resumes_bit_identical(digits, tmp_path):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(100, 64)), rng.integers(0, 10, size=100)
    straight = digits.Trainer(seed=0)
    straight.fit(X, y, epochs=4, batch_size=16, progress=False)
    half = digits.Trainer(seed=0)
    half.fit(X, y, epochs=2, batch_size=16, progress=False)
    half.save(tmp_path / "ckpt.npz")
    resumed = digits.Trainer.load(tmp_path / "ckpt.npz")
    resumed.fit(X, y, epochs=2, batch_size=16, progress=False)
    assert resumed.t == straight.t
    for a, b in zip(resumed.params, straight.params):
        np.testing.assert_array_equal(a, b)


def test_load_refuses_other_spec(digits, tmp_path):
    other = import_generated(_generate_variant(tmp_path))
    other.Trainer(seed=0).save(tmp_path / "other.npz")
    with pytest.raises(ValueError, match="not of this module's spec"):
        digits.Trainer.load(tmp_path / "other.npz")


def _generate_variant(tmp_path):
    from codegen import generate
    data = load_spec(ROOT / "examples" / "digits.toml").to_dict()
    data["layers"][0]["units"] = 16
    return generate(data, out_dir=tmp_path)


def test_predict_score_and_proba(digits):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(20, 64))
    trainer = digits.Trainer(seed=0)
    proba = trainer.predict_proba(X)
    assert proba.shape == (20, 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(trainer.predict(X), proba.argmax(axis=1))
    labels = trainer.predict(X)
    assert trainer.score(X, labels) == 1.0


def test_divergence_stops_with_clear_error_and_finite_params(digits):
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(64, 64)) * 1e3, rng.integers(0, 10, size=64)
    trainer = digits.Trainer(seed=0, learning_rate=1e30, momentum=0.0)
    with pytest.raises(FloatingPointError, match="epoch 1: .*smaller learning rate"):
        trainer.fit(X, y, epochs=5, batch_size=8, progress=False)
    assert all(np.all(np.isfinite(p)) for p in trainer.params)


def test_unknown_override_is_refused(digits):
    with pytest.raises(TypeError, match="unknown setting 'momentun'; did you mean 'momentum'"):
        digits.Trainer(momentun=0.9)
    with pytest.raises(ValueError, match="momentum = -1.0 is out of range: must be >= 0"):
        digits.Trainer(momentum=-1.0)


def test_fortran_ordered_and_strided_input_is_accepted_by_copying(digits):
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(12, 64)), rng.integers(0, 10, size=12)
    params = digits.init_params(0)
    want = digits.loss_and_grad(params, X, y)
    wide = np.zeros((12, 128))
    wide[:, ::2] = X
    for variant in (np.asfortranarray(X), wide[:, ::2], X.astype(np.float32), X.tolist()):
        got = digits.loss_and_grad(params, variant, y)
        assert got[0] == want[0]
    fortran_params = [np.asfortranarray(p) for p in params]
    assert digits.loss_and_grad(fortran_params, X, y)[0] == want[0]


def test_save_is_atomic_a_failed_write_keeps_the_old_checkpoint(digits, tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    first = digits.Trainer(seed=0)
    first.save(path)
    before = path.read_bytes()

    def broken(fh, **arrays):
        fh.write(b"partial")
        raise OSError("disk full")
    monkeypatch.setattr(digits.np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        digits.Trainer(seed=1).save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.npz"]   # no temporary left


def test_generate_is_atomic(tmp_path, monkeypatch):
    import codegen.generator as generator
    target = generator.generate(ROOT / "examples" / "digits.toml", out_dir=tmp_path)
    before = target.read_text()
    data = load_spec(ROOT / "examples" / "digits.toml").to_dict()
    data["layers"][0]["units"] = 16

    def broken(src, dst):
        raise OSError("rename failed")
    import gradgen.runtime.files
    monkeypatch.setattr(gradgen.runtime.files.os, "replace", broken)
    with pytest.raises(OSError):
        generator.generate(data, out_dir=tmp_path)
    assert target.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits_mlp.py"]


def test_formula_text_never_reaches_generated_code(tmp_path):
    """Spec strings reach the module only through validation and the printer: the
    module quotes the parsed expression, not the user's text."""
    from codegen import generate
    from derive.errors import SpecError
    data = load_spec(ROOT / "examples" / "digits.toml").to_dict()
    data["layers"][0]["activation"] = "x /  (1+ abs( x ))"
    text = generate(data, out_dir=tmp_path).read_text()
    raw = "x /  (1+ abs( x ))"
    # only inside the SPEC literal, as a Python string literal (repr escapes anything)
    assert text.count(raw) == text.count(repr(raw)) == 1 and "x/(Abs(x) + 1)" in text
    # a comment could smuggle a closing docstring quote past the AST: refused
    data["layers"][0]["activation"] = 'x #""" ; import os'
    with pytest.raises(SpecError, match="comments"):
        generate(data, out_dir=tmp_path)


def test_importing_a_generated_file_twice_works(tmp_path):
    from codegen import generate
    path = generate(ROOT / "examples" / "digits.toml", out_dir=tmp_path)
    first = import_generated(path)
    second = import_generated(path)
    assert first.NAME == second.NAME == "digits_mlp" and second.__file__ == str(path)


def test_codegen_reads_the_ir_alone():
    """The generator's context is built from the IR (and the derivation's equation
    numbers): no registry and no Spec field is read in codegen/ or its templates."""
    registries = {"OPTIMIZERS", "INITIALIZERS", "ACTIVATIONS", "LOSSES", "build_ir", "Spec"}
    for path in sorted((ROOT / "codegen").rglob("*")):
        if path.suffix not in (".py", ".j2"):
            continue
        text = path.read_text()
        # generator.py is the entry: it loads the spec and derives it, then reads the IR
        found = {name for name in registries if re.search(rf"\b{name}\b", text)}
        found -= {"Spec"} if path.name == "generator.py" else set()
        assert not found, (path.name, found)
        if path.suffix == ".py" and path.name != "generator.py":
            tree = ast.parse(text)
            attrs = {node.value.id for node in ast.walk(tree)
                     if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)}
            assert "spec" not in attrs, path.name


def test_a_module_for_another_runtime_refuses_to_import(tmp_path):
    """CONTRACT §5: importing a module with a runtime it was not generated for fails
    with a clear error that says to regenerate."""
    from gradgen import runtime
    text = (ROOT / "generated" / "digits_mlp.py").read_text()
    line = f"runtime.require({runtime.VERSION!r}, __name__)"
    assert text.count(line) == 1
    path = tmp_path / "old_digits.py"
    path.write_text(text.replace(line, "runtime.require('1', __name__)"))
    with pytest.raises(ImportError, match=r"generated for gradgen runtime '1'.*regenerate it"):
        import_generated(path)


def test_trainer_overrides_meet_the_registry_refusals(digits):
    """The registry's refusal (SGD: Nesterov needs momentum > 0 and no dampening) is
    printed into the module: overrides that break it are refused, others pass."""
    digits.Trainer(nesterov=True)
    for bad in ({"nesterov": True, "momentum": 0.0}, {"nesterov": True, "dampening": 0.5}):
        with pytest.raises(ValueError, match="Nesterov momentum requires a momentum > 0 and zero dampening"):
            digits.Trainer(**bad)
