"""Ms. Pac-Man env throughput: agent steps per second, as a ratio against one env in the same run.

The baseline is one ``make_atari_env`` (standard preprocessing: AtariPreprocessing's skip of 4
with max-pool, 84x84 grey, stack of 4, training wrappers). Against it: the lab preset's single
env, and the vector env at 2, 4, 8, 16 copies on each backend: ale-py's AtariVectorEnv (C++
threads, what ``make_atari_vector_env`` picks for the standard preset), Gymnasium's
AsyncVectorEnv (one process per copy, what the lab preset gets) and, for the lab preset,
SyncVectorEnv (all copies in this process). A vector step of N copies counts N agent steps
(4N emulator frames for the standard preset). Actions are uniform random, drawn before the
clock starts. Each figure runs for ``--seconds`` and is divided by a
baseline measured just before it; the best of ``--repeats`` such pairs counts. Two figures:
steps per wall-clock second (what a loop gets, and what other processes on a shared machine
take away) and steps per CPU second, counting every thread and worker process (the cost of a
step, which the machine's load barely moves). Usage:

    .venv/bin/python benchmarks/bench_atari.py             # 1.5 to 3 minutes, by the load
    .venv/bin/python benchmarks/bench_atari.py --seconds 2 --json   # steadier, about 5 min
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from qarcade.envs.atari import make_atari_env, make_atari_vector_env

COPIES = (2, 4, 8, 16)


def children_cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds of running processes, from /proc (Linux)."""
    total_ticks = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total_ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return total_ticks / os.sysconf("SC_CLK_TCK")


def cpu_s(envs=None) -> float:
    """CPU seconds of this process (all its threads: ale-py's too) and of async env workers."""
    workers = getattr(getattr(envs, "unwrapped", None), "processes", [])
    return time.process_time() + children_cpu_s([worker.pid for worker in workers])


def single_rates(preprocessing: str, seconds: float) -> tuple[float, float]:
    """(agent steps per wall second, agent steps per CPU second) of one env."""
    env = make_atari_env("mspacman", preprocessing, seed=0, for_training=True)
    actions = np.random.default_rng(0).integers(env.action_space.n, size=100_000)
    steps, start, start_cpu = 0, time.perf_counter(), cpu_s()
    while time.perf_counter() - start < seconds:
        for action in actions[steps % 90_000 : steps % 90_000 + 500]:
            _, _, terminated, truncated, _ = env.step(int(action))
            if terminated or truncated:
                env.reset()
        steps += 500
    rates = steps / (time.perf_counter() - start), steps / (cpu_s() - start_cpu)
    env.close()
    return rates


def vector_rates(preprocessing: str, backend: str, copies: int, seconds: float):
    """(agent steps per wall second, agent steps per CPU second) of a vector env."""
    envs = make_atari_vector_env(
        "mspacman", preprocessing, copies, seed=0, for_training=True, backend=backend
    )
    actions = np.random.default_rng(0).integers(9, size=(1000, copies))  # (calls, copies)
    envs.step(actions[0])  # warm-up: thread pools and processes up
    calls, start, start_cpu = 0, time.perf_counter(), cpu_s(envs)
    while time.perf_counter() - start < seconds:
        for row in actions[:50]:
            envs.step(row)  # next-step autoreset: no reset calls needed
        calls += 50
    steps = calls * copies
    rates = steps / (time.perf_counter() - start), steps / (cpu_s(envs) - start_cpu)
    envs.close()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="measured time per figure")
    parser.add_argument(
        "--repeats", type=int, default=2, help="pairs measured per figure; the best one counts"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    # Each figure is paired with a fresh baseline measured just before it, so that the load of
    # a shared machine drifting during the run moves both sides of a ratio alike; of --repeats
    # such pairs, the fastest of each side counts (the least disturbed by other processes).
    configs = [("single", "lab", 1)]
    backends = [("ale", "standard"), ("async", "standard"), ("async", "lab"), ("sync", "lab")]
    for backend, preprocessing in backends:
        configs += [(backend, preprocessing, copies) for copies in COPIES]
    rows, load_before = [], os.getloadavg()[0]
    for env, preprocessing, copies in configs:
        baselines, figures = [], []
        for _ in range(args.repeats):
            baselines.append(single_rates("standard", args.seconds))
            if env == "single":
                figures.append(single_rates(preprocessing, args.seconds))
            else:
                figures.append(vector_rates(preprocessing, env, copies, args.seconds))
        wall, cpu = (max(f[i] for f in figures) for i in (0, 1))
        base_wall, base_cpu = (max(b[i] for b in baselines) for i in (0, 1))
        rows.append(
            {
                "env": env,
                "preprocessing": preprocessing,
                "copies": copies,
                "steps_per_s": round(wall, 1),
                "baseline_steps_per_s": round(base_wall, 1),
                "ratio": round(wall / base_wall, 2),
                "steps_per_cpu_s": round(cpu, 1),
                "baseline_steps_per_cpu_s": round(base_cpu, 1),
                "cpu_ratio": round(cpu / base_cpu, 2),
            }
        )
    load_after = os.getloadavg()[0]

    if args.json:
        report = {"cpus": os.cpu_count(), "load_average_1min": [load_before, load_after]}
        print(json.dumps(report | {"rows": rows}))
        return
    print(f"Ms. Pac-Man agent steps on {os.cpu_count()} CPUs, {args.seconds} s per figure;")
    print("baseline: one standard env, measured again just before each figure")
    print(f"load average (1 min) before/after: {load_before:.1f}/{load_after:.1f}")
    header = ("env", "preprocessing", "copies", "steps/s", "base", "ratio", "per CPU-s", "base")
    print("{:<7} {:<13} {:>6} {:>8} {:>6} {:>6} {:>9} {:>6} {:>6}".format(*header, "ratio"))
    for r in rows:
        print(
            f"{r['env']:<7} {r['preprocessing']:<13} {r['copies']:>6} {r['steps_per_s']:>8.0f}"
            f" {r['baseline_steps_per_s']:>6.0f} {r['ratio']:>5.2f}x"
            f" {r['steps_per_cpu_s']:>9.0f} {r['baseline_steps_per_cpu_s']:>6.0f}"
            f" {r['cpu_ratio']:>5.2f}x"
        )


if __name__ == "__main__":
    main()
