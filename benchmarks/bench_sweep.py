"""Sweep on Ray Tune against the same runs one after another, on this machine.

Runs ALGOS x SEEDS gridworld trainings to the goal (the default `fast` preset, capped at
--max-steps) twice: once as `qarcade sweep` (local Ray, --max-concurrent trials at once, one
torch thread each) and once sequentially in this process (torch using every core, as a single
`qarcade train` would). Prints both wall times, their ratio and the per-variant success rates.

    .venv/bin/python benchmarks/bench_sweep.py                   # 4 variants x 3 seeds
    .venv/bin/python benchmarks/bench_sweep.py --seeds 1 --algos dqn,d3qn --max-steps 5000
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from qarcade.dqn.config import build_config
from qarcade.dqn.train import train
from qarcade.sweep import SweepSpec, format_report, run_sweep


def sequential(spec: SweepSpec, out: Path) -> tuple[float, dict]:
    started = time.perf_counter()
    reached: dict[str, list[bool]] = {}
    for algo in spec.algos:
        for seed in range(spec.seeds):
            overrides = {**spec.fixed, "env": spec.env, "seed": seed, "video": False}
            config = build_config(spec.preset, algo, overrides)
            summary = train(config, out / f"{algo}-seed{seed}", progress=False, log=lambda *_: 0)
            reached.setdefault(algo, []).append(bool(summary["goal_reached"]))
    return time.perf_counter() - started, reached


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", default="dqn,double,dueling,d3qn")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max-steps", type=int, default=30_000)
    parser.add_argument("--max-concurrent", type=int, default=os.cpu_count())
    args = parser.parse_args()
    fixed = {"max_steps": args.max_steps, "final_eval_episodes": 20}
    spec = SweepSpec(algos=tuple(args.algos.split(",")), seeds=args.seeds, fixed=fixed)
    with tempfile.TemporaryDirectory() as root:
        root = Path(root)
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        report = run_sweep(
            spec, root / "sweep", max_concurrent=args.max_concurrent, cpus_per_trial=1, log=print
        )
        sweep_seconds = time.perf_counter() - started
        load_between = os.getloadavg()[0]
        sequential_seconds, reached = sequential(spec, root / "sequential")
    runs = len(spec.algos) * spec.seeds
    print(format_report(report))
    loads = f"{load_before:.1f} / {load_between:.1f} / {os.getloadavg()[0]:.1f}"
    print(f"\n{runs} runs on {os.cpu_count()} cores; 1-min load before / between / after: {loads}")
    print(f"sweep ({args.max_concurrent} at once, Ray start included): {sweep_seconds:7.1f} s")
    print(f"one after another (torch on every core):   {sequential_seconds:7.1f} s")
    print(f"ratio sequential / sweep: {sequential_seconds / sweep_seconds:.2f}x")
    success = {algo: f"{sum(r)}/{len(r)}" for algo, r in reached.items()}
    print("goal reached, sequential:", json.dumps(success))


if __name__ == "__main__":
    main()
