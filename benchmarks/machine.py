"""The machine a run is on: what it is, and how busy other processes keep it."""
import os
import platform

from worker import THREADS


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {}
    for mod in ("numpy", "numba", "scipy", "torch", "jax", "jaxlib", "sklearn"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:        # not installed (or broken): reported as absent
            versions[mod] = None
    return {"cpu": model, "cores": os.cpu_count(), "threads_used": THREADS,
            "platform": platform.platform(), "python": platform.python_version(),
            "versions": versions}


def cpu_busy_seconds():
    """CPU seconds all processes have spent busy (from /proc/stat), or None."""
    try:
        with open("/proc/stat") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
    except OSError:
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds():
    import resource
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
