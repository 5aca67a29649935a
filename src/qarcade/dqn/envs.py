"""Environment factories for the training loop, keyed by the config's ``env`` name.

A factory builds the vector env the loop collects from (Gymnasium's vector API, next-step
autoreset, one frame per observation: the replay stacks frames itself), a single env with
``render_mode="rgb_array"`` for videos, and optionally a frame codec: an exact, smaller code of
the frames that the replay stores instead (the gridworld's 7x7x3 grid for its 84x84x3 frame).
Atari plugs in with ``register_env_factory("atari", EnvFactory(...))``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

from qarcade.dqn.config import DQNConfig
from qarcade.errors import UserError


@dataclass(frozen=True)
class FrameCodec:
    """An exact, smaller code of an env's frames, for the replay to store instead of pixels.

    ``encode``: frames (N, *frame) -> codes (N, *code); ``decode``: codes (M, *code) -> frames.
    ``decode(encode(f)) == f`` for every frame the env can show.
    """

    encode: Callable[[np.ndarray], np.ndarray]
    decode: Callable[[np.ndarray], np.ndarray]
    code_shape: tuple[int, ...]
    name: str


@dataclass(frozen=True)
class EnvFactory:
    make_vector: Callable[[DQNConfig, int], gym.vector.VectorEnv]
    make_single: Callable[[DQNConfig], gym.Env]  # rendered, for videos
    frame_codec: Callable[[DQNConfig], FrameCodec] | None = None


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


def _gridworld_codec(config: DQNConfig) -> FrameCodec:
    """The gridworld's frame is its H x H x 3 grid scaled up by nearest neighbour (H = size + 2,
    or 3 for the partial view): keep one pixel per cell, scale up again to decode."""
    from qarcade.envs.gridworld import FRAME_PX, PARTIAL_CELLS, upscale

    cells = PARTIAL_CELLS if config.partial else config.grid_size + 2
    first_pixel = -(-np.arange(cells) * FRAME_PX // cells)  # ceil(c * 84 / H): shows cell c

    def encode(frames: np.ndarray) -> np.ndarray:
        return frames[:, first_pixel][:, :, first_pixel]  # (N, H, H, 3)

    return FrameCodec(encode, upscale, (cells, cells, 3), f"{cells}x{cells}x3 grids")


ENV_FACTORIES: dict[str, EnvFactory] = {
    "gridworld": EnvFactory(_gridworld_vector, _gridworld_single, _gridworld_codec),
}


def frame_codec(config: DQNConfig) -> FrameCodec | None:
    """The env's frame codec when it has one and the config asks for a compact replay."""
    factory = env_factory(config.env)
    if not config.compact_replay or factory.frame_codec is None:
        return None
    return factory.frame_codec(config)


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
