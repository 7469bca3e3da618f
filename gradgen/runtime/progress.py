"""What fit shows and how it stops: the progress bar (tqdm, when installed) and
Ctrl-C taken between epochs."""
import signal
import sys
import threading


def progress_bar(total, enabled, name):
    """A tqdm bar when asked for (None: when tqdm is installed and stderr is a terminal)."""
    if enabled is False:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        if enabled:
            print("progress bar: tqdm is not installed", file=sys.stderr)
        return None
    if enabled is None and not sys.stderr.isatty():
        return None
    return tqdm(total=total, unit="epoch", desc=name, leave=True)


class DeferredInterrupt:
    """Ctrl-C during fit takes effect between epochs: the epoch under way (compiled
    code cannot be stopped midway) completes and is recorded, then fit raises
    KeyboardInterrupt with Trainer.params and Trainer.history consistent."""

    def __init__(self):
        self.hit = False
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame):
        if self.hit:                      # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.hit = True

    def __bool__(self):
        return self.hit

    def restore(self):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
