"""`python -m bnreg` is the `bnreg` command."""

from .cli import run

run()
