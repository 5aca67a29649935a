"""float32 against bf16 updates: env steps and wall time to the lab's goal, seed by seed.

For each seed the same preset (default ``fast``: D3QN, lab CNN, 16 envs) trains to the goal
twice, interleaved, once with ``--precision float32`` and once with ``bf16`` (autocast of the
updates' forwards and backward; what ``auto`` picks on a CPU with AMX), then plays 100 greedy
episodes. Prints each run and the ratio of the median times.

    .venv/bin/python benchmarks/bench_precision.py --seeds 0 1 2 3 4 5     # ~4 minutes here
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

from qarcade.dqn.config import build_config
from qarcade.dqn.train import train

PRECISIONS = ("float32", "bf16")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--algo", default="d3qn")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--eval-episodes", type=int, default=100)
    args = parser.parse_args()
    runs = {precision: [] for precision in PRECISIONS}
    with tempfile.TemporaryDirectory() as root:
        for seed in args.seeds:
            for precision in PRECISIONS:
                config = build_config(
                    args.preset,
                    args.algo,
                    {
                        "seed": seed,
                        "precision": precision,
                        "video": False,
                        "final_eval_episodes": args.eval_episodes,
                    },
                )
                summary = train(
                    config, Path(root) / f"{precision}-{seed}", progress=False, log=lambda *a: None
                )
                reached = summary["goal_reached_at"] or {}
                run = {
                    "precision": summary["precision"],
                    "seed": seed,
                    "steps": reached.get("step"),
                    "seconds": reached.get("wall_seconds"),
                    "eval": round(summary["final_eval"]["mean"], 2),
                    "load_average": round(os.getloadavg()[0], 1),
                }
                runs[precision].append(run)
                print(json.dumps(run), flush=True)
    medians = {}
    for precision, done in runs.items():
        reached = [r for r in done if r["seconds"] is not None]
        medians[precision] = statistics.median(r["seconds"] for r in reached)
        print(
            f"{precision}: goal {len(reached)}/{len(done)}, median "
            f"{statistics.median(r['steps'] for r in reached):,.0f} env steps, "
            f"{medians[precision]:.1f} s; mean greedy evaluation "
            f"{statistics.mean(r['eval'] for r in done):.2f}"
        )
    ratio = medians["float32"] / medians["bf16"]
    print(f"bf16 against float32, median time to the goal: {ratio:.2f}x")


if __name__ == "__main__":
    main()
