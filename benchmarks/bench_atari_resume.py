"""What exact resume costs on Ms. Pac-Man: the backends that can checkpoint their games (sync,
async) against ale-py's C++ vector env (ale, the ``atari`` preset's default), same run.

Three figures, each a ratio against ``ale`` measured just before it (best of ``--repeats``
pairs, the least disturbed by other processes):

1. env steps alone: the standard preset at ``--envs`` copies, uniform random actions, agent
   steps per wall-clock second and per CPU second (every thread and worker process);
2. training: the ``atari`` preset (D3QN, Nature CNN) for ``--steps`` env steps, the first third
   uniform warm-up, then one update of batch 32 every 4 env steps, torch on one thread; env
   steps per wall second and per CPU second of this process (sync, ale's threads);
3. the checkpoint: bytes and milliseconds to pickle a sync vector env (what the loop adds to
   each checkpoint), and to unpickle it (what ``--resume`` adds).

    .venv/bin/python benchmarks/bench_atari_resume.py            # about 2 minutes on 2 cores
    .venv/bin/python benchmarks/bench_atari_resume.py --steps 6000 --json
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import tempfile
import time

import numpy as np
from bench_atari import vector_rates  # benchmarks/bench_atari.py

from qarcade.dqn.config import build_config
from qarcade.dqn.train import train
from qarcade.envs.atari import make_atari_vector_env


def training_rates(backend: str, envs: int, steps: int) -> tuple[float, float]:
    """(env steps per wall second, per CPU second) of a short ``atari`` preset run."""
    config = build_config(
        "atari",
        "d3qn",
        {
            "num_envs": envs,
            "atari_backend": backend,
            "buffer_size": steps,
            "warmup_steps": steps // 3,
            "max_steps": steps,
            "final_eval_episodes": 0,
            "eval_every_steps": 10 * steps,
            "checkpoint_every_steps": 10 * steps,
            "video": False,
            "torch_threads": 1,
        },
    )
    with tempfile.TemporaryDirectory() as folder:
        start, start_cpu = time.perf_counter(), time.process_time()
        train(config, os.path.join(folder, "run"), progress=False, log=lambda *args: None)
        return steps / (time.perf_counter() - start), steps / (time.process_time() - start_cpu)


def checkpoint_cost(envs: int) -> dict:
    vector = make_atari_vector_env("mspacman", "standard", envs, seed=0, backend="sync")
    for row in np.random.default_rng(0).integers(9, size=(100, envs)):
        vector.step(row)
    start = time.perf_counter()
    state = pickle.dumps(vector)
    save_ms = 1000 * (time.perf_counter() - start)
    start = time.perf_counter()
    restored = pickle.loads(state)
    load_ms = 1000 * (time.perf_counter() - start)
    vector.close()
    restored.close()
    return {"bytes": len(state), "save_ms": round(save_ms, 1), "load_ms": round(load_ms, 1)}


def best_ratios(measure, repeats: int) -> dict:
    """Pairs of (ale, other) measured back to back; the best of each side counts."""
    pairs = [(measure("ale"), measure("other")) for _ in range(repeats)]
    ale, other = ([pair[i] for pair in pairs] for i in (0, 1))
    best_ale = [max(rates[i] for rates in ale) for i in (0, 1)]
    best_other = [max(rates[i] for rates in other) for i in (0, 1)]
    return {
        "steps_per_s": round(best_other[0], 1),
        "ale_steps_per_s": round(best_ale[0], 1),
        "ratio": round(best_other[0] / best_ale[0], 2),
        "steps_per_cpu_s": round(best_other[1], 1),
        "ale_steps_per_cpu_s": round(best_ale[1], 1),
        "cpu_ratio": round(best_other[1] / best_ale[1], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--envs", type=int, default=8, help="env copies (the atari preset's 8)")
    parser.add_argument("--seconds", type=float, default=0.5, help="measured time per env figure")
    parser.add_argument("--steps", type=int, default=1500, help="env steps per training run")
    parser.add_argument("--repeats", type=int, default=2, help="pairs per figure, best counts")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    load_before, rows = os.getloadavg()[0], []
    for backend in ("sync", "async"):

        def env_rates(which, backend=backend):
            chosen = "ale" if which == "ale" else backend
            return vector_rates("standard", chosen, args.envs, args.seconds)

        rows.append(
            {"figure": "env steps", "backend": backend, **best_ratios(env_rates, args.repeats)}
        )

    def train_rates(which):
        return training_rates("ale" if which == "ale" else "sync", args.envs, args.steps)

    rows.append({"figure": "training", "backend": "sync", **best_ratios(train_rates, args.repeats)})
    checkpoint = checkpoint_cost(args.envs)
    load_after = os.getloadavg()[0]

    if args.json:
        report = {"cpus": os.cpu_count(), "load_average_1min": [load_before, load_after]}
        print(json.dumps(report | {"envs": args.envs, "rows": rows, "checkpoint": checkpoint}))
        return
    print(f"Ms. Pac-Man, standard preprocessing, {args.envs} copies, on {os.cpu_count()} CPUs;")
    print("baseline: backend ale, measured just before each figure")
    print(f"load average (1 min) before/after: {load_before:.1f}/{load_after:.1f}")
    print(f"{'figure':<10} {'backend':<7} {'steps/s':>8} {'ale':>6} {'ratio':>6}", end="")
    print(f" {'per CPU-s':>9} {'ale':>6} {'ratio':>6}")
    for r in rows:
        print(
            f"{r['figure']:<10} {r['backend']:<7} {r['steps_per_s']:>8.0f}"
            f" {r['ale_steps_per_s']:>6.0f} {r['ratio']:>5.2f}x {r['steps_per_cpu_s']:>9.0f}"
            f" {r['ale_steps_per_cpu_s']:>6.0f} {r['cpu_ratio']:>5.2f}x"
        )
    print(
        f"checkpoint of the sync env: {checkpoint['bytes']:,} bytes, pickled in "
        f"{checkpoint['save_ms']:.0f} ms, unpickled (rebuilt and restored) in "
        f"{checkpoint['load_ms']:.0f} ms"
    )


if __name__ == "__main__":
    main()
