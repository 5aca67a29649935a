"""Stepping ahead on Ms. Pac-Man: the loop with and without ``send_ahead``, interleaved.

The ``atari`` preset's DQN (4 envs on ale-py's C++ vector env, 1,000 uniform warm-up steps, then
one update of batch 32 every 4 env steps) trains ``--steps`` env steps twice per repeat: once
as it runs (each step's actions handed to ale-py's threads before the updates, collected after
them) and once with ``SendAhead.send`` replaced by a no-op (the envs step after the updates). Both
give the same numbers; prints each run's loop wall time and process CPU time, and the ratio of
the best of each.

    .venv/bin/python benchmarks/bench_send_ahead.py --threads 2     # ~1 minute
    .venv/bin/python benchmarks/bench_send_ahead.py --threads 1     # a core left for ale-py
"""

from __future__ import annotations

import argparse
import tempfile
import time

from qarcade.dqn.config import build_config
from qarcade.dqn.train import train
from qarcade.envs.vector import SendAhead


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3_000, help="env steps, warm-up included")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved pairs")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = cores)")
    args = parser.parse_args()
    config = build_config(
        "atari",
        "dqn",
        {
            "num_envs": 4,
            "n_step": 1,
            "buffer_size": 20_000,
            "warmup_steps": 1_000,
            "epsilon_decay_steps": args.steps - 1_000,
            "max_steps": args.steps,
            "eval_every_steps": 0,
            "final_eval_episodes": 0,
            "checkpoint_every_steps": 0,
            "video": False,
            "torch_threads": args.threads,
        },
    )
    send = SendAhead.send
    walls = {True: [], False: []}
    for _ in range(args.repeats):
        for ahead in (False, True):
            # without: nothing is sent, so the next step() steps the envs then
            SendAhead.send = send if ahead else (lambda self, actions: None)
            with tempfile.TemporaryDirectory() as run_dir:
                cpu = time.process_time()
                summary = train(config, run_dir, progress=False, log=lambda *a: None)
                cpu = time.process_time() - cpu
            walls[ahead].append(summary["wall_seconds"])
            print(f"send ahead {ahead!s:5}: loop {summary['wall_seconds']:.1f} s, CPU {cpu:.1f} s")
    SendAhead.send = send
    ratio = min(walls[False]) / min(walls[True])
    print(f"stepping ahead, best loop time: {ratio:.2f}x ({args.threads or 'all'} torch threads)")


if __name__ == "__main__":
    main()
