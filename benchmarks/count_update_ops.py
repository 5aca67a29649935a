"""How many torch ops one eager gradient update dispatches, by op: the launches a GPU pays for
one by one without the CUDA graph (on a GPU each becomes one or more kernels). Runs on the CPU;
compare two commits with a worktree:

    .venv/bin/python benchmarks/count_update_ops.py [--preset atari] [--algo d3qn]
    git worktree add /tmp/old REV && (cd /tmp/old && PYTHONPATH=src \\
        /work/main/.venv/bin/python benchmarks/count_update_ops.py)
"""

from __future__ import annotations

import argparse
import collections

import gymnasium as gym
import numpy as np
import torch
from bench_gpu_update import filled_replay
from torch.utils._python_dispatch import TorchDispatchMode

import qarcade.dqn  # noqa: F401
from qarcade.dqn.config import build_config
from qarcade.dqn.learner import Learner
from qarcade.dqn.networks import network_for


class CountOps(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.counts: collections.Counter[str] = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.counts[str(func.overloadpacket)] += 1
        return func(*args, **(kwargs or {}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="atari")
    parser.add_argument("--algo", default="d3qn")
    args = parser.parse_args()
    config = build_config(args.preset, args.algo, {"device": "cpu", "cuda_graph": False})
    frame = (84, 84, 1) if config.env == "mspacman" else (84, 84, 3)
    network = network_for(config, gym.spaces.Box(0, 255, frame, np.uint8), gym.spaces.Discrete(9))
    learner = Learner.for_config(network, config, torch.device("cpu"))
    rng = np.random.default_rng(0)
    replay = filled_replay(config, 2000, frame, rng)
    for _ in range(3):  # Adam's state and autocast's caches exist after the first updates
        learner.update(replay.sample(config.batch_size, rng))
    with CountOps() as mode:
        learner.update(replay.sample(config.batch_size, rng))
    print(f"{args.preset} {args.algo}: {sum(mode.counts.values())} ops in one eager update")
    for name, count in sorted(mode.counts.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {count:4d}  {name}")


if __name__ == "__main__":
    main()
