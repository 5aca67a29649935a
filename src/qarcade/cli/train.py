"""``qarcade train`` and ``qarcade eval``: train the DQN family into a run directory, evaluate
a trained agent; ``qarcade.dqn.train.train`` and ``qarcade.dqn.evaluate.evaluate_run`` do the work.
"""

from __future__ import annotations

import argparse

from qarcade.cli.common import (
    check_video_flag,
    command,
    config_flags,
    config_overrides,
    counted,
    positive_int,
    seed_int,
    trust_checkpoint_flag,
    unit_interval,
)
from qarcade.errors import UserError


def _train_arguments(parser):
    """Train DQN, Double, Dueling or D3QN (one loop, two flags) and write a run directory:
    config.json, metrics.csv, TensorBoard events, summary.json, checkpoint.pt,
    learning_curve.png and video.mp4. Stops at --goal (mean reward of the last 50 training
    episodes, or of a greedy evaluation with --goal-metric eval), --max-steps or --max-minutes.
    The gridworld's default stops when a greedy evaluation of 50 episodes scores 24 with none
    stuck in a loop, noting the lab's goal (15, training episodes) on the way; --preset lab
    stops at the lab's goal. Ctrl-C or SIGTERM writes a checkpoint; --resume RUN_DIR continues
    exactly where it stopped."""
    from qarcade.dqn.config import ALGOS, DEFAULT_PRESETS, FAMILY_NAMES, PRESETS

    parser.add_argument(
        "env",
        nargs="?",
        help="environment: gridworld, an Atari game (mspacman, breakout, ALE/Pong-v5) or any "
        "Gymnasium id with discrete actions (CartPole-v1, my_package:MyEnv-v0); omit with --resume",
    )
    per_env = ", ".join(
        f"{name} for {FAMILY_NAMES[family]}" for family, name in DEFAULT_PRESETS.items()
    )
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
    trust_checkpoint_flag(parser)
    config_flags(parser)


@command("train", help="train the DQN family on an environment")(_train_arguments)
def _run_train(args) -> int:
    import json

    from qarcade.dqn.checkpoint import resume_config
    from qarcade.dqn.config import FAMILY_NAMES, build_config, default_preset, env_family
    from qarcade.dqn.recorder import default_run_dir
    from qarcade.dqn.train import train
    from qarcade.envs.resolve import resolve_env
    from qarcade.outfiles import check_folder

    overrides = config_overrides(args)
    if args.resume:
        if args.algo or args.out or hasattr(args, "preset"):
            raise UserError("--resume continues a run as it was: no --algo, --preset or --out")
        config = resume_config(args.resume, overrides)
        if args.env and args.env != config.env:
            raise UserError(f"{args.resume} is a {config.env} run, not {args.env}")
        run_dir = args.resume
    else:
        if not args.env:
            raise UserError(
                "name an environment (gridworld, breakout, CartPole-v1, ...) or --resume RUN_DIR"
            )
        env = resolve_env(args.env).name  # one spelling per env: "ALE/Breakout-v5" -> breakout
        given = getattr(args, "preset", None)
        preset_name = given or default_preset(env)
        config = build_config(preset_name, args.algo, {**overrides, "env": env})
        run_dir = check_folder(args.out or default_run_dir(config), "run directory")
    log = (lambda *a, **k: None) if args.json else print
    if not args.resume:
        how = "" if given else f", the default for {FAMILY_NAMES[env_family(env)]}"
        log(f"{env}: preset {preset_name}{how}")
    summary = train(
        config,
        run_dir,
        resume=bool(args.resume),
        progress=not args.no_progress,
        log=log,
        trust_checkpoint=args.trust_checkpoint,
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
    noted = summary.get("train_goal_reached_at")
    if noted and not (reached and reached["step"] == noted["step"]):
        print(
            f"training goal {noted['train_goal']:g} reached at step {noted['step']:,}, "
            f"episode {noted['episode']:,}, {noted['wall_seconds']:.0f} s"
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
    parser.add_argument("--seed", type=seed_int, default=12345, help="seed of the evaluation envs")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    trust_checkpoint_flag(parser)


@command("eval", help="evaluate a trained agent")(_eval_arguments)
def _run_eval(args) -> int:
    import json

    from qarcade.dqn.evaluate import evaluate_run

    check_video_flag(args.video)
    result = evaluate_run(
        args.run_dir,
        episodes=args.episodes,
        epsilon=args.epsilon,
        seed=args.seed,
        video=args.video,
        device=args.device,
        trust_checkpoint=args.trust_checkpoint,
    )
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        episodes = counted(result["episodes"], "episode")
        print(
            f"{result['algo']} on {result['env']}, {episodes} at epsilon "
            f"{result['epsilon']:g}: mean {result['mean']:.2f}, std {result['std']:.2f}, "
            f"min {result['min']:g}, max {result['max']:g}"
        )
        if args.video:
            print(f"video: {args.video} (reward {result['video_reward']:g})")
    return 0
