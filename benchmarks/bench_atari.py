"""Ms. Pac-Man env throughput: agent steps per second, as a ratio against one env in the same run.

The baseline is one ``make_atari_env`` (standard preprocessing: AtariPreprocessing's skip of 4
with max-pool, 84x84 grey, stack of 4, training wrappers). Against it: the lab preset's single
env, and the vector env at 2, 4, 8, 16 copies on each backend: ale-py's AtariVectorEnv (C++
threads, what ``make_atari_vector_env`` picks for the standard preset), Gymnasium's
AsyncVectorEnv (one process per copy, what the lab preset gets). A vector step of N copies
counts N agent steps (4N emulator frames for the standard preset). Actions are uniform random,
drawn before the clock starts. Each figure runs for ``--seconds`` and is divided by a
baseline measured just before it; the best of ``--repeats`` such pairs counts. Usage:

    .venv/bin/python benchmarks/bench_atari.py             # about 70 s
    .venv/bin/python benchmarks/bench_atari.py --seconds 3 --json
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from qarcade.envs.atari import make_atari_env, make_atari_vector_env

COPIES = (2, 4, 8, 16)


def single_steps_per_s(preprocessing: str, seconds: float) -> float:
    env = make_atari_env("mspacman", preprocessing, seed=0, for_training=True)
    actions = np.random.default_rng(0).integers(env.action_space.n, size=100_000)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for action in actions[steps % 90_000 : steps % 90_000 + 500]:
            _, _, terminated, truncated, _ = env.step(int(action))
            if terminated or truncated:
                env.reset()
        steps += 500
    rate = steps / (time.perf_counter() - start)
    env.close()
    return rate


def vector_steps_per_s(preprocessing: str, backend: str, copies: int, seconds: float) -> float:
    envs = make_atari_vector_env(
        "mspacman", preprocessing, copies, seed=0, for_training=True, backend=backend
    )
    actions = np.random.default_rng(0).integers(9, size=(1000, copies))  # (calls, copies)
    envs.step(actions[0])  # warm-up: thread pools and processes up
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for row in actions[:50]:
            envs.step(row)  # next-step autoreset: no reset calls needed
        calls += 50
    rate = calls * copies / (time.perf_counter() - start)
    envs.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="measured time per figure")
    parser.add_argument(
        "--repeats", type=int, default=2, help="pairs measured per figure; the best one counts"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    # Each figure is paired with a fresh baseline measured just before it, so that the load of
    # a shared machine drifting during the run moves both sides of a ratio alike; of --repeats
    # such pairs, the fastest of each side counts (the least disturbed by other processes).
    configs = [("single", "lab", 1)]
    for backend, preprocessing in [("ale", "standard"), ("async", "standard"), ("async", "lab")]:
        configs += [(backend, preprocessing, copies) for copies in COPIES]
    rows, load_before = [], os.getloadavg()[0]
    for env, preprocessing, copies in configs:
        baselines, rates = [], []
        for _ in range(args.repeats):
            baselines.append(single_steps_per_s("standard", args.seconds))
            if env == "single":
                rates.append(single_steps_per_s(preprocessing, args.seconds))
            else:
                rates.append(vector_steps_per_s(preprocessing, env, copies, args.seconds))
        rows.append((env, preprocessing, copies, max(rates), max(baselines)))

    if args.json:
        print(
            json.dumps(
                {
                    "cpus": os.cpu_count(),
                    "load_average_1min": [load_before, os.getloadavg()[0]],
                    "rows": [
                        {
                            "env": env,
                            "preprocessing": prep,
                            "copies": copies,
                            "steps_per_s": round(rate, 1),
                            "baseline_steps_per_s": round(baseline, 1),
                            "ratio": round(rate / baseline, 2),
                        }
                        for env, prep, copies, rate, baseline in rows
                    ],
                }
            )
        )
        return
    print(f"Ms. Pac-Man agent steps/s on {os.cpu_count()} CPUs, {args.seconds} s per figure;")
    print("baseline: one standard env, measured again just before each figure")
    print(f"load average (1 min) before/after: {load_before:.1f}/{os.getloadavg()[0]:.1f}")
    header = ("env", "preprocessing", "copies", "steps/s", "baseline", "ratio")
    print("{:<8} {:<14} {:>6} {:>9} {:>9} {:>7}".format(*header))
    for env, prep, copies, rate, baseline in rows:
        ratio = f"{rate / baseline:.2f}x"
        print(f"{env:<8} {prep:<14} {copies:>6} {rate:>9.0f} {baseline:>9.0f} {ratio:>7}")


if __name__ == "__main__":
    main()
