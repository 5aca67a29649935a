"""Ms. Pac-Man on the Arcade Learning Environment: single and vector envs, every backend.

What the agent sees (the games, the ``lab`` and ``standard`` presets, their preprocessing and the
learning-only wrappers) is in ``qarcade.envs.atari_preprocessing``, whose public names are
re-exported here; snapshots and resume are in ``qarcade.envs.atari_state``. The preprocessing
figure and playing by hand, built on these envs, are in ``qarcade.envs.atari_play``.

Contract for a training loop (the same for single and vector envs, every backend):

- ``terminated`` / ``truncated`` are the game's own: an episode is a whole game (all lives).
- ``info["episode"]`` (Gymnasium's ``RecordEpisodeStatistics``, recorded *before* reward
  clipping) gives the raw score ``"r"`` and the length ``"l"`` in agent steps of each finished
  game; a vector env adds the mask ``info["_episode"]``.
- a training env whose preset clips rewards returns ``sign(reward)``; an evaluation env
  (``for_training=False``) returns the raw score.
- a training env whose preset uses life loss adds ``info["life_loss"]`` (bool, one per env):
  True on the step where a life was lost. Cut the bootstrap there (``terminated | life_loss`` in
  the TD target) but keep the frames flowing: the game goes on, so do the stacks.
- frame stacks start with zero frames at reset (``padding_type="zero"``), as ale-py's vector env
  does, so a replay that stores each frame once rebuilds stacks by zero-filling before an
  episode's first frame and gets exactly what the agent saw.
"""

from __future__ import annotations

import functools
from typing import Any

import gymnasium as gym
import numpy as np
from ale_py.vector_env import AtariVectorEnv
from gymnasium.vector import (
    AsyncVectorEnv,
    AutoresetMode,
    SyncVectorEnv,
    VectorEnv,
    VectorWrapper,
)
from gymnasium.wrappers import RecordEpisodeStatistics, TransformReward
from gymnasium.wrappers import vector as vector_wrappers

from qarcade.envs.atari_preprocessing import (  # noqa: F401 - re-exported
    GAMES,
    LAB_FRAME_SHAPE,
    PRESETS,
    STANDARD_SCREEN_SIZE,
    AtariPreset,
    Game,
    LabPreprocessing,
    LifeLossInfo,
    VectorLifeLossInfo,
    apply_preprocessing,
    check_lab_preprocessing,
    clip_to_sign,
    get_game,
    get_preset,
    lab_preprocess,
    lost_life,
)
from qarcade.envs.atari_state import ResumableEnv, ResumableVectorEnv
from qarcade.envs.vector import SendAhead
from qarcade.errors import UserError

# --- single env ---


def make_base_env(game: str | Game, preset: AtariPreset, render_mode: str | None = None) -> gym.Env:
    """The raw ALE env a preset drives: RGB frames, the preset's sticky actions and frame skip.

    For the standard preset the skip happens in ``AtariPreprocessing`` (which max-pools the last
    two frames and so needs every frame): the base env then steps one frame at a time.
    """
    game = get_game(game) if isinstance(game, str) else game
    frameskip = 1 if preset.preprocessing == "standard" else preset.frameskip
    return gym.make(
        game.env_id,
        frameskip=frameskip,
        repeat_action_probability=preset.repeat_action_probability,
        max_num_frames_per_episode=preset.max_frames_per_episode,
        render_mode=render_mode,
        disable_env_checker=True,
    )


def make_atari_env(
    name: str = "mspacman",
    preprocessing: str | AtariPreset = "standard",
    seed: int | None = None,
    for_training: bool = True,
    render_mode: str | None = None,
    **overrides: Any,
) -> gym.Env:
    """One preprocessed Atari env, seeded (already reset once with ``seed``; reset it again freely).

    ``overrides`` replace preset fields (``repeat_action_probability=0.0``, ``noop_max=0``, ...).
    Observations: standard (4, 84, 84) uint8; lab (88, 80, 1) int8. With ``frame_stack=k`` they
    are (k, *frame) for k > 1 and the frame itself for k = 1 (for a replay that stacks frames).
    """
    game = get_game(name)
    preset = get_preset(preprocessing, **overrides)
    env = apply_preprocessing(make_base_env(game, preset, render_mode), game, preset)
    env = RecordEpisodeStatistics(env)  # before clipping: info["episode"]["r"] is the raw score
    if for_training and preset.life_loss:
        env = LifeLossInfo(env)
    if for_training and preset.clip_rewards:
        env = TransformReward(env, clip_to_sign)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    return env


# --- vector env ---

VECTOR_BACKENDS = ("auto", "ale", "async", "sync")


def _make_sub_env(game: Game, preset: AtariPreset) -> gym.Env:
    return ResumableEnv(apply_preprocessing(make_base_env(game, preset), game, preset))


def fold_ale_seed(seed, num_envs: int):
    """A seed ale-py's vector env takes: it seeds copy i with seed + i as a C int, so an int is
    folded into 0 .. 2**31 - 1 - num_envs (any Python or numpy int, such as a 32-bit evaluation
    seed); a sequence of per-copy seeds becomes an int64 array, each folded into 0 .. 2**31 - 1.
    """
    if isinstance(seed, list | tuple | np.ndarray):
        return np.array([int(s) % 2**31 for s in seed], dtype=np.int64)
    return int(seed) % (2**31 - num_envs)


class _AleSeeds(VectorWrapper):
    """Folds the seeds given to ale-py's vector env into the range it takes (``fold_ale_seed``)."""

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            seed = fold_ale_seed(seed, self.num_envs)
        return self.env.reset(seed=seed, options=options)


def _ale_vector_env(
    game: Game, preset: AtariPreset, num_envs: int, autoreset_mode: AutoresetMode
) -> VectorEnv:
    """ale-py's C++ vector env set to match ``make_atari_env``'s standard path frame for frame."""
    envs = AtariVectorEnv(
        game.rom,
        num_envs,
        max_num_frames_per_episode=preset.max_frames_per_episode,
        repeat_action_probability=preset.repeat_action_probability,
        autoreset_mode=autoreset_mode,
        img_height=STANDARD_SCREEN_SIZE,
        img_width=STANDARD_SCREEN_SIZE,
        grayscale=True,
        stack_num=preset.frame_stack,
        frameskip=preset.frameskip,
        maxpool=True,
        noop_max=preset.noop_max,
        episodic_life=False,  # it would restart the whole game on each lost life
        life_loss_info=False,  # flagged by VectorLifeLossInfo instead
        reward_clipping=False,  # clipped after RecordEpisodeStatistics has seen the raw score
    )
    envs = _AleSeeds(SendAhead(envs))
    if preset.frame_stack == 1:  # (N, 1, 84, 84) -> (N, 84, 84), a view, as the single env
        frame = gym.spaces.Box(0, 255, (STANDARD_SCREEN_SIZE,) * 2, np.uint8)
        envs = vector_wrappers.TransformObservation(
            envs, lambda observations: observations[:, 0], single_observation_space=frame
        )
    return envs


def resolve_backend(backend: str, preset: AtariPreset) -> str:
    """'auto' is ale-py's C++ vector env where it can do the preset's preprocessing, else async."""
    if backend not in VECTOR_BACKENDS:
        raise UserError(f"unknown vector backend {backend!r}; known: {', '.join(VECTOR_BACKENDS)}")
    ale_can = preset.preprocessing == "standard" and isinstance(preset.frameskip, int)
    if backend == "auto":
        return "ale" if ale_can else "async"
    if backend == "ale" and not ale_can:
        raise UserError(
            "ale-py's vector env only does the standard preprocessing "
            "(fixed frame skip, 84x84 grey); use backend 'async' or 'sync'"
        )
    return backend


def make_atari_vector_env(
    name: str = "mspacman",
    preprocessing: str | AtariPreset = "standard",
    num_envs: int = 8,
    seed: int | None = None,
    for_training: bool = True,
    backend: str = "auto",
    autoreset_mode: AutoresetMode = AutoresetMode.NEXT_STEP,
    **overrides: Any,
) -> VectorEnv:
    """``num_envs`` copies of ``make_atari_env``'s env as one vector env (copy i seeded seed+i).

    Backends: 'ale' (ale-py's AtariVectorEnv, C++ threads; standard preset only), 'async'
    (Gymnasium's AsyncVectorEnv, one process per copy), 'sync' (one process). Observations:
    standard (num_envs, 4, 84, 84) uint8, lab (num_envs, 88, 80, 1) int8, one single env's
    observation per copy (``frame_stack=1``: one frame per copy); the same wrappers (episode
    statistics, life loss, reward clipping) sit on top of every backend. Seeds of any size work
    on every backend (ale-py's are folded, ``fold_ale_seed``).

    Checkpoints: on 'sync' and 'async' the env's whole state (emulators, RNGs, wrappers) reads
    as plain values (``ResumableVectorEnv.snapshot``, ``qarcade.envs.atari_state``) and an env
    built the same way and restored from it continues step for step; on 'ale' there is no
    snapshot (``TypeError``): ale-py does not expose its vector env's state.
    """
    if num_envs < 1:
        raise UserError(f"num_envs must be a positive integer, got {num_envs}")
    game = get_game(name)
    preset = get_preset(preprocessing, **overrides)
    if preset.preprocessing == "lab":
        check_lab_preprocessing(game)  # here, not in each copy's process
    backend = resolve_backend(backend, preset)
    rebuild = functools.partial(
        make_atari_vector_env, name, preset, num_envs, None, for_training, backend, autoreset_mode
    )  # the same env, for a pickled one to restore its snapshot into
    if backend == "ale":
        envs = _ale_vector_env(game, preset, num_envs, autoreset_mode)
    else:
        make_one = functools.partial(_make_sub_env, game, preset)
        vector_class = AsyncVectorEnv if backend == "async" else SyncVectorEnv
        options: dict[str, Any] = {"autoreset_mode": autoreset_mode}
        envs = vector_class([make_one] * num_envs, **options)
        if backend == "async":
            envs = SendAhead(envs)
    envs = vector_wrappers.RecordEpisodeStatistics(envs)  # raw scores, before clipping
    if for_training and preset.life_loss:
        envs = VectorLifeLossInfo(envs)
    if for_training and preset.clip_rewards:
        envs = vector_wrappers.TransformReward(envs, clip_to_sign)
    if backend == "ale":
        why_not = (
            "ale-py's vector env (backend 'ale') does not expose its emulators' states: "
            "it cannot be checkpointed (backends 'sync' and 'async' can)"
        )
        envs = ResumableVectorEnv(envs, None, why_not)
    else:
        envs = ResumableVectorEnv(envs, rebuild)
    envs.reset(seed=seed)
    envs.action_space.seed(seed)
    return envs
