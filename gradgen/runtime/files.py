"""Writing files so that nothing half-written is ever left under the real name."""
import os
import stat
import tempfile
from pathlib import Path


def _read_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()     # read once, at import: setting it is process-wide


def write_atomic(path, content):
    """Write `path` via a temporary file in the same folder, renamed into place: a reader,
    or a crash or Ctrl-C mid-write, never sees a partial file. The file gets the mode a
    plain open() would give it (an existing file keeps its own). A path that exists and
    is not a regular file (/dev/stdout) is written directly. `content` is text, or a
    function that writes the temporary path it is given (a figure's savefig). Returns
    the Path."""
    path = Path(path)
    if path.exists() and not path.is_file():
        if callable(content):
            content(str(path))
        else:
            path.write_text(content, encoding="utf-8")
        return path
    mode = (stat.S_IMODE(path.stat().st_mode) if path.exists()
            else 0o666 & ~_UMASK)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
    except OSError as err:              # name the file asked for, not the temporary one
        raise OSError(err.errno, err.strerror, str(path)) from None
    try:
        if callable(content):
            os.close(fd)
            content(tmp)
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(content)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
