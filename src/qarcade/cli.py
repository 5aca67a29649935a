"""The ``qarcade`` command: parse the arguments, call the library, print the result.

Each subcommand is a pair of functions registered with ``@command``: one adds its arguments,
one runs it. A user's mistake (a bad flag, a missing file, a corrupt checkpoint) is printed as
one line on stderr with a non-zero exit, never as a traceback.
"""

from __future__ import annotations

import argparse
import os
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


def _discount(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:  # also rejects nan
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def _lr_power(text: str) -> float:
    value = float(text)
    if not 0.5 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0.5, 1], got {text}")
    return value


def _seed(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text}")
    return value


def _mdp_arguments(parser):
    """The lab's first part end to end on its 3-state MDP: the tables; the random, safe and
    risky policies evaluated over --episodes episodes of 100 steps (undiscounted totals, with
    their exact means); tabular Q-learning with uniformly random exploration, its greedy policy
    and its evaluation; Q-value iteration (the model is known) with Q* and the optimal policy;
    and a side-by-side comparison with each state's margin (best action minus runner-up).
    Q-learning's default is 50,000 steps with a per-visit step size n(s,a)^-0.85, under a
    second: measured over 1000 seeds, its greedy policy reaches and then holds the optimal one
    at gamma 0.90 and 0.99 in every seed, by 4,500 and 16,500 steps at the latest. The lab's
    20 steps visit each (state, action) a few times and learn nothing (0 of 200 seeds optimal
    at 0.99); a constant step size never settles (with 0.01 at 0.99, 86% of seeds are optimal
    at any moment and they keep flipping). At 0.99 the learned values still sit far below Q*
    (their common level converges at a rate set by 1 - gamma) while their differences, which
    decide the policy, are already right. At 0.95 state 1's margin is 0.06, inside Q-learning's
    noise for about a million steps (92% of seeds optimal at 1M): see docs/mdp.md.
    """
    from qarcade import tabular

    parser.add_argument(
        "--gamma", type=_discount, default=0.99, help="discount factor in [0, 1) (the lab's)"
    )
    parser.add_argument(
        "--steps",
        type=positive_int,
        default=tabular.Q_LEARNING_STEPS,
        help="Q-learning environment steps (one continuing run from state 0)",
    )
    parser.add_argument(
        "--lr-power",
        type=_lr_power,
        default=tabular.LR_POWER,
        help="Q-learning step size n(s,a)^-POWER, POWER in (0.5, 1]",
    )
    parser.add_argument(
        "--episodes",
        type=positive_int,
        default=tabular.EVAL_EPISODES,
        help=f"evaluation episodes of {tabular.EPISODE_STEPS} steps per policy",
    )
    parser.add_argument("--seed", type=_seed, default=0, help="seed of every random draw")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")


def _cell(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _text_table(header: list[str], rows: list[list[str]], indent: str = "  ") -> str:
    """Columns aligned right, the first one left."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [str(row[0]).ljust(widths[0])]
        cells += [str(cell).rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append(indent + "  ".join(cells).rstrip())
    return "\n".join(lines)


def _mdp_text(report: dict) -> str:
    from qarcade.envs.mdp import mdp_table

    gamma, ql, qvi, cmp = (
        report["gamma"],
        report["q_learning"],
        report["q_value_iteration"],
        report["comparison"],
    )
    out = [
        f"The lab's MDP (start state 0; gamma {gamma:g}, seed {report['seed']})",
        "  T = P(s'|s,a), R = reward of the transition, r = expected reward;"
        " unlisted actions are impossible",
        "  "
        + mdp_table()
        .reset_index()
        .to_string(index=False, float_format=lambda v: f"{v:g}")
        .replace("\n", "\n  "),
        "",
        f"Policies over {report['episodes']} episodes of {report['episode_steps']} steps"
        " (undiscounted totals; exact mean by DP)",
    ]
    rows = [
        [name, *(_cell(s[k], 1) for k in ("mean", "std", "min", "max")), _cell(exact, 1)]
        for (name, s), exact in zip(
            report["policies"].items(), report["exact_means"].values(), strict=True
        )
    ]
    out += [_text_table(["policy", "mean", "std", "min", "max", "exact mean"], rows), ""]

    def q_rows(q):
        return [[str(s), *(_cell(v) for v in row)] for s, row in enumerate(q)]

    out += [
        f"Q-learning: {ql['env_steps']:,} steps, random exploration, step size"
        f" {ql['learning_rate']}; greedy policy {ql['policy']}",
        _text_table(["state", "a0", "a1", "a2"], q_rows(ql["q_values"])),
        "",
        f"Q-value iteration: Q* (exact to 1e-9); optimal policy {qvi['policy']}",
        _text_table(["state", "a0", "a1", "a2"], q_rows(qvi["q_values"])),
        "",
        "Q-learning (QL) vs Q*: err = Q - Q*; margin = Q(s, optimal action) - best other",
    ]
    rows = [
        [
            str(s),
            *(_cell(v) for v in cmp["q_error"][s]),
            str(ql["policy"][s]),
            str(qvi["policy"][s]),
            _cell(cmp["margin_q_learning"][s]),
            _cell(cmp["margin_q_star"][s]),
        ]
        for s in range(len(qvi["policy"]))
    ]
    header = ["state", "err a0", "err a1", "err a2", "QL act", "Q* act", "QL margin", "Q* margin"]
    out.append(_text_table(header, rows))
    out.append(
        f"  mean err {cmp['mean_error']:+.2f}: the common level of Q converges slowly as gamma"
        " nears 1;\n  the margins, which decide the policy, converge much sooner."
    )
    if cmp["policies_match"]:
        out.append("  Q-learning's greedy policy is the optimal one.")
    else:
        pairs = zip(ql["policy"], qvi["policy"], strict=True)
        states = [s for s, (learned, best) in enumerate(pairs) if learned != best]
        out.append(
            f"  Q-learning's greedy policy differs in state(s) {states}: where Q*'s margin is"
            " smaller\n  than Q-learning's error, the choice flips (see docs/mdp.md)."
        )
    return "\n".join(out)


@command("mdp", help="the lab's MDP: policies, Q-learning, Q-value iteration")(_mdp_arguments)
def _run_mdp(args) -> int:
    import json

    from qarcade.tabular import lab_report

    report = lab_report(
        gamma=args.gamma,
        env_steps=args.steps,
        n_episodes=args.episodes,
        seed=args.seed,
        lr_power=args.lr_power,
    )
    print(json.dumps(report) if args.json else _mdp_text(report))
    return 0


# --- play ---
# ``qarcade play ENV``: one handler per game in _PLAY_GAMES (name -> run(args) -> exit code);
# another game adds itself to the dict from its own section.


def _play_arguments(parser):
    """Play a game by hand in the terminal, or replay a fixed list of actions. gridworld: arrow
    keys or WASD move the hero (blue @) onto goals (green +, +1) and away from fires (red x, -1);
    q quits; the episode ends after 50 steps. --actions 3,3,1,0 plays that list instead (0 up,
    1 down, 2 left, 3 right) and prints the total reward. --video FILE (.mp4 or .gif) writes the
    episode, each frame held 1/--fps seconds. mspacman: --actions 0,3,3 (0..8: NOOP, UP, RIGHT,
    LEFT, DOWN, UPRIGHT, UPLEFT, DOWNRIGHT, DOWNLEFT) or --random N, anywhere; the keyboard (W A
    S D in a pygame window) only where a display exists."""
    parser.add_argument(
        "env", metavar="ENV", choices=_PLAY_GAMES, help="the game: gridworld or mspacman"
    )
    parser.add_argument(
        "--actions", help="comma-separated actions to play instead of the keyboard, e.g. 3,3,1,0"
    )
    parser.add_argument("--seed", type=int, help="layout seed (default: a fresh one, printed)")
    parser.add_argument("--size", type=int, default=5, help="gridworld side, 3..20")
    parser.add_argument("--partial", action="store_true", help="gridworld: 3x3 partial view")
    parser.add_argument("--video", metavar="FILE", help="write the episode to FILE (.mp4 or .gif)")
    parser.add_argument("--random", type=positive_int, metavar="N", help="mspacman: N random steps")
    parser.add_argument(
        "--fps", type=float, help="video frames per second (default: gridworld 4, mspacman 15)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")


def _play_gridworld(args) -> int:
    import json
    import random

    from qarcade.envs.gridworld import check_size, parse_actions, play_actions
    from qarcade.media import VIDEO_SUFFIXES, write_video
    from qarcade.play import play_gridworld_keys

    check_size(args.size)
    if args.video and not args.video.lower().endswith(VIDEO_SUFFIXES):
        raise UserError(f"--video must end in .mp4 or .gif, got {args.video!r}")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    if args.actions is not None:
        actions = parse_actions(args.actions)
        episode = play_actions(actions, size=args.size, partial=args.partial, seed=seed)
    else:
        episode = play_gridworld_keys(seed, size=args.size, partial=args.partial)
    frames, total, steps = episode.frames, episode.total_reward, episode.actions_played
    rewards = episode.rewards.tolist() if args.actions is not None else None
    if args.video:
        write_video(frames, args.video, fps=args.fps or 4.0)
    if args.json:
        result = {"env": "gridworld", "seed": seed, "size": args.size, "partial": args.partial}
        result.update(steps=steps, total_reward=total, rewards=rewards, video=args.video)
        print(json.dumps(result))
        return 0
    line = f"gridworld seed {seed}: {steps} steps, total reward {total:+g}"
    if args.actions is not None and steps < len(actions):
        line += f" (the episode ended after {steps} steps; the rest of the actions were not played)"
    print(line)
    if args.video:
        print(f"video: {args.video} ({len(frames)} frames at {args.fps or 4.0:g} fps)")
    return 0


_PLAY_GAMES = {"gridworld": _play_gridworld}


@command("play", help="play a game by hand (keys or --actions), optionally write a video")(
    _play_arguments
)
def _run_play(args) -> int:
    return _PLAY_GAMES[args.env](args)


# --- train / eval ---

_FIELD_TYPES = {"bool": None, "int": int, "float": float, "str": str}


def _config_flags(parser: argparse.ArgumentParser) -> None:
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


def _config_overrides(args: argparse.Namespace) -> dict:
    import dataclasses

    from qarcade.dqn.config import DQNConfig

    names = [f.name for f in dataclasses.fields(DQNConfig) if f.name != "env"]
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _train_arguments(parser):
    """Train DQN, Double, Dueling or D3QN (one loop, two flags) and write a run directory:
    config.json, metrics.csv, TensorBoard events, summary.json, checkpoint.pt,
    learning_curve.png and video.mp4. Stops at --goal (mean reward of the last 50 training
    episodes, or of a greedy evaluation with --goal-metric eval), --max-steps or --max-minutes.
    Ctrl-C or SIGTERM writes a checkpoint; --resume RUN_DIR continues exactly where it stopped."""
    from qarcade.dqn.config import ALGOS, DEFAULT_PRESETS, PRESETS

    parser.add_argument(
        "env", nargs="?", help="environment: gridworld or mspacman (omit with --resume)"
    )
    per_env = ", ".join(f"{name} for {env}" for env, name in DEFAULT_PRESETS.items())
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default=argparse.SUPPRESS,  # absent: the env's own default, said in the help
        help=f"named config (default: {per_env})",
    )
    parser.add_argument("--algo", choices=list(ALGOS), help="sets --double and --dueling")
    parser.add_argument("--out", help="run directory (default runs/ENV-ALGO-seedS-TIME-PID)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    _config_flags(parser)


@command("train", help="train the DQN family on an environment")(_train_arguments)
def _run_train(args) -> int:
    import json

    from qarcade.dqn.config import build_config, default_preset
    from qarcade.dqn.envs import env_factory
    from qarcade.dqn.train import default_run_dir, resume_config, train

    overrides = _config_overrides(args)
    if args.resume:
        if args.algo or args.out or hasattr(args, "preset"):
            raise UserError("--resume continues a run as it was: no --algo, --preset or --out")
        config = resume_config(args.resume, overrides)
        if args.env and args.env != config.env:
            raise UserError(f"{args.resume} is a {config.env} run, not {args.env}")
        run_dir = args.resume
    else:
        if not args.env:
            raise UserError("name an environment (gridworld, mspacman) or --resume RUN_DIR")
        env_factory(args.env)
        preset_name = getattr(args, "preset", None) or default_preset(args.env)
        config = build_config(preset_name, args.algo, {**overrides, "env": args.env})
        run_dir = args.out or default_run_dir(config)
    log = (lambda *a, **k: None) if args.json else print
    summary = train(
        config, run_dir, resume=bool(args.resume), progress=not args.no_progress, log=log
    )
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print_summary(summary)
    return {"SIGINT": 130, "SIGTERM": 143}.get(summary["stop_reason"], 0)


def _print_summary(summary: dict) -> None:
    reached = summary["goal_reached_at"]
    minutes = summary["wall_seconds"] / 60
    print(
        f"{summary['algo']} on {summary['env']}: {summary['env_steps']:,} env steps, "
        f"{summary['episodes']:,} episodes in {minutes:.1f} min "
        f"({summary['env_steps_per_second']:.0f} steps/s), stopped by {summary['stop_reason']}"
    )
    if reached:
        print(
            f"goal {summary['goal']:g} ({summary['goal_metric']}) reached at step "
            f"{reached['step']:,}, episode {reached['episode']:,}, {reached['wall_seconds']:.0f} s"
        )
    if summary["final_eval"]:
        ev = summary["final_eval"]
        trained = f" after {summary['frames']:,.0f} frames" if summary.get("frames") else ""
        print(
            f"greedy evaluation over {ev['episodes']} episodes{trained}: mean {ev['mean']:.2f} "
            f"(std {ev['std']:.2f}, min {ev['min']:g}, max {ev['max']:g})"
        )
    print(f"run directory: {summary['run_dir']}")
    if summary["learning_curve"]:
        print(f"learning curve: {summary['learning_curve']}")
    if summary["video"]:
        print(f"video: {summary['video']}")
    if summary["stop_reason"] in ("SIGINT", "SIGTERM"):
        print(f"checkpoint saved; continue with: qarcade train --resume {summary['run_dir']}")


def _eval_arguments(parser):
    """Play a trained run's agent greedily (or epsilon-greedily) and print the reward per
    episode: mean, std, min and max; optionally record one episode as a video."""
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by train")
    parser.add_argument("--episodes", type=positive_int, default=100, help="episodes to play")
    parser.add_argument(
        "--epsilon",
        type=unit_interval,
        default=None,
        help="probability of a random action (default: the run's eval_epsilon, Atari 0.01)",
    )
    parser.add_argument("--video", metavar="FILE", help="record one episode (.mp4 or .gif)")
    parser.add_argument("--seed", type=int, default=12345, help="seed of the evaluation envs")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


@command("eval", help="evaluate a trained agent")(_eval_arguments)
def _run_eval(args) -> int:
    import json

    from qarcade.dqn.evaluate import evaluate_run

    result = evaluate_run(
        args.run_dir,
        episodes=args.episodes,
        epsilon=args.epsilon,
        seed=args.seed,
        video=args.video,
        device=args.device,
    )
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"{result['algo']} on {result['env']}, {result['episodes']} episodes at epsilon "
            f"{result['epsilon']:g}: mean {result['mean']:.2f}, std {result['std']:.2f}, "
            f"min {result['min']:g}, max {result['max']:g}"
        )
        if args.video:
            print(f"video: {args.video} (reward {result['video_reward']:g})")
    return 0


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


def _play_mspacman(args) -> int:
    """``qarcade play mspacman``: --actions or --random anywhere, the keyboard with a display."""
    import json
    import random

    from qarcade.envs.atari import parse_actions, play_actions, play_keyboard
    from qarcade.media import VIDEO_SUFFIXES, write_video

    if args.video and not args.video.lower().endswith(VIDEO_SUFFIXES):
        raise UserError(f"--video must end in .mp4 or .gif, got {args.video!r}")
    if args.actions is not None and args.random is not None:
        raise UserError("give --actions or --random, not both")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    record = bool(args.video)
    if args.actions is not None:
        actions = parse_actions(args.actions, "mspacman")
        played = play_actions("mspacman", actions=actions, seed=seed, record=record)
    elif args.random is not None:
        played = play_actions("mspacman", random_steps=args.random, seed=seed, record=record)
    else:
        played = play_keyboard("mspacman", seed=seed, record=record)
    fps = 15.0 if args.fps is None else args.fps  # 15 agent steps of 4 frames: real time
    if args.video and played.frames:
        write_video(played.frames, args.video, fps=fps, scale=2)
    if args.json:
        result = {"env": "mspacman", "seed": seed, "steps": played.steps, "score": played.score}
        result.update(lives=played.lives, game_over=played.game_over, video=args.video)
        print(json.dumps(result))
        return 0
    ending = "game over" if played.game_over else f"{played.lives} lives left"
    print(f"mspacman seed {seed}: {played.steps} steps, score {played.score:g} ({ending})")
    if args.video and played.frames:
        print(f"video: {args.video} ({len(played.frames)} frames at {fps:g} fps)")
    return 0


_PLAY_GAMES["mspacman"] = _play_mspacman


# --- sweep ---


def _sweep_arguments(parser):
    """Run many seeds and settings of the DQN family as Ray Tune trials, locally on this
    machine's cores or on a Ray cluster (--address), and report per variant the fraction of
    seeds that reach the goal, the steps and seconds to it, and the final evaluation's
    interquartile mean with a 95% stratified bootstrap interval. Each trial is a normal run
    directory under OUT/trials/; Ctrl-C stops the sweep, --resume OUT continues it (finished
    trials are skipped, unfinished ones continue from their checkpoints). Search spaces (grid or
    random over any config field) come from a TOML file, see docs/sweep.md. Config flags below
    apply to every trial."""
    parser.add_argument("env", nargs="?", help="environment: gridworld (omit with --resume)")
    parser.add_argument("--algo", default="dqn,double,dueling,d3qn", help="comma-separated algos")
    parser.add_argument("--seeds", type=positive_int, default=3, help="seeds per variant: 0..N-1")
    parser.add_argument("--file", help="TOML sweep file (its values win over --algo/--seeds)")
    parser.add_argument("--out", help="sweep directory (default sweeps/ENV-TIME)")
    parser.add_argument("--resume", metavar="SWEEP_DIR", help="continue an interrupted sweep")
    parser.add_argument(
        "--max-concurrent", type=positive_int, help="trials at once (default: as CPUs allow)"
    )
    parser.add_argument("--cpus-per-trial", type=float, default=1.0, help="Ray CPUs per trial")
    parser.add_argument("--gpus-per-trial", type=float, default=0.0, help="Ray GPUs per trial")
    parser.add_argument("--address", help="join a running Ray cluster (e.g. auto or HOST:6379)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    from qarcade.dqn.config import PRESETS

    parser.add_argument("--preset", choices=sorted(PRESETS), default="fast", help="named config")
    _config_flags(parser)


@command("sweep", help="many seeds and settings on Ray Tune, with aggregate statistics")(
    _sweep_arguments
)
def _run_sweep(args) -> int:
    import json
    import time

    from qarcade.sweep import SweepSpec, format_report, load_spec_file, run_sweep

    overrides = _config_overrides(args)
    if args.resume:
        if args.env or args.file or overrides:
            raise UserError("--resume continues a sweep as it was: no env, --file or config flags")
        sweep_dir, spec = args.resume, None
    else:
        values = {"algos": tuple(a.strip() for a in args.algo.split(",") if a.strip())}
        values.update(seeds=args.seeds, preset=args.preset, fixed=overrides)
        if args.file:
            values.update(load_spec_file(args.file))
        values["env"] = args.env or values.get("env")
        if not values["env"]:
            raise UserError("name an environment (gridworld), a --file with env, or --resume DIR")
        spec = SweepSpec(**values)
        sweep_dir = args.out or f"sweeps/{spec.env}-{time.strftime('%Y%m%d-%H%M%S')}"
    report = run_sweep(
        spec,
        sweep_dir,
        resume=bool(args.resume),
        max_concurrent=args.max_concurrent,
        cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=args.gpus_per_trial,
        address=args.address,
        log=(lambda *a: None) if args.json else print,
    )
    unfinished = sum(entry["trials"] - entry["finished"] for entry in report.values())
    if args.json:
        print(json.dumps(report))
    else:
        print(format_report(report))
        print(f"trials.csv, report.json and learning_curves.png in {sweep_dir}")
    if unfinished:
        print(
            f"qarcade sweep: {unfinished} trials unfinished; continue with "
            f"qarcade sweep --resume {sweep_dir}",
            file=sys.stderr,
        )
        return 130
    return 0


# --- explain / plot ---


def _explain_arguments(parser):
    """Draw what an agent learned, as a PNG. RUN_DIR (a gridworld run): for one layout (goals
    and fires of the reset with --seed), the hero is put on every other cell and the trained
    network's max_a Q is drawn as a heatmap with the greedy action as an arrow in each cell;
    for a dueling network (dueling, d3qn) the value stream V(s) and the advantages A(s, a)
    beside it, for a plain one the greedy margin and Q(s, a). `qarcade explain mdp` instead
    runs Q-learning on the lab's MDP (the run `qarcade mdp` prints, same --seed and --gamma)
    and draws its Q-table over the steps against Q*, with each state's margin: at gamma 0.99
    the margins settle long before the values do."""
    parser.add_argument(
        "target", metavar="RUN_DIR", help="a gridworld run directory, or mdp for the lab's MDP"
    )
    from qarcade import tabular

    parser.add_argument(
        "--out",
        metavar="FILE",
        help="figure to write, .png, .pdf or .svg (None: RUN_DIR/values.png, or mdp_q.png)",
    )
    parser.add_argument("--seed", type=int, default=0, help="layout seed (mdp: Q-learning seed)")
    parser.add_argument(
        "--device", choices=("auto", "cpu", "cuda"), default="cpu", help="where the network runs"
    )
    parser.add_argument("--gamma", type=_discount, default=0.99, help="mdp: discount factor")
    parser.add_argument(
        "--steps",
        type=positive_int,
        default=tabular.Q_LEARNING_STEPS,
        help="mdp: Q-learning env steps",
    )
    parser.add_argument("--json", action="store_true", help="print the figures' numbers as JSON")


@command("explain", help="draw what an agent learned: value map, or Q-learning vs Q*")(
    _explain_arguments
)
def _run_explain(args) -> int:
    import json
    import math
    from pathlib import Path

    from qarcade import explain
    from qarcade.runs import RunDir

    if args.target == "mdp" and not (Path("mdp") / "config.json").exists():
        out = Path(args.out or "mdp_q.png")
        explain.check_figure_path(out)
        conv = explain.q_learning_convergence(args.gamma, args.steps, args.seed)
        explain.draw_q_convergence(conv, out)
        error = conv.max_error()
        margins = conv.margins()[-1]
        if args.json:
            result = {"figure": str(out), "gamma": conv.gamma, "seed": conv.seed}
            result.update(env_steps=int(conv.steps[-1]), max_error=float(error[-1]))
            result["margins"] = [None if math.isnan(m) else float(m) for m in margins]
            print(json.dumps(result))
            return 0
        print(
            f"Q-learning on the lab's MDP, gamma {conv.gamma:g}, seed {conv.seed}: after "
            f"{conv.steps[-1]:,} steps max |Q - Q*| = {error[-1]:.2f} (from {error[0]:.2f}); "
            f"margins {', '.join('-' if math.isnan(m) else f'{m:.2f}' for m in margins)}"
        )
        print(f"wrote {out}")
        return 0
    RunDir.open(args.target)  # a missing or wrong RUN_DIR is named before anything else
    out = Path(args.out) if args.out else Path(args.target) / "values.png"
    explain.check_figure_path(out)
    vm = explain.value_map(args.target, seed=args.seed, device=args.device)
    explain.draw_value_map(vm, out)
    if args.json:
        print(json.dumps({"figure": str(out), "seed": args.seed, **vm.to_dict()}))
        return 0
    arrows = "^v<>"
    print(f"{vm.algo}, layout seed {args.seed}: max_a Q and the greedy action per hero cell")
    for y in range(vm.size):
        cells = []
        for x in range(vm.size):
            if vm.greedy[y, x] < 0:
                cell = int(y * vm.size + x)
                cells.append(("goal" if cell in vm.cells[1:5] else "fire").rjust(7))
            else:
                cells.append(f"{vm.state_value[y, x]:6.2f}{arrows[vm.greedy[y, x]]}")
        print("  " + " ".join(cells))
    print(f"wrote {out}")
    return 0


def _plot_arguments(parser):
    """Draw the learning curves of several runs on one plot: each run's moving mean of the
    last goal_window training rewards (at most half the shortest run's episodes, so a short run
    shows its trend) on a common step grid (a point per episode end for short runs, marked);
    runs with the same label (by default the algo in their config.json, so several seeds of
    one variant) are averaged into one line with a 95% bootstrap band over runs, drawn where at
    least two runs have a value. A label's line ends at its longest run's last episode."""
    parser.add_argument("run_dirs", metavar="RUN_DIR", nargs="+", help="run directories")
    parser.add_argument(
        "--out", metavar="FILE", default="learning_curves.png", help="figure: .png, .pdf or .svg"
    )
    parser.add_argument(
        "--label",
        action="append",
        help="once per RUN_DIR, in order; runs with one label share a band (None: each run's algo)",
    )
    parser.add_argument(
        "--window",
        type=positive_int,
        help="episodes in the moving mean (None: the first run's goal_window, 50 by default, "
        "or half the shortest run's episodes if fewer)",
    )
    parser.add_argument("--title", help="plot title (None: says what is drawn)")
    parser.add_argument("--json", action="store_true", help="print the curves' ends as JSON")


@command("plot", help="learning curves of several runs on one plot, mean and band")(_plot_arguments)
def _run_plot(args) -> int:
    import json

    import numpy as np

    from qarcade.explain import plot_runs

    title = args.title or ""
    curves = plot_runs(args.run_dirs, args.out, args.label, window=args.window, title=title)
    window = next(iter(curves.values()))["window"]
    summary = {
        label: {
            "runs": c["runs"],
            "final_mean": c["final_mean"],
            "last_step": float(c["steps"][np.isfinite(c["mean"])][-1]),
        }
        for label, c in curves.items()
    }
    if args.json:
        print(json.dumps({"figure": str(args.out), "window": window, "curves": summary}))
        return 0
    for label, entry in summary.items():
        final = entry["final_mean"]
        print(
            f"{label}: {entry['runs']} run(s), smoothed mean at step {entry['last_step']:,.0f}: "
            + ("-" if final is None else f"{final:.2f}")
        )
    print(f"wrote {args.out} (moving mean over {window} episode{'s' if window > 1 else ''})")
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
    except BrokenPipeError:  # `qarcade mdp | head`: the reader left, which is no error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
