"""``qarcade preprocess GAME`` and ``qarcade play GAME``: the Atari commands, for every ALE game.

The work is in ``qarcade.envs.atari_play``; ``play`` hands it any game ale-py knows
(``PLAY_ATARI``).
"""

from __future__ import annotations

import argparse

from qarcade.cli.common import (
    check_video_flag,
    command,
    counted,
    positive_int,
    seed_int,
    seed_or_fresh,
)
from qarcade.cli.play import PLAY_ATARI
from qarcade.errors import UserError


def _preprocess_arguments(parser):
    """Draw an Atari frame as the emulator shows it (210x160 RGB) beside what the networks see
    after the lab's preprocessing (88x80x1 int8; Ms. Pac-Man only, it erases her colour) and the
    standard DeepMind one (84x84 grey, the newest of a stack of 4), from a state a few dozen
    random steps into the game."""
    parser.add_argument(
        "game", metavar="GAME", help="any of ale-py's games: mspacman, breakout, ALE/Pong-v5, ..."
    )
    parser.add_argument(
        "--out",
        default=argparse.SUPPRESS,  # absent: named after the game, said in the help
        help="the figure to write (default: GAME-preprocessing.png)",
    )
    parser.add_argument("--steps", type=positive_int, default=40, help="random steps taken first")
    parser.add_argument("--seed", type=seed_int, default=0, help="seed of the game and the steps")


@command("preprocess", help="draw an Atari frame beside its preprocessed versions")(
    _preprocess_arguments
)
def _run_preprocess(args) -> int:
    from qarcade.envs.atari_play import draw_preprocessing_figure
    from qarcade.envs.atari_preprocessing import get_game

    game = get_game(args.game)
    path = getattr(args, "out", f"{game.name}-preprocessing.png")
    out = draw_preprocessing_figure(path, game.name, steps=args.steps, seed=args.seed)
    if game.player_colour_sum is None:
        print(
            f"{game.name}: the standard preprocessing only (the lab's is Ms. Pac-Man's: "
            "it erases her colour, 210+164+74)"
        )
    print(f"wrote {out}")
    return 0


def play_atari(args, name: str) -> int:
    """``qarcade play GAME``: --actions or --random anywhere, the keyboard with a display."""
    import json

    from qarcade.envs.atari_play import parse_actions, play_actions, play_keyboard
    from qarcade.media import write_video

    check_video_flag(args.video)
    if args.actions is not None and args.random is not None:
        raise UserError("give --actions or --random, not both")
    seed = seed_or_fresh(args.seed)
    record = bool(args.video)
    if args.actions is not None:
        actions = parse_actions(args.actions, name)
        played = play_actions(name, actions=actions, seed=seed, record=record)
    elif args.random is not None:
        played = play_actions(name, random_steps=args.random, seed=seed, record=record)
    else:
        played = play_keyboard(name, seed=seed, record=record)
    fps = 15.0 if args.fps is None else args.fps  # 15 agent steps of 4 frames: real time
    if args.video and played.frames:
        write_video(played.frames, args.video, fps=fps, scale=2)
    if args.json:
        result = {"env": name, "seed": seed, "steps": played.steps, "score": played.score}
        result.update(lives=played.lives, game_over=played.game_over, video=args.video)
        result["interrupted"] = played.interrupted
        print(json.dumps(result))
        return 0
    ending = "game over" if played.game_over else f"{counted(played.lives, 'life', 'lives')} left"
    if played.interrupted:
        ending += ", stopped by Ctrl-C"
    steps = counted(played.steps, "step")
    print(f"{name} seed {seed}: {steps}, score {played.score:g} ({ending})")
    if args.video and played.frames:
        print(f"video: {args.video} ({len(played.frames)} frames at {fps:g} fps)")
    return 0


PLAY_ATARI.append(play_atari)
