"""What fit shows and how it stops: the progress bar (tqdm, when installed), moved
within an epoch too, and Ctrl-C taken between two of the epoch's compiled calls."""
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
    """Ctrl-C during fit takes effect between two compiled calls of an epoch (about
    trainer.CALL_SECONDS apart; compiled code cannot be stopped midway): the epoch
    under way is dropped, and fit raises KeyboardInterrupt with Trainer.params, its
    optimizer state, step count, random generator and history those of the last
    completed epoch."""

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
