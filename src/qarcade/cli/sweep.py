"""``qarcade sweep``: many seeds and settings of the DQN family on Ray Tune (``qarcade.sweep``).

Ray is imported only when a sweep runs, so ``qarcade --help`` stays fast without it.
"""

from __future__ import annotations

import sys

from qarcade.cli.common import (
    command,
    config_flags,
    config_overrides,
    not_negative_float,
    positive_float,
    positive_int,
)
from qarcade.errors import UserError

MAX_TRIALS = 1000  # qarcade.sweep.MAX_TRIALS, without importing numpy for --help


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
    parser.add_argument(
        "--cpus-per-trial", type=positive_float, default=1.0, help="Ray CPUs per trial"
    )
    parser.add_argument(
        "--gpus-per-trial", type=not_negative_float, default=0.0, help="Ray GPUs per trial"
    )
    parser.add_argument("--address", help="join a running Ray cluster (e.g. auto or HOST:6379)")
    parser.add_argument(
        "--max-trials",
        type=positive_int,
        default=MAX_TRIALS,
        help="refuse a sweep of more trials than this (each is a run directory)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    from qarcade.dqn.config import PRESETS

    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="named config (default: the env's, as qarcade train picks it)",
    )
    config_flags(parser)


@command("sweep", help="many seeds and settings on Ray Tune, with aggregate statistics")(
    _sweep_arguments
)
def _run_sweep(args) -> int:
    import json
    import time

    from qarcade.dqn.config import default_preset
    from qarcade.envs.resolve import resolve_env
    from qarcade.sweep import SweepSpec, format_report, load_spec_file, run_sweep

    overrides = config_overrides(args)
    if args.resume:
        if args.env or args.file or overrides:
            raise UserError("--resume continues a sweep as it was: no env, --file or config flags")
        sweep_dir, spec = args.resume, None
    else:
        values = {"algos": tuple(a.strip() for a in args.algo.split(",") if a.strip())}
        values.update(seeds=args.seeds, fixed=overrides)
        if args.preset:
            values["preset"] = args.preset
        if args.file:
            values.update(load_spec_file(args.file))
        values["env"] = args.env or values.get("env")
        if not values["env"]:
            raise UserError("name an environment (gridworld), a --file with env, or --resume DIR")
        if isinstance(values["env"], str):  # else SweepSpec names the key and what it expects
            values["env"] = resolve_env(values["env"]).name  # "ALE/Pong-v5" -> pong
            values.setdefault("preset", default_preset(values["env"]))
        spec = SweepSpec(**values)
        folder = "".join(c if c.isalnum() or c in "_.-" else "-" for c in spec.env)
        sweep_dir = args.out or f"sweeps/{folder}-{time.strftime('%Y%m%d-%H%M%S')}"
    report = run_sweep(
        spec,
        sweep_dir,
        resume=bool(args.resume),
        max_concurrent=args.max_concurrent,
        cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=args.gpus_per_trial,
        address=args.address,
        max_trials=args.max_trials,
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
