"""Wall time and env steps to the lab's goal, then how well the trained agent really plays.

For each seed: train with a preset (default ``fast``: D3QN, lab CNN, 16 envs, n-step) until the
mean reward of the last 50 training episodes reaches 15 (the lab's goal), then evaluate the
agent greedily over 100 episodes at epsilon 0 and at epsilon 0.05. The baseline, measured in
the same run: the lab preset's throughput (env steps/s over a short window after its warm-up),
which prices the lab's recorded ~72,000 env steps to the goal in seconds on this machine.

``--sb3-minutes M``: Stable-Baselines3's DQN with the lab's hyperparameters and CNN runs to the
same goal beside the seeds (a child process, ``bench_dqn_sb3.py --goal``, capped at M minutes,
its progress in ``--sb3-log``); with ``--torch-threads 1`` each side has one of two cores.

    .venv/bin/python benchmarks/bench_dqn_goal.py                 # 3 seeds, a few minutes
    .venv/bin/python benchmarks/bench_dqn_goal.py --seeds 0 1 2 3 4 --json
    .venv/bin/python benchmarks/bench_dqn_goal.py --sb3-minutes 35 --torch-threads 1
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from qarcade.dqn.config import LAB_GOAL, build_config
from qarcade.dqn.evaluate import evaluate_run
from qarcade.dqn.train import train

LAB_STEPS_TO_GOAL = 72_000  # the lab's stored runs: ~1,450 episodes of 50 steps (DQN)
QUIET = dict(progress=False, log=lambda *args: None)


def lab_steps_per_second(root: Path, threads: int, rounds: int = 8) -> float:
    """The lab preset's env steps/s after warm-up (its learning phase), on this machine."""
    overrides = {"final_eval_episodes": 0, "video": False, "torch_threads": threads}
    lab = build_config("lab", "dqn", overrides)
    run_dir = root / "lab"
    warm = train(dataclasses.replace(lab, max_steps=lab.warmup_steps), run_dir, **QUIET)
    more = dataclasses.replace(lab, max_steps=lab.warmup_steps + rounds * lab.train_every_steps)
    done = train(more, run_dir, resume=True, **QUIET)
    return (done["env_steps"] - warm["env_steps"]) / (done["wall_seconds"] - warm["wall_seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--algo", default=None, help="default: the preset's")
    parser.add_argument("--network", default=None, help="default: the preset's")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max-minutes", type=float, default=10.0)
    parser.add_argument("--eval-episodes", type=int, default=100)
    parser.add_argument("--out", help="keep the run directories here")
    parser.add_argument("--torch-threads", type=int, default=0, help="0 = one per core")
    parser.add_argument("--sb3-minutes", type=float, default=0.0, help="0 = no SB3 run")
    parser.add_argument("--sb3-seed", type=int, default=0)
    parser.add_argument("--sb3-log", default="/tmp/bench_dqn_goal_sb3.log")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    sb3 = start_sb3(args) if args.sb3_minutes else None
    overrides = {
        **LAB_GOAL,
        "max_minutes": args.max_minutes,
        "final_eval_episodes": 0,
        "video": False,
        "torch_threads": args.torch_threads,
    }
    if args.network:
        overrides["network"] = args.network
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.out or tmp)
        root.mkdir(parents=True, exist_ok=True)
        lab_rate = lab_steps_per_second(root, args.torch_threads)
        runs = []
        for seed in args.seeds:
            config = build_config(args.preset, args.algo, {**overrides, "seed": seed})
            run_dir = root / f"{args.preset}-{config.algo}-{config.network}-seed{seed}"
            summary = train(config, run_dir, **QUIET)
            reached = summary["goal_reached_at"]
            evals = {
                eps: evaluate_run(run_dir, episodes=args.eval_episodes, epsilon=eps)["mean"]
                for eps in (0.0, 0.05)
            }
            runs.append(
                {
                    "seed": seed,
                    "load_average": _load(),
                    "reached": reached is not None,
                    "steps": reached["step"] if reached else None,
                    "seconds": reached["wall_seconds"] if reached else None,
                    "eval_eps0": evals[0.0],
                    "eval_eps005": evals[0.05],
                }
            )
            if not args.json:
                print(json.dumps(runs[-1]))
    done = [r for r in runs if r["reached"]]
    lab_seconds = LAB_STEPS_TO_GOAL / lab_rate
    report = {
        "preset": args.preset,
        "algo": config.algo,
        "network": config.network,
        "runs": runs,
        "reached": f"{len(done)}/{len(runs)}",
        "median_steps": statistics.median([r["steps"] for r in done]) if done else None,
        "median_seconds": statistics.median([r["seconds"] for r in done]) if done else None,
        "lab_steps_per_second": lab_rate,
        "lab_seconds_to_goal_estimate": lab_seconds,
        "mean_eval_eps0": statistics.mean(r["eval_eps0"] for r in runs),
        "mean_eval_eps005": statistics.mean(r["eval_eps005"] for r in runs),
    }
    if done:
        report["speedup_vs_lab_time"] = lab_seconds / report["median_seconds"]
        report["fewer_steps_vs_lab"] = LAB_STEPS_TO_GOAL / report["median_steps"]
    if sb3 is not None:
        report["sb3"] = finish_sb3(sb3, args.sb3_log)
        if done:
            report.update(sb3_ratios(report["sb3"], report))
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(
        f"{args.preset} ({config.algo}, {config.network}): goal reached by {report['reached']} "
        f"seeds; median {report['median_steps']} env steps, {report['median_seconds']} s"
    )
    print(
        f"lab preset on this machine: {lab_rate:.0f} env steps/s -> ~{lab_seconds:.0f} s for "
        f"the lab's ~{LAB_STEPS_TO_GOAL:,} steps"
    )
    if done:
        print(
            f"ratio: {report['speedup_vs_lab_time']:.1f}x less wall time, "
            f"{report['fewer_steps_vs_lab']:.1f}x fewer env steps than the lab"
        )
    print(
        f"greedy evaluation over {args.eval_episodes} episodes: epsilon 0: "
        f"{report['mean_eval_eps0']:.2f}, epsilon 0.05: {report['mean_eval_eps005']:.2f} "
        "(random ~2.1, shortest-path planner ~26.3)"
    )
    if sb3 is not None:
        s3 = report["sb3"]
        if s3["reached"]:
            print(f"SB3 (lab DQN): goal at {s3['steps']} env steps after {s3['seconds']:.0f} s")
        else:
            print(
                f"SB3 (lab DQN): not reached within {s3['seconds_run'] / 60:.1f} min at "
                f"{s3['env_steps_run']} env steps (mean of the last 50: {s3['last_mean']:.2f})"
            )
        if "sb3_time_ratio" in report:
            bound = "" if s3["reached"] else ">= "
            print(
                f"ratio vs SB3: {bound}{report['sb3_time_ratio']:.1f}x less wall time, "
                f"{bound}{report['sb3_steps_ratio']:.1f}x fewer env steps"
            )


def start_sb3(args) -> subprocess.Popen:
    """SB3's lab DQN to the goal in a child process, its progress and result in the log."""
    command = [
        sys.executable,
        str(Path(__file__).with_name("bench_dqn_sb3.py")),
        "--goal",
        "--json",
        "--seed",
        str(args.sb3_seed),
        "--max-minutes",
        str(args.sb3_minutes),
        "--torch-threads",
        str(args.torch_threads),
    ]
    with open(args.sb3_log, "w") as log:  # the child keeps its own descriptor
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def finish_sb3(process: subprocess.Popen, log_path: str) -> dict:
    """Wait for the SB3 child; its result is the log's last line (JSON)."""
    if process.wait() != 0:
        raise SystemExit(f"SB3 run failed; see {log_path}")
    return json.loads(Path(log_path).read_text().strip().splitlines()[-1])


def sb3_ratios(sb3: dict, report: dict) -> dict:
    """SB3's time and env steps over qarcade's medians: exact if SB3 reached the goal, else a
    lower bound from its cap."""
    seconds = sb3["seconds"] if sb3["reached"] else sb3["seconds_run"]
    steps = sb3["steps"] if sb3["reached"] else sb3["env_steps_run"]
    return {
        "sb3_time_ratio": seconds / report["median_seconds"],
        "sb3_steps_ratio": steps / report["median_steps"],
        "sb3_ratios_are_lower_bounds": not sb3["reached"],
    }


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
