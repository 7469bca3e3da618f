"""Import a generated module from its file (never exec'd from a string)."""
import hashlib
import importlib.util
import sys
from pathlib import Path


def import_generated(path):
    """Import generated/<name>.py by path; the module name is unique per file path,
    so two modules of the same spec name in different folders do not collide."""
    path = Path(path).resolve()
    tag = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    name = f"_gradgen_{path.stem}_{tag}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
