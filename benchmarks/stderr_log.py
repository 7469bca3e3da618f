"""Progress goes to stderr, so that stdout holds only the tables and the targets."""
import sys


def log(*args):
    print(*args, file=sys.stderr, flush=True)
