"""An output path that cannot be written is a usage error like any other (CONTRACT §3):
exit 2 and one line on stderr naming the path, no traceback."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEC = os.path.join(ROOT, "examples", "digits.toml")


@pytest.mark.parametrize("args", [
    ["derive", SPEC, "-o", "/nonexistent/dir/x.tex"],
    ["generate", SPEC, "-o", "/proc/no-such-folder"],
], ids=["derive", "generate"])
def test_unwritable_output_is_one_line_exit_2(args):
    out = subprocess.run([sys.executable, "-m", "gradgen.cli", *args], capture_output=True,
                         text=True, cwd=ROOT)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2, out.stderr
    assert len(lines) == 1 and lines[0].startswith("gradgen: error: "), out.stderr
    assert "/nonexistent/dir/x.tex" in lines[0] or "/proc/no-such-folder" in lines[0]
    assert "Traceback" not in out.stderr
