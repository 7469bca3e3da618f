"""gradgen's generator: SymPy printing into Jinja2 templates -> generated/<name>.py."""
from .generator import VERSION, EditedByHandError, generate, render

__all__ = ["generate", "render", "VERSION", "EditedByHandError"]
