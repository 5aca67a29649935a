"""The DQN family: DQN, Double DQN, Dueling DQN and D3QN, one training loop with two flags.

Library entry points: ``DQNConfig`` and ``preset`` (the hyperparameters), ``train`` (the loop,
writing a run directory) and ``evaluate_run`` (greedy play of a trained run).
"""

from qarcade.dqn.config import ALGOS, PRESETS, DQNConfig, preset, with_algo
from qarcade.dqn.train import train

__all__ = ["ALGOS", "PRESETS", "DQNConfig", "preset", "train", "with_algo"]
