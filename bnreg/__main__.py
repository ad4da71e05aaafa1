"""`python -m bnreg` is the `bnreg` command."""

import sys

from .cli import main

sys.exit(main())
