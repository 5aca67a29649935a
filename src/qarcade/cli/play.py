"""``qarcade play ENV``: play a game by hand or replay a list of actions, optionally a video.

The gridworld's handler is here (its keyboard loop is ``qarcade.play``); every Atari game's
adds itself to ``PLAY_ATARI`` from ``qarcade.cli.atari``.
"""

from __future__ import annotations

from qarcade.cli.common import (
    check_video_flag,
    command,
    counted,
    positive_float,
    positive_int,
    seed_int,
    seed_or_fresh,
)
from qarcade.errors import UserError


def _play_arguments(parser):
    """Play a game by hand in the terminal, or replay a fixed list of actions. gridworld: arrow
    keys or WASD move the hero (blue @) onto goals (green +, +1) and away from fires (red x, -1);
    q quits; the episode ends after 50 steps. --actions 3,3,1,0 plays that list instead (0 up,
    1 down, 2 left, 3 right) and prints the total reward. --video FILE (.mp4 or .gif) writes the
    episode, each frame held 1/--fps seconds. mspacman: --actions 0,3,3 (0..8: NOOP, UP, RIGHT,
    LEFT, DOWN, UPRIGHT, UPLEFT, DOWNRIGHT, DOWNLEFT) or --random N, anywhere; the keyboard (W A
    S D in a pygame window) only where a display exists. Any other Atari game the same way
    (its own actions: --actions 99 lists them)."""
    parser.add_argument(
        "env", metavar="ENV", help="the game: gridworld or an Atari game (mspacman, breakout, ...)"
    )
    parser.add_argument(
        "--actions", help="comma-separated actions to play instead of the keyboard, e.g. 3,3,1,0"
    )
    parser.add_argument("--seed", type=seed_int, help="layout seed (default: a fresh one, printed)")
    parser.add_argument("--size", type=int, default=5, help="gridworld side, 3..20")
    parser.add_argument("--partial", action="store_true", help="gridworld: 3x3 partial view")
    parser.add_argument("--video", metavar="FILE", help="write the episode to FILE (.mp4 or .gif)")
    parser.add_argument("--random", type=positive_int, metavar="N", help="Atari: N random steps")
    parser.add_argument(
        "--fps",
        type=positive_float,
        help="video frames per second (default: gridworld 4, Atari 15)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")


def _play_gridworld(args) -> int:
    import json

    from qarcade.envs.gridworld import check_size, parse_actions, play_actions
    from qarcade.media import write_video
    from qarcade.play import play_gridworld_keys

    check_size(args.size)
    check_video_flag(args.video)
    seed = seed_or_fresh(args.seed)
    if args.actions is not None:
        actions = parse_actions(args.actions)
        episode = play_actions(actions, size=args.size, partial=args.partial, seed=seed)
    else:
        episode = play_gridworld_keys(seed, size=args.size, partial=args.partial)
    frames, total, steps = episode.frames, episode.total_reward, episode.actions_played
    rewards = episode.rewards.tolist()
    if args.video:
        write_video(frames, args.video, fps=args.fps or 4.0)
    if args.json:
        result = {"env": "gridworld", "seed": seed, "size": args.size, "partial": args.partial}
        result.update(steps=steps, total_reward=total, rewards=rewards, video=args.video)
        print(json.dumps(result))
        return 0
    line = f"gridworld seed {seed}: {counted(steps, 'step')}, total reward {total:+g}"
    if args.actions is not None and steps < len(actions):
        line += f" (the episode ended after {counted(steps, 'step')}; the rest were not played)"
    print(line)
    if args.video:
        print(f"video: {args.video} ({len(frames)} frames at {args.fps or 4.0:g} fps)")
    return 0


PLAY_ATARI: list = []  # qarcade.cli.atari's handler, run(args, game) -> exit code


@command("play", help="play a game by hand (keys or --actions), optionally write a video")(
    _play_arguments
)
def _run_play(args) -> int:
    from qarcade.envs.resolve import resolve_env

    if args.env == "gridworld":
        return _play_gridworld(args)
    ref = resolve_env(args.env)  # an unknown name: one line with the closest
    if ref.family != "atari" or not PLAY_ATARI:
        raise UserError(
            f"play takes gridworld or an Atari game (mspacman, breakout, ...), not {args.env!r}"
        )
    return PLAY_ATARI[0](args, ref.name)
