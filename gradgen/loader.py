"""Import a generated module from its file (never exec'd from a string).

The module name must be the same every time a file is imported: Numba's cache
pickles references between jitted functions by module name, so a file cached
under one name fails to load under another. Files in gradgen's own `generated`
package import as `generated.<name>` (as `from generated.<name> import Trainer`
does); files elsewhere as `<name>` (as `import <name>` from their folder does).
"""
import importlib.util
import sys
from pathlib import Path


def module_name(path):
    path = Path(path).resolve()
    try:
        import generated
        package_dir = Path(generated.__file__).resolve().parent
    except (ImportError, TypeError):
        package_dir = None
    if package_dir is not None and path.parent == package_dir:
        return f"generated.{path.stem}"
    return path.stem


def import_generated(path):
    """Import generated/<name>.py by path, under its canonical name. The file is
    executed afresh each time (it may have been regenerated since); importlib.reload
    cannot re-find a module that lives outside sys.path."""
    path = Path(path).resolve()
    name = module_name(path)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
