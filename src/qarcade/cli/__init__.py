"""The ``qarcade`` command: parse the arguments, call the library, print the result.

Each subcommand is a pair of functions registered with ``@command`` (``qarcade.cli.common``):
one adds its arguments, its docstring the command's --help description; one runs it. A module
per part of the lab holds its commands:

    mdp.py      qarcade mdp
    play.py     qarcade play (the gridworld, or an Atari game through atari.py)
    train.py    qarcade train, qarcade eval
    atari.py    qarcade preprocess GAME, qarcade play GAME (any ALE game)
    sweep.py    qarcade sweep
    explain.py  qarcade explain, qarcade plot

This module builds the parser and runs a command. A user's mistake (a bad flag, a missing file,
a corrupt checkpoint: a ``UserError``) is printed as one line on stderr with exit 2, never as a
traceback; Ctrl-C exits 130, a closed pipe (``qarcade mdp | head``) 141. A command imports the
heavy libraries (torch, matplotlib, ray) only when it runs, so ``qarcade --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys

from qarcade.cli.common import _COMMANDS, command, positive_int, unit_interval
from qarcade.errors import UserError

# Each section registers its commands when imported, in this order: the order of --help.
from qarcade.cli import mdp, play, train, atari, sweep, explain, grade  # noqa: F401  # isort: skip

__all__ = ["build_parser", "command", "main", "positive_int", "unit_interval"]


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line: ``qarcade mdp: error: ... (see --help)``."""

    def error(self, message: str):  # noqa: D102 - argparse API
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="qarcade",
        description="Value-based reinforcement learning from the Q-learning/DQN lab.",
    )
    from qarcade import __version__

    parser.add_argument("--version", action="version", version=f"qarcade {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for name, help_text, add_arguments, run in _COMMANDS:
        sub = subparsers.add_parser(
            name,
            help=help_text,
            description=(add_arguments.__doc__ or help_text).strip(),
            formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        )
        add_arguments(sub)
        sub.set_defaults(run=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except UserError as error:
        print(f"qarcade {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"qarcade {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `qarcade mdp | head`: the reader left, which is no error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
