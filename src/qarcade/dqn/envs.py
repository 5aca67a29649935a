"""Environment factories for the training loop, keyed by the config's ``env`` name.

A factory builds the vector env the loop collects from (Gymnasium's vector API, next-step
autoreset, one frame per observation: the replay stacks frames itself) and a single env with
``render_mode="rgb_array"`` for videos. Atari plugs in with ``register_env_factory("atari", ...)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
from gymnasium.vector import AutoresetMode

from qarcade.dqn.config import DQNConfig
from qarcade.errors import UserError


@dataclass(frozen=True)
class EnvFactory:
    make_vector: Callable[[DQNConfig, int], gym.vector.VectorEnv]
    make_single: Callable[[DQNConfig], gym.Env]  # rendered, for videos


def _gridworld_vector(config: DQNConfig, num_envs: int) -> gym.vector.VectorEnv:
    return gym.make_vec(
        "qarcade/GridWorld-v0",
        num_envs=num_envs,
        size=config.grid_size,
        partial=config.partial,
        max_episode_steps=config.max_episode_steps,
    )


def _gridworld_single(config: DQNConfig) -> gym.Env:
    return gym.make(
        "qarcade/GridWorld-v0",
        size=config.grid_size,
        partial=config.partial,
        max_episode_steps=config.max_episode_steps,
        render_mode="rgb_array",
    )


ENV_FACTORIES: dict[str, EnvFactory] = {
    "gridworld": EnvFactory(_gridworld_vector, _gridworld_single),
}


def register_env_factory(name: str, factory: EnvFactory) -> None:
    ENV_FACTORIES[name] = factory


def env_factory(name: str) -> EnvFactory:
    if name not in ENV_FACTORIES:
        raise UserError(f"unknown env {name!r}; choose one of {', '.join(sorted(ENV_FACTORIES))}")
    return ENV_FACTORIES[name]


def make_vector(config: DQNConfig, num_envs: int) -> gym.vector.VectorEnv:
    """The factory's vector env, checked to autoreset in next-step mode (the replay needs it)."""
    envs = env_factory(config.env).make_vector(config, num_envs)
    mode = envs.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
    if AutoresetMode(mode) != AutoresetMode.NEXT_STEP:
        raise ValueError(f"{config.env} vector env autoresets in {mode}; the replay needs NextStep")
    return envs
