"""The DQN family: DQN, Double DQN, Dueling DQN and D3QN, one training loop with two flags.

Library entry points: ``DQNConfig`` and ``preset`` (the hyperparameters),
``qarcade.dqn.train.train`` (the loop, writing a run directory) and
``qarcade.dqn.evaluate.evaluate_run`` (greedy play of a trained run).
"""

from qarcade.dqn.config import ALGOS, PRESETS, DQNConfig, build_config, preset, with_algo

# The loop is ``qarcade.dqn.train.train``; it is not imported here because it loads torch,
# and the CLI reads the config (for --help) without it.
__all__ = ["ALGOS", "PRESETS", "DQNConfig", "build_config", "preset", "with_algo"]
