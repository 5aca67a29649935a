"""Learning of DQN, Double, Dueling and D3QN on the gridworld: several seeds each.

Each variant runs the ``fast`` preset with only ``--algo`` changed, until the lab's goal (mean
reward of the last 50 training episodes >= 15) or a time cap. Prints, per variant, the fraction
of seeds reaching the goal and the median env steps and seconds they took, as a ratio against
D3QN measured in the same run; writes one plot of the learning curves (mean over seeds of the
50-episode moving mean, with a 95% bootstrap band over seeds, drawn until the first seed of a
variant stops at the goal).

    .venv/bin/python benchmarks/bench_dqn_variants.py --seeds 0 1 --max-minutes 2.5 \
        --plot docs/figures/dqn_variants.png
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import numpy as np

from qarcade import media
from qarcade.dqn.config import ALGOS, LAB_GOAL, build_config
from qarcade.dqn.train import train
from qarcade.runs import RunDir


def curve_on_grid(run_dir: Path, grid: np.ndarray, window: int) -> np.ndarray:
    """The moving mean of training rewards at each env step of ``grid``; NaN before the first
    episode and after the run stopped."""
    metrics = RunDir(run_dir).read_metrics()
    moving = metrics["reward"].rolling(window, min_periods=1).mean().to_numpy()
    steps = metrics["step"].to_numpy()
    index = np.searchsorted(steps, grid, side="right") - 1
    values = moving[np.clip(index, 0, None)]
    values[(index < 0) | (grid > steps[-1])] = np.nan
    return values


def bootstrap_band(curves: np.ndarray, rng: np.random.Generator, draws: int = 1000):
    """Mean over seeds (axis 0) and its 95% percentile-bootstrap interval; NaN (not drawn)
    wherever a seed has no value, i.e. from the first seed that stopped at the goal on."""
    seeds = curves.shape[0]
    picks = rng.integers(0, seeds, size=(draws, seeds))
    means = curves[picks].mean(axis=1)  # (draws, T)
    return curves.mean(axis=0), *np.percentile(means, [2.5, 97.5], axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--algos", nargs="+", default=list(ALGOS))
    parser.add_argument("--max-minutes", type=float, default=2.5)
    parser.add_argument("--max-steps", type=int, default=30_000)
    parser.add_argument("--plot", default="dqn_variants.png")
    parser.add_argument("--out", help="keep the run directories here")
    parser.add_argument("--reuse", action="store_true", help="reuse finished runs in --out")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.out or tmp)
        root.mkdir(parents=True, exist_ok=True)
        grid = np.arange(400, args.max_steps + 1, 400)
        bands = {}
        for algo in args.algos:
            runs, curves = [], []
            for seed in args.seeds:
                config = build_config(
                    "fast",
                    algo,
                    {
                        **LAB_GOAL,
                        "seed": seed,
                        "max_minutes": args.max_minutes,
                        "max_steps": args.max_steps,
                        "final_eval_episodes": 0,
                        "video": False,
                    },
                )
                run_dir = root / f"{algo}-seed{seed}"
                if args.reuse and (run_dir / "summary.json").exists():
                    summary = RunDir(run_dir).read_summary()  # replot finished runs
                else:
                    summary = train(config, run_dir, progress=False, log=lambda *a: None)
                runs.append(summary["goal_reached_at"])
                curves.append(curve_on_grid(run_dir, grid, config.goal_window))
                if not args.json:
                    print(algo, seed, json.dumps(summary["goal_reached_at"]))
            reached = [r for r in runs if r]
            results[algo] = {
                "reached": f"{len(reached)}/{len(runs)}",
                "median_steps": statistics.median(r["step"] for r in reached) if reached else None,
                "median_seconds": (
                    statistics.median(r["wall_seconds"] for r in reached) if reached else None
                ),
            }
            mean, low, high = bootstrap_band(np.stack(curves), np.random.default_rng(0))
            bands[algo] = (grid, mean, low, high)
    media.plot_curves_with_bands(
        bands, args.plot, goal=15, title="gridworld, fast preset, mean of last 50 episodes"
    )
    base = results.get("d3qn", {})
    for row in results.values():
        if row["median_seconds"] and base.get("median_seconds"):
            row["seconds_vs_d3qn"] = row["median_seconds"] / base["median_seconds"]
            row["steps_vs_d3qn"] = row["median_steps"] / base["median_steps"]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for algo, row in results.items():
        ratio = (
            f"  ({row['seconds_vs_d3qn']:.2f}x D3QN's time, {row['steps_vs_d3qn']:.2f}x its steps)"
            if "seconds_vs_d3qn" in row
            else ""
        )
        print(
            f"{algo:8s} goal reached {row['reached']}: median {row['median_steps']} env steps, "
            f"{row['median_seconds']} s{ratio}"
        )
    print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
