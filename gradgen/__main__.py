"""`python -m gradgen ...`: the same as the `gradgen` command."""
import sys

from .cli import main

sys.exit(main())
