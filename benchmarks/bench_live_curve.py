"""What drawing the learning curve live costs a training run (``media.LiveCurve``).

Trains the notebook's DQN run (``fast`` preset on the gridworld, ``--network`` lab by default
as in the full notebook) for ``--steps`` env steps twice per repeat, interleaved: once plain,
once with a LiveCurve that redraws a PNG file (what it draws in Jupyter, without a browser) as
the hook ``train(on_episodes=...)``. Prints the share of the run's wall time spent drawing
(timed inside the run) and the wall-time ratio live / plain (best of ``--repeats``; noisier on
a shared machine).

    .venv/bin/python benchmarks/bench_live_curve.py                    # ~1-2 minutes on 2 cores
    .venv/bin/python benchmarks/bench_live_curve.py --network cells    # faster network: worse case
    .venv/bin/python benchmarks/bench_live_curve.py --repeats 3 --json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from timing import CALLS, SECONDS, timed  # benchmarks/timing.py

from qarcade import media
from qarcade.dqn.config import build_config
from qarcade.dqn.train import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4_000, help="env steps per run")
    parser.add_argument("--network", default="lab", help="lab (the notebook's), cells, tiny")
    parser.add_argument("--repeats", type=int, default=1, help="interleaved pairs of runs")
    parser.add_argument("--every-s", type=float, default=1.0, help="LiveCurve's every_s")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    media.LiveCurve.png = timed("draw", media.LiveCurve.png)
    config = build_config(
        "fast",
        "dqn",
        dict(
            network=args.network,
            max_steps=args.steps,
            final_eval_episodes=0,
            eval_every_steps=0,
            checkpoint_every_steps=0,
            video=False,
        ),
    )
    quiet = dict(progress=False, log=lambda *a: None)
    plain, live = [], []
    draw_share, redraws = [], []
    with tempfile.TemporaryDirectory() as root:
        for repeat in range(args.repeats):
            summary = train(config, Path(root) / f"plain{repeat}", **quiet)
            plain.append(summary["wall_seconds"])
            SECONDS.clear()
            CALLS.clear()
            curve = media.LiveCurve(
                goal=config.goal, every_s=args.every_s, path=Path(root) / f"live{repeat}.png"
            )
            with curve:
                summary = train(config, Path(root) / f"live{repeat}", on_episodes=curve, **quiet)
            live.append(summary["wall_seconds"])
            draw_share.append(SECONDS["draw"] / summary["wall_seconds"])
            redraws.append(curve.redraws)
    result = {
        "network": args.network,
        "env_steps": args.steps,
        "plain_wall_s": min(plain),
        "live_wall_s": min(live),
        "live_vs_plain": min(live) / min(plain),
        "draw_share": min(draw_share),
        "redraws": redraws,
        "seconds_per_draw": SECONDS["draw"] / max(CALLS["draw"], 1),
        "load_1min": os.getloadavg()[0],
    }
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{args.network} network, {args.steps:,} env steps: plain {result['plain_wall_s']:.1f} s, "
        f"live {result['live_wall_s']:.1f} s ({result['live_vs_plain']:.3f}x); "
        f"{redraws[-1]} redraws of {result['seconds_per_draw'] * 1000:.0f} ms, "
        f"drawing {result['draw_share']:.1%} of the live run (1-minute load "
        f"{result['load_1min']:.1f})"
    )


if __name__ == "__main__":
    main()
