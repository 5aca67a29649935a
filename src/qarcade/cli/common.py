"""What more than one command shares: the ``@command`` registry and argument types.

``command`` collects ``(name, help, add_arguments, run)`` in ``_COMMANDS``, in registration order;
``qarcade.cli.build_parser`` turns each into a subcommand whose description is the docstring of
``add_arguments``. ``config_flags`` gives a command one flag per ``DQNConfig`` field (train and
sweep), ``config_overrides`` reads back the ones the user set.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

_COMMANDS: list[tuple[str, str, Callable, Callable]] = []


def command(name: str, help: str):
    """Register ``add_arguments(parser)``; the decorated function runs the command."""

    def register(add_arguments: Callable) -> Callable:
        def with_runner(run: Callable) -> Callable:
            _COMMANDS.append((name, help, add_arguments, run))
            return run

        return with_runner

    return register


# Counts and seeds reach numpy and torch as 64-bit integers (torch.manual_seed overflows above).
INT64 = 2**63


def positive_int(text: str) -> int:
    value = int(text)
    if not 0 < value < INT64:
        raise argparse.ArgumentTypeError(f"must be a positive integer below 2^63, got {text}")
    return value


def seed_int(text: str) -> int:
    """A seed: non-negative (numpy's and Gymnasium's), below 2^63 (torch's)."""
    value = int(text)
    if not 0 <= value < INT64:
        raise argparse.ArgumentTypeError(f"must be an integer in [0, 2^63), got {text}")
    return value


def positive_float(text: str) -> float:
    """A rate: positive and finite (a frame rate of 0 or inf cannot time a frame)."""
    value = float(text)
    if not 0.0 < value < float("inf"):  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be positive and finite, got {text}")
    return value


def not_negative_float(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < float("inf"):  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be 0 or more and finite, got {text}")
    return value


def unit_interval(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def discount(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:  # also rejects nan
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def seed_or_fresh(seed: int | None) -> int:
    """``seed``, or a fresh one from the OS when the user gave none (the command prints it)."""
    import random

    return seed if seed is not None else random.SystemRandom().randrange(2**31)


def check_video_flag(video: str | None) -> None:
    """--video must name an .mp4 or a .gif that can be written: said before anything is played."""
    from qarcade.media import VIDEO_SUFFIXES
    from qarcade.outfiles import check_output

    if video is not None:
        check_output(video, "video", suffixes=VIDEO_SUFFIXES)


_FIELD_TYPES = {"bool": None, "int": int, "float": float, "str": str}


def config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per DQNConfig field (but ``env``, the positional), help from the field itself."""
    import dataclasses

    from qarcade.dqn.config import PRESETS, DQNConfig

    group = parser.add_argument_group("config fields (default: the preset's value)")
    for f in dataclasses.fields(DQNConfig):
        if f.name == "env":
            continue
        values = ", ".join(f"{name}: {getattr(cfg, f.name)}" for name, cfg in PRESETS.items())
        help_text = f"{f.metadata['help']} ({values})".replace("%", "%%")
        flags = ["--" + f.name.replace("_", "-")]
        if f.name == "buffer_size":
            flags.append("--replay-size")  # the name for it
        if f.type == "bool":
            group.add_argument(
                *flags, action=argparse.BooleanOptionalAction, default=None, help=help_text
            )
        else:
            group.add_argument(
                *flags,
                type=_FIELD_TYPES[f.type],
                choices=f.metadata.get("choices"),
                default=None,
                metavar=f.name.upper(),
                help=help_text,
            )


def config_overrides(args: argparse.Namespace) -> dict:
    import dataclasses

    from qarcade.dqn.config import DQNConfig

    names = [f.name for f in dataclasses.fields(DQNConfig) if f.name != "env"]
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def trust_checkpoint_flag(parser: argparse.ArgumentParser) -> None:
    """``--trust-checkpoint``, on every command that reads a checkpoint."""
    parser.add_argument(
        "--trust-checkpoint",
        action="store_true",
        help="load a checkpoint written by an older qarcade (it holds pickled objects, which "
        "can run code: only for a run you trust; docs/reliability.md)",
    )


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``1 step``, ``2 steps``, ``1 life``, ``3 lives``: a count and its noun in agreement."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {plural or noun + 's'}"
