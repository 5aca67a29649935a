"""``python -m qarcade.cli``: the ``qarcade`` command."""

import sys

from qarcade.cli import main

if __name__ == "__main__":
    sys.exit(main())
