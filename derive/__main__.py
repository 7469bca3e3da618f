"""`python -m derive SPEC [--format ...]`: the same as `gradgen derive`."""
import sys

from gradgen.cli import main

if __name__ == "__main__":
    sys.exit(main(["derive", *sys.argv[1:]]))
