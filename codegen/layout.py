"""How a generated module's text is laid out: literals wrapped to a width,
parameter lists, and PEP 8's blank lines. Deterministic: text in, text out."""


def signature(defaults, indent=17, width=100):
    """Keyword parameters with their defaults, wrapped to width after `def __init__(self, *, `."""
    lines, line = [], ""
    for key, value in defaults.items():
        item = f"{key}={value!r}"
        if line and indent + len(line) + len(item) + 2 > width:
            lines.append(line + ",")
            line = ""
        line = f"{line}, {item}" if line else item
    return ("\n" + " " * indent).join(lines + [line])


def literal(value, indent=7, width=100):
    """A dict or list literal wrapped to width: items side by side while they fit, a
    nested dict or list that does not fit laid out the same way, one level in."""
    text = repr(value)
    if indent + len(text) <= width or not isinstance(value, (dict, list)) or not value:
        return text
    opening, closing = "{}" if isinstance(value, dict) else "[]"
    items = []
    for key, item in (value.items() if isinstance(value, dict) else enumerate(value)):
        head = f"{key!r}: " if isinstance(value, dict) else ""
        items.append(head + literal(item, indent + 1 + len(head), width))
    lines, line = [], ""
    for item in items:
        if line and ("\n" in item or "\n" in line or indent + 1 + len(line) + len(item) + 2 > width):
            lines.append(line + ",")
            line = ""
        line = f"{line}, {item}" if line else item
    pad = "\n" + " " * (indent + 1)
    return opening + pad.join(lines + [line]) + closing


def tidy(text):
    """The templates' output laid out as PEP 8 would: no blank lines inside a
    function's code (docstrings keep theirs), two around top-level functions and
    classes, one at most elsewhere, and no trailing spaces."""
    out, in_string, in_def = [], False, False
    lines = [line.rstrip() for line in text.split("\n")]
    for i, line in enumerate(lines):
        if in_string:
            out.append(line)
            in_string = line.count('"""') % 2 == 0
            continue
        if not line:
            following = next((l for l in lines[i + 1:] if l), "")
            method = following.lstrip().startswith(("def ", "@")) and following.startswith(" ")
            if method or not (following.startswith(" ") or not out or not out[-1]):
                out.append(line)        # not inside a block, and not a second blank line
            continue
        if not line.startswith((" ", ")", "]", "}")):
            opens = line.startswith(("def ", "class ", "@", "# ---"))
            after_header = out and out[-1].startswith(("@", "# ---"))
            if (opens or in_def) and out and not after_header:
                while out and not out[-1]:
                    out.pop()
                out += ["", ""]
            if not line.startswith(("@", "# ---")):
                in_def = line.startswith(("def ", "class "))
        out.append(line)
        in_string = line.count('"""') % 2 == 1
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n"
