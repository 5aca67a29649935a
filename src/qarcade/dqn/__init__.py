"""The DQN family: DQN, Double DQN, Dueling DQN and D3QN, one training loop with two flags.

Library entry points: ``DQNConfig`` and ``preset`` (the hyperparameters),
``qarcade.dqn.train.train`` (the loop, writing a run directory) and
``qarcade.dqn.evaluate.evaluate_run`` (greedy play of a trained run).
"""

# OpenMP's wait policy is left to the user (OMP_WAIT_POLICY): until 2026-11-26 this package set
# PASSIVE (idle threads sleep), which made lab-CNN updates 1.5x slower on an idle 2-core CPU and
# 4-7x slower beside busy processes (benchmarks/bench_omp_wait.py).
from qarcade.dqn.config import ALGOS, PRESETS, DQNConfig, build_config, preset, with_algo

# The loop is ``qarcade.dqn.train.train``; it is not imported here because it loads torch,
# and the CLI reads the config (for --help) without it.
__all__ = ["ALGOS", "PRESETS", "DQNConfig", "build_config", "preset", "with_algo"]
