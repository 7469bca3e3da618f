"""generate() keeps a module whose render-key is current (the same spec, source name
and generator) instead of deriving it again, and renders whenever any of them changed."""
from pathlib import Path

import pytest

from codegen import generator
from derive import load_spec

ROOT = Path(__file__).resolve().parent.parent
SPEC = {"name": "keyed", "inputs": 3, "layers": [{"units": 4, "activation": "tanh"},
                                                {"units": 2, "activation": "identity"}],
        "loss": {"kind": "mse"}, "optimizer": {"kind": "sgd", "learning_rate": 0.1}}


@pytest.fixture
def renders(monkeypatch):
    """The specs generate() rendered, in order."""
    seen, real = [], generator.render

    def counting(spec):
        seen.append(load_spec(spec).name)
        return real(spec)
    monkeypatch.setattr(generator, "render", counting)
    return seen


def test_a_current_module_is_kept_without_rendering(tmp_path, renders):
    path = generator.generate(SPEC, out_dir=tmp_path)
    text = path.read_text()
    assert f"render-key: {generator.render_key(load_spec(SPEC))}\n" in text
    assert generator.generate(SPEC, out_dir=tmp_path) == path and path.read_text() == text
    assert renders == ["keyed"]


def test_a_changed_spec_or_generator_renders_again(tmp_path, renders, monkeypatch):
    path = generator.generate(SPEC, out_dir=tmp_path)
    changed = dict(SPEC, optimizer={"kind": "sgd", "learning_rate": 0.2})
    generator.generate(changed, out_dir=tmp_path)
    assert "'learning_rate': 0.2" in path.read_text() and len(renders) == 2
    monkeypatch.setattr(generator, "generator_digest", lambda: "0" * 64)   # another gradgen
    generator.generate(changed, out_dir=tmp_path)
    assert len(renders) == 3 and f"render-key: {generator.render_key(load_spec(changed))}" in path.read_text()


def test_a_module_edited_by_hand_is_not_kept_silently(tmp_path, renders):
    path = generator.generate(SPEC, out_dir=tmp_path)
    path.write_text(path.read_text().replace("NAME = 'keyed'", "NAME = 'mine'"))
    with pytest.raises(generator.EditedByHandError):
        generator.generate(SPEC, out_dir=tmp_path)
    assert "NAME = 'mine'" in path.read_text()
    generator.generate(SPEC, out_dir=tmp_path, force=True)
    assert "NAME = 'keyed'" in path.read_text()


def test_the_generator_digest_follows_every_source_and_template(tmp_path, monkeypatch):
    for part in ("codegen/templates", "derive"):
        (tmp_path / part).mkdir(parents=True)
    (tmp_path / "codegen/templates/a.py.j2").write_text("{{ x }}")
    (tmp_path / "derive/b.py").write_text("B = 1")
    monkeypatch.setattr(generator, "_SOURCES", (tmp_path / "codegen", tmp_path / "derive"))
    digests = []
    for edit in (None, ("derive/b.py", "B = 2"), ("codegen/templates/a.py.j2", "{{ y }}"),
                 ("derive/c.py", "")):
        if edit:
            (tmp_path / edit[0]).write_text(edit[1])
        generator.generator_digest.cache_clear()
        digests.append(generator.generator_digest())
    generator.generator_digest.cache_clear()
    assert len(set(digests)) == 4


def test_the_checked_in_example_is_current_so_the_main_job_does_not_derive():
    spec = load_spec(ROOT / "examples" / "digits.toml")
    assert generator._current(ROOT / "generated" / "digits_mlp.py", generator.render_key(spec))
