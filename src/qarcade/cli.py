"""The ``qarcade`` command: parse the arguments, call the library, print the result.

Each subcommand is a pair of functions registered with ``@command``: one adds its arguments,
one runs it. A user's mistake (a bad flag, a missing file, a corrupt checkpoint) is printed as
one line on stderr with a non-zero exit, never as a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from qarcade.errors import UserError

_COMMANDS: list[tuple[str, str, Callable, Callable]] = []


def command(name: str, help: str):
    """Register ``add_arguments(parser)``; the decorated function runs the command."""

    def register(add_arguments: Callable) -> Callable:
        def with_runner(run: Callable) -> Callable:
            _COMMANDS.append((name, help, add_arguments, run))
            return run

        return with_runner

    return register


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line: ``qarcade mdp: error: ... (see --help)``."""

    def error(self, message: str):  # noqa: D102 - argparse API
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def unit_interval(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


# --- mdp ---

# --- play ---

# --- train / eval ---

# --- atari ---


def _preprocess_arguments(parser):
    """Draw an Atari frame as the emulator shows it (210x160 RGB) beside what the networks see
    after the lab's preprocessing (88x80x1 int8) and the standard DeepMind one (84x84 grey, the
    newest of a stack of 4), from a state a few dozen random steps into the game."""
    parser.add_argument("game", metavar="GAME", help="the game: mspacman")
    parser.add_argument("--out", required=True, help="the PNG file to write")
    parser.add_argument("--steps", type=positive_int, default=40, help="random steps taken first")
    parser.add_argument("--seed", type=int, default=0, help="seed of the game and the steps")


@command("preprocess", help="draw an Atari frame beside its preprocessed versions")(
    _preprocess_arguments
)
def _run_preprocess(args) -> int:
    from qarcade.envs.atari import draw_preprocessing_figure

    out = draw_preprocessing_figure(args.out, args.game, steps=args.steps, seed=args.seed)
    print(f"wrote {out}")
    return 0


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


if __name__ == "__main__":
    sys.exit(main())
