"""gradgen.runtime.files.write_atomic: the file appears whole or not at all, with the mode a
plain open() gives (mkstemp's 0600 would hide reports and modules from other users),
an existing file keeps its mode, and a non-regular target (/dev/null) is written
through, not replaced."""
import os
import stat

import pytest

from gradgen.runtime.files import write_atomic


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_new_file_gets_the_umask_mode(tmp_path):
    mask = os.umask(0o022)
    try:
        import importlib

        import gradgen.runtime.files
        importlib.reload(gradgen.runtime.files)          # it reads the umask once, at import
        path = gradgen.runtime.files.write_atomic(tmp_path / "a.txt", "hello")
    finally:
        os.umask(mask)
        importlib.reload(gradgen.runtime.files)
    assert path.read_text() == "hello" and _mode(path) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_existing_file_keeps_its_mode_and_callable_content(tmp_path):
    path = tmp_path / "b.png"
    path.write_text("old")
    os.chmod(path, 0o640)
    write_atomic(path, lambda tmp: open(tmp, "w").write("new"))
    assert path.read_text() == "new" and _mode(path) == 0o640


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "c.json"
    path.write_text("old")

    def broken(tmp):
        open(tmp, "w").write("half")
        raise OSError("disk full")
    with pytest.raises(OSError):
        write_atomic(path, broken)
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json"]


def test_non_regular_target_is_written_through():
    write_atomic("/dev/null", "discarded")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
