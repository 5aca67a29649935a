"""Two values of one config field against each other: env steps and wall time to the lab's goal.

For each seed the same preset (default ``fast``: D3QN, lab CNN, 16 envs) trains to the goal once
per value, interleaved (value A, value B, next seed), then plays 100 greedy episodes. Prints each
run, each value's median, and the ratio of the median times (A's over B's: > 1 means B is faster).

    .venv/bin/python benchmarks/bench_ab.py precision float32 bf16 --seeds 0 1 2 3 4 5
    .venv/bin/python benchmarks/bench_ab.py grid_input false true --seeds 0 1 2 3 4 5
    .venv/bin/python benchmarks/bench_ab.py learning_rate 0.001 0.002 --set train_every_steps=32
    .venv/bin/python benchmarks/bench_ab.py train_every_steps 16 32 --b-set target_update_every=25
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import tempfile
from pathlib import Path

from qarcade.dqn.config import LAB_GOAL, DQNConfig, build_config
from qarcade.dqn.train import train


def parse_value(field: str, text: str):
    """``text`` as the type of config field ``field`` (bools: true/false)."""
    default = getattr(DQNConfig(), field)
    if isinstance(default, bool):
        if text.lower() not in ("true", "false"):
            raise SystemExit(f"{field} takes true or false, got {text!r}")
        return text.lower() == "true"
    return type(default)(text)


def parse_assignments(items: list[str]) -> dict:
    """``["field=value", ...]`` as config overrides."""
    overrides = {}
    for item in items:
        name, _, text = item.partition("=")
        overrides[name] = parse_value(name, text)
    return overrides


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("field", help="a DQNConfig field, e.g. precision")
    parser.add_argument("a", help="baseline value")
    parser.add_argument("b", help="contender value")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--algo", default="d3qn")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--eval-episodes", type=int, default=100)
    parser.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE", help="for both sides"
    )
    parser.add_argument(
        "--b-set", action="append", default=[], metavar="FIELD=VALUE", help="for B only"
    )
    args = parser.parse_args()
    common, b_only = parse_assignments(args.set), parse_assignments(args.b_set)
    if args.field not in {f.name for f in dataclasses.fields(DQNConfig)}:
        raise SystemExit(f"unknown config field {args.field!r}")
    sides = {  # label -> the overrides of that side
        "A": {**common, args.field: parse_value(args.field, args.a)},
        "B": {**common, args.field: parse_value(args.field, args.b), **b_only},
    }
    names = {
        side: ", ".join(f"{k}={v}" for k, v in changes.items() if k not in common)
        for side, changes in sides.items()
    }
    runs = {side: [] for side in sides}
    with tempfile.TemporaryDirectory() as root:
        for seed in args.seeds:
            for side, changes in sides.items():
                overrides = {**LAB_GOAL, **changes, "seed": seed, "video": False}
                overrides["final_eval_episodes"] = args.eval_episodes
                config = build_config(args.preset, args.algo, overrides)
                summary = train(
                    config, Path(root) / f"{side}-{seed}", progress=False, log=lambda *a: None
                )
                reached = summary["goal_reached_at"] or {}
                run = {
                    "side": names[side],
                    "precision": summary["precision"],
                    "seed": seed,
                    "steps": reached.get("step"),
                    "seconds": reached.get("wall_seconds"),
                    "eval": round(summary["final_eval"]["mean"], 2),
                    "load_average": round(os.getloadavg()[0], 1),
                }
                runs[side].append(run)
                print(json.dumps(run), flush=True)
    medians = {}
    for side, done in runs.items():
        reached = [r for r in done if r["seconds"] is not None]
        medians[side] = statistics.median(r["seconds"] for r in reached)
        print(
            f"{names[side]}: goal {len(reached)}/{len(done)}, median "
            f"{statistics.median(r['steps'] for r in reached):,.0f} env steps, "
            f"{medians[side]:.1f} s; mean greedy evaluation "
            f"{statistics.mean(r['eval'] for r in done):.2f}"
        )
    ratio = medians["A"] / medians["B"]
    print(f"{names['B']} against {names['A']}, median time to the goal: {ratio:.2f}x less")


if __name__ == "__main__":
    main()
