"""The command line's argument conventions: one-line errors, options between positionals, the scale and seed options."""

from __future__ import annotations

import argparse

from bnreg.errors import ParameterError

__all__ = ["Parser", "SEED_HELP_CHECKS", "SCALE_HELP", "only_patterns", "scale_of", "add_scale", "check_seed"]

SEED_HELP_CHECKS = ("base seed of every check (default: each check's own; the rule: docs/verification.md, "
                    "'Seeds')")
SCALE_HELP = "--quick: seconds (CI); default: minutes on 2 cores; --paper: the papers' sizes"


class Parser(argparse.ArgumentParser):
    """argparse with the toolkit's conventions: a bad argument is one ParameterError line (exit 2),
    `intermixed` lets options come between positionals, `epilog_from` builds a help epilog lazily."""

    intermixed = False  # options may come before, between or after the positionals (`eval`)
    epilog_from = None  # a function making the epilog, called only when the help is shown (`cnn`)
    _mixing = False

    def format_help(self) -> str:
        if self.epilog_from is not None and self.epilog is None:
            self.epilog = self.epilog_from()
        return super().format_help()

    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        raise ParameterError(message)

    def parse_known_args(self, args=None, namespace=None):
        if not self.intermixed or self._mixing:
            return super().parse_known_args(args, namespace)
        self._mixing = True  # parse_known_intermixed_args calls back into parse_known_args
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._mixing = False


def only_patterns(text: str) -> str:
    """--only: at least one non-empty pattern (an empty one would silently select every check)."""
    if not text.replace(",", "").strip():
        raise argparse.ArgumentTypeError(f"give at least one check name or glob (got {text!r}); "
                                         "see `bnreg verify --list`")
    return text


def scale_of(args: argparse.Namespace) -> str:
    """The scale chosen by --quick / --paper (default: "default"); both at once is refused."""
    if args.quick and args.paper:
        raise ParameterError("choose at most one of --quick and --paper")
    return "quick" if args.quick else "paper" if args.paper else "default"


def add_scale(p: argparse.ArgumentParser) -> None:
    """The scale options, --quick and --paper."""
    p.add_argument("--quick", action="store_true", help="smallest sizes (seconds)")
    p.add_argument("--paper", action="store_true", help="the papers' sizes")


def check_seed(seed: int) -> None:
    """--seed as every API checks it (0 <= seed < 2^128): the same message from both."""
    from bnreg.params import check_int  # numpy: imported only once the address-space check has passed
    from bnreg.runtime.rng import MAX_SEED

    check_int("seed", seed, 0, MAX_SEED)
