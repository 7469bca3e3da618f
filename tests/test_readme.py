"""The README cannot go stale where it quotes code or commands that CI runs.

- Its python excerpt of the generated digits module (the block that opens with
  EXCERPT_MARKER) is, line for line after that first line, a contiguous run of
  lines of generated/digits_mlp.py with their 8-space indentation (the body of
  `_epoch`'s batch loop) removed.
- Its first two shell commands are the two that CI runs, exactly.
"""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
GENERATED = ROOT / "generated" / "digits_mlp.py"

EXCERPT_MARKER = "# from _epoch in generated/digits_mlp.py: the backward pass of one batch"
INDENT = " " * 8
FIRST_COMMANDS = [
    "python3 -m pip install -e '.[data]' && gradgen train examples/digits.toml",
    "python3 -m pip install -e '.[test]' && python3 -m pytest -q -n auto",
]
SHELL_LANGUAGES = {"bash", "sh", "shell", "console"}

_FENCE = re.compile(r"^```([\w-]*)[ \t]*$")


def code_blocks(text):
    """[(language, [lines])] of the text's fenced code blocks, in order."""
    blocks, language, lines = [], None, None
    for line in text.splitlines():
        if lines is None:
            match = _FENCE.match(line)
            if match:
                language, lines = match.group(1).lower(), []
        elif line.rstrip() == "```":
            blocks.append((language, lines))
            language, lines = None, None
        else:
            lines.append(line)
    assert lines is None, "README.md has an unclosed code block"
    return blocks


def excerpt_problem(excerpt, source_lines):
    """None when `excerpt` is a contiguous run of `source_lines` with INDENT removed
    (blank lines stay blank), else what is wrong, naming the first line that differs."""
    if not excerpt:
        return "the excerpt is empty"
    expected = [INDENT + line if line else "" for line in excerpt]
    n = len(expected)
    for start in range(len(source_lines) - n + 1):
        if source_lines[start:start + n] == expected:
            return None
    # Not found: report the longest prefix that does occur, and the line after it.
    best = 0
    for start in range(len(source_lines)):
        k = 0
        while k < n and start + k < len(source_lines) and source_lines[start + k] == expected[k]:
            k += 1
        best = max(best, k)
    if best == n:        # every line matches but the run reaches past the file's end
        return "the excerpt runs past the end of the file"
    return (f"excerpt line {best + 2} of the block, {excerpt[best]!r}, does not follow "
            f"the {best} line(s) before it in {GENERATED.name}")


def readme_blocks():
    return code_blocks(README.read_text(encoding="utf-8"))


def test_the_generated_code_excerpt_is_the_generated_module():
    blocks = [lines for language, lines in readme_blocks()
              if language == "python" and lines and lines[0] == EXCERPT_MARKER]
    assert len(blocks) == 1, f"README.md needs exactly one python block opening with {EXCERPT_MARKER!r}"
    excerpt = blocks[0][1:]
    assert len(excerpt) >= 5, "the excerpt should quote a real stretch of the kernel"
    source_lines = GENERATED.read_text(encoding="utf-8").splitlines()
    problem = excerpt_problem(excerpt, source_lines)
    assert problem is None, f"README.md's excerpt of {GENERATED.name} is stale: {problem}"


def test_the_first_two_shell_commands_are_the_ones_ci_runs():
    commands = [line.strip() for language, lines in readme_blocks() if language in SHELL_LANGUAGES
                for line in lines if line.strip() and not line.lstrip().startswith("#")]
    assert commands[:2] == FIRST_COMMANDS


def test_excerpt_check_refuses_a_changed_line():
    """The check itself: a run of the file passes, one changed line or a gap fails."""
    source = ["def f():", "        a = 1", "", "        b = 2", "        c = 3"]
    assert excerpt_problem(["a = 1", "", "b = 2"], source) is None
    assert excerpt_problem(["a = 1", "", "b = 3"], source) is not None
    assert excerpt_problem(["a = 1", "b = 2"], source) is not None
    assert excerpt_problem(["    a = 1"], source) is not None
    assert excerpt_problem([], source) is not None
