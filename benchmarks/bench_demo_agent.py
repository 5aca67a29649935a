"""`make demo`'s agent over many seeds: how long it trains and how it plays greedily on fresh games.

For each seed, trains `make demo`'s run (`qarcade train gridworld --algo d3qn --seed S`, the
`fast` preset) in a fresh process and plays its agent greedily on 100 games it never trained on
(`bench_greedy_play.greedy_play`): mean return and the share of episodes ending in a loop. The
baseline, beside it in the same run (interleaved seed by seed), is ``--baseline``: ``lab-cnn``
(the default), the demo before it trained the cells CNN (`--network lab --learning-rate 1e-3`),
or ``lab-goal``, the demo before it stopped on an evaluation (that, also stopping at the lab's
training goal without turned batches). Prints each run, then
per side the median and the range over seeds of the env steps, the seconds, the fresh-game
mean and the loop share, and the ratios to the baseline.

    .venv/bin/python benchmarks/bench_demo_agent.py --seeds 0 1 2 3 4 5 6 7 8 9   # ~15 min
    .venv/bin/python benchmarks/bench_demo_agent.py --seeds 0 1 --no-baseline --json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_greedy_play import greedy_play

from qarcade.dqn.config import LAB_GOAL

LAB_CNN = ["--network", "lab", "--learning-rate", "1e-3"]
BASELINES = {
    "lab-cnn": LAB_CNN,
    "lab-goal": [
        *LAB_CNN,
        "--no-augment",
        *(f"--{k.replace('_', '-')}={v}" for k, v in LAB_GOAL.items()),
    ],
}


def demo_run(seed: int, extra: list[str], threads: str | None) -> dict:
    """One training run in a fresh process and its agent's greedy play on fresh games."""
    command = [sys.executable, "-m", "qarcade.cli", "train", "gridworld", "--algo", "d3qn"]
    command += ["--seed", str(seed), "--no-video", "--no-progress", "--json", *extra]
    if threads:
        command += ["--torch-threads", threads]
    with tempfile.TemporaryDirectory() as folder:
        run_dir = str(Path(folder) / "run")
        out = subprocess.run(
            [*command, "--out", run_dir], capture_output=True, text=True, check=True
        ).stdout
        summary = json.loads(out)
        play = greedy_play(run_dir, 100, seed=987_654)
    noted = summary.get("train_goal_reached_at") or summary.get("goal_reached_at") or {}
    return {
        "seed": seed,
        "env_steps": summary["env_steps"],
        "seconds": summary["wall_seconds"],
        "stop_reason": summary["stop_reason"],
        "lab_goal_step": noted.get("step"),
        "final_eval": (summary["final_eval"] or {}).get("mean"),
        "fresh_mean": play["mean"],
        "loops": play["loop_fraction"],
    }


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} [{min(values):.2f}, {max(values):.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--no-baseline", action="store_true", help="only the demo as it is")
    parser.add_argument("--baseline", choices=BASELINES, default="lab-cnn")
    parser.add_argument("--threads", help="--torch-threads for every run (default: auto)")
    parser.add_argument("--json", action="store_true", help="one JSON line per run")
    args = parser.parse_args()
    sides = {"demo": []} if args.no_baseline else {"demo": [], "baseline": []}
    extras = {"demo": [], "baseline": BASELINES[args.baseline]}
    for seed in args.seeds:
        for side, runs in sides.items():
            result = demo_run(seed, extras[side], args.threads)
            runs.append(result)
            print(json.dumps({"side": side, **result}) if args.json else f"{side}: {result}")
    if args.json:
        return
    print(f"\n{len(args.seeds)} seeds: median [min, max]")
    for side, runs in sides.items():
        print(f"{side}:")
        for key in ("env_steps", "seconds", "fresh_mean", "loops"):
            print(f"  {key:11s} {spread([r[key] for r in runs])}")
    if "baseline" in sides:
        for key in ("seconds", "fresh_mean", "loops"):
            ratio = statistics.median(r[key] for r in sides["demo"]) / max(
                1e-9, statistics.median(r[key] for r in sides["baseline"])
            )
            print(f"demo / baseline, median {key}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
