"""Environment factories for the training loop, keyed by the config's ``env`` name: the
gridworld's, one for every Atari game and one for every other Gymnasium env (``env_factory``
resolves a name through ``qarcade.envs.resolve``).

A factory builds the vector env the loop collects from (Gymnasium's vector API, next-step
autoreset, one frame per observation: the replay stacks frames itself), a single env with
``render_mode="rgb_array"`` for videos, and optionally a frame codec: an exact, smaller code of
the frames that the replay stores instead (the gridworld's 7x7x3 grid for its 84x84x3 frame).

An Atari game (``mspacman``, ``breakout``, ...) comes from ``qarcade.envs.atari`` with
``frame_stack=1``: the replay stacks. Its training envs clip rewards and flag lost lives
(``info["life_loss"]``), its evaluation envs (``make_eval_vector``) return the raw score; every
frame gets a channel axis, (84, 84, 1) uint8 or the lab's (88, 80, 1) int8, as the CNNs expect
(H, W, C). A Gymnasium env is made by ``gymnasium.make_vec`` (its own vector env where it has
one); its spaces are checked first (``qarcade.envs.resolve.check_spaces``). The loop's checkpoint
holds the training env's state as plain values (``qarcade.envs.snapshot``): the gridworld's,
and Ms. Pac-Man's on the ``sync`` and ``async`` backends, resume step for step; ale-py's own
(``ale``) cannot be read, and the loop restarts its games on resume.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.wrappers.vector import RecordEpisodeStatistics

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
    # evaluation envs when they differ from training ones (Atari: raw rewards); else make_vector
    make_eval_vector: Callable[[DQNConfig, int], gym.vector.VectorEnv] | None = None
    frames_per_step: Callable[[DQNConfig], float] | None = None  # emulator frames per env step
    # (sources, actions) of the symmetries the game plays the same under, on the stored
    # picture's cells (``ReplayBuffer``'s ``symmetries``), for ``augment``
    symmetries: Callable[[DQNConfig], tuple[np.ndarray, np.ndarray]] | None = None


def _gridworld_obs_type(config: DQNConfig) -> str:
    """grid where the network reads the grid the frame is scaled from (``grid_input_px``)."""
    from qarcade.dqn.networks import grid_input_px

    return "pixels" if grid_input_px(config) is None else "grid"


def _gridworld_vector(config: DQNConfig, num_envs: int) -> gym.vector.VectorEnv:
    return gym.make_vec(
        "qarcade/GridWorld-v0",
        num_envs=num_envs,
        size=config.grid_size,
        partial=config.partial,
        max_episode_steps=config.max_episode_steps,
        obs_type=_gridworld_obs_type(config),
    )


def _gridworld_single(config: DQNConfig) -> gym.Env:
    return gym.make(
        "qarcade/GridWorld-v0",
        size=config.grid_size,
        partial=config.partial,
        max_episode_steps=config.max_episode_steps,
        render_mode="rgb_array",
        obs_type=_gridworld_obs_type(config),
    )


def _gridworld_codec(config: DQNConfig) -> FrameCodec | None:
    """The gridworld's frame is its H x H x 3 grid scaled up by nearest neighbour (H = size + 2,
    or 3 for the partial view): keep one pixel per cell, scale up again to decode. None where
    the env already gives the grid."""
    from qarcade.envs.gridworld import FRAME_PX, PARTIAL_CELLS, upscale

    if _gridworld_obs_type(config) == "grid":
        return None

    cells = PARTIAL_CELLS if config.partial else config.grid_size + 2
    first_pixel = -(-np.arange(cells) * FRAME_PX // cells)  # ceil(c * 84 / H): shows cell c

    def encode(frames: np.ndarray) -> np.ndarray:
        return frames[:, first_pixel][:, :, first_pixel]  # (N, H, H, 3)

    return FrameCodec(encode, upscale, (cells, cells, 3), f"{cells}x{cells}x3 grids")


def _gridworld_symmetries(config: DQNConfig) -> tuple[np.ndarray, np.ndarray]:
    """The square's symmetries on the picture the replay stores: the grid (the env's grid
    observation, or the codec's code), else the 84x84 frame, whose cells are whole blocks of
    pixels, so that turning its pixels turns its cells."""
    from qarcade.envs.gridworld import FRAME_PX, PARTIAL_CELLS, symmetries

    if _gridworld_obs_type(config) == "pixels" and not config.compact_replay:
        return symmetries(FRAME_PX)
    return symmetries(PARTIAL_CELLS if config.partial else config.grid_size + 2)


def _atari_options(config: DQNConfig) -> dict:
    # One frame per observation (the replay stacks); a game is cut after max_episode_steps
    # agent steps of 4 emulator frames (27,000 -> 108k frames).
    return {"frame_stack": 1, "max_frames_per_episode": 4 * config.max_episode_steps}


def _channel_last(shape: tuple[int, ...]) -> tuple[int, ...]:
    return shape if len(shape) == 3 else (*shape, 1)  # (84, 84) grey -> (84, 84, 1)


class _AddChannel(gym.vector.VectorObservationWrapper):
    """(N, H, W) grey frames -> (N, H, W, 1), a view (picklable, unlike a lambda)."""

    state_fields = ()  # nothing changes as it runs (``qarcade.envs.snapshot``)

    def __init__(self, envs: gym.vector.VectorEnv):
        super().__init__(envs)
        single = envs.single_observation_space
        self.single_observation_space = gym.spaces.Box(
            single.low[..., None], single.high[..., None], dtype=single.dtype
        )
        self.observation_space = gym.vector.utils.batch_space(
            self.single_observation_space, self.num_envs
        )

    def observations(self, observations: np.ndarray) -> np.ndarray:
        return observations[..., None]


def _atari_vector(
    config: DQNConfig, num_envs: int, for_training: bool = True
) -> gym.vector.VectorEnv:
    from qarcade.envs.atari import make_atari_vector_env

    backend = config.atari_backend
    if not for_training and backend == "auto" and config.atari_preprocessing == "lab":
        backend = "sync"  # up to 32 evaluation copies: no process per copy
    envs = make_atari_vector_env(
        config.env,
        config.atari_preprocessing,
        num_envs=num_envs,
        for_training=for_training,
        backend=backend,
        **_atari_options(config),
    )
    if len(envs.single_observation_space.shape) == 2:
        envs = _AddChannel(envs)
    return envs


def _atari_eval_vector(config: DQNConfig, num_envs: int) -> gym.vector.VectorEnv:
    return _atari_vector(config, num_envs, for_training=False)


def _atari_single(config: DQNConfig) -> gym.Env:
    from gymnasium.wrappers import ReshapeObservation

    from qarcade.envs.atari import make_atari_env

    env = make_atari_env(
        config.env,
        config.atari_preprocessing,
        for_training=False,
        render_mode="rgb_array",
        **_atari_options(config),
    )
    shape = env.observation_space.shape
    return env if _channel_last(shape) == shape else ReshapeObservation(env, _channel_last(shape))


def _atari_frames_per_step(config: DQNConfig) -> float:
    return 4.0 if config.atari_preprocessing == "standard" else 3.0  # lab: 2..4, mean 3


ATARI_FACTORY = EnvFactory(
    _atari_vector,
    _atari_single,
    make_eval_vector=_atari_eval_vector,
    frames_per_step=_atari_frames_per_step,
)


def _gym_limit(config: DQNConfig) -> dict:
    # 0: the env's own limit (its spec's max_episode_steps, CartPole-v1's 500)
    return {"max_episode_steps": config.max_episode_steps} if config.max_episode_steps else {}


def _gym_vector(config: DQNConfig, num_envs: int) -> gym.vector.VectorEnv:
    """Gymnasium's own vector env: the env's vector entry point where it has one that resets
    the way the replay needs (CartPole's steps all copies in numpy), else its copies in turn."""
    from qarcade.envs.resolve import gym_env_info, resolve_env

    info = gym_env_info(config.env)  # a UserError where DQN cannot learn it
    ref = resolve_env(config.env)
    gym_id, envs = ref.gym_id, None
    if ref.spec.vector_entry_point is not None:
        envs = gym.make_vec(
            gym_id, num_envs, vectorization_mode="vector_entry_point", **_gym_limit(config)
        )
        mode = envs.metadata.get("autoreset_mode")
        if mode is None or AutoresetMode(mode) != AutoresetMode.NEXT_STEP:
            envs.close()
            envs = None
    if envs is None:
        envs = gym.make_vec(
            gym_id,
            num_envs,
            vectorization_mode="sync",
            vector_kwargs={"autoreset_mode": AutoresetMode.NEXT_STEP},
            **_gym_limit(config),
        )
    if info["observations"] == "image" and len(envs.single_observation_space.shape) == 2:
        envs = _AddChannel(envs)
    return envs


def _gym_single(config: DQNConfig) -> gym.Env:
    from gymnasium.wrappers import ReshapeObservation

    from qarcade.envs.resolve import gym_env_info, resolve_env

    modes = gym_env_info(config.env)["render_modes"]
    if "rgb_array" not in modes:
        raise UserError(
            f"{config.env} does not render rgb_array frames (its render modes: "
            f"{', '.join(modes) or 'none'}); no video"
        )
    # rgb_array frames need no window or sound: pygame (classic control, Box2D) would otherwise
    # look for both and print an error line where there are none
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    env = gym.make(resolve_env(config.env).gym_id, render_mode="rgb_array", **_gym_limit(config))
    shape = env.observation_space.shape
    if len(shape) == 2 and env.observation_space.dtype == np.uint8:
        env = ReshapeObservation(env, _channel_last(shape))
    return env


GYM_FACTORY = EnvFactory(_gym_vector, _gym_single)

# Factories by name, ahead of the families (``register_env_factory`` adds one by hand).
ENV_FACTORIES: dict[str, EnvFactory] = {
    "gridworld": EnvFactory(
        _gridworld_vector, _gridworld_single, _gridworld_codec, symmetries=_gridworld_symmetries
    ),
}


def frame_codec(config: DQNConfig) -> FrameCodec | None:
    """The env's frame codec when it has one and the config asks for a compact replay."""
    factory = env_factory(config.env)
    if not config.compact_replay or factory.frame_codec is None:
        return None
    return factory.frame_codec(config)


def replay_symmetries(config: DQNConfig) -> tuple[np.ndarray, np.ndarray] | None:
    """The symmetries the replay turns its batches by: the env's, when ``augment`` is on."""
    factory = env_factory(config.env)
    if not config.augment or factory.symmetries is None:
        return None
    return factory.symmetries(config)


def register_env_factory(name: str, factory: EnvFactory) -> None:
    ENV_FACTORIES[name] = factory


def env_factory(name: str) -> EnvFactory:
    """The factory of ``name``: one registered by hand, else its family's (an Atari game's, a
    Gymnasium env's); a ``UserError`` naming the closest ids where the name means no env."""
    from qarcade.envs.resolve import resolve_env

    if name in ENV_FACTORIES:
        return ENV_FACTORIES[name]
    return ATARI_FACTORY if resolve_env(name).family == "atari" else GYM_FACTORY


def make_vector(config: DQNConfig, num_envs: int, evaluation: bool = False) -> gym.vector.VectorEnv:
    """The factory's vector env, checked to autoreset in next-step mode (the replay needs it).

    ``evaluation``: the factory's evaluation env where it has one (Atari: raw rewards). A
    training env reports each finished episode's return and length in ``info["episode"]``.
    """
    factory = env_factory(config.env)
    make = (evaluation and factory.make_eval_vector) or factory.make_vector
    envs = make(config, num_envs)
    mode = envs.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
    if AutoresetMode(mode) != AutoresetMode.NEXT_STEP:
        raise ValueError(f"{config.env} vector env autoresets in {mode}; the replay needs NextStep")
    return envs if evaluation else with_episode_statistics(envs)


def with_episode_statistics(envs: gym.vector.VectorEnv) -> gym.vector.VectorEnv:
    """``envs`` reporting ``info["episode"]`` ({"r", "l"}, with the mask ``info["_episode"]``)
    for the episodes a step ends: Gymnasium's ``RecordEpisodeStatistics``, added where no such
    wrapper already sits (Atari's records the raw score, under its reward clipping)."""
    env = envs
    while isinstance(env, gym.vector.VectorWrapper):
        if isinstance(env, RecordEpisodeStatistics):
            return envs
        env = env.env
    return RecordEpisodeStatistics(envs)
