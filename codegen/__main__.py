"""`python -m codegen SPEC [-o DIR]`: the same as `gradgen generate`."""
import sys

from gradgen.cli import main

if __name__ == "__main__":
    sys.exit(main(["generate", *sys.argv[1:]]))
