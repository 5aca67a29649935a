"""Ms. Pac-Man on the Arcade Learning Environment, with the lab's and the standard preprocessing.

Two ways to turn the 210x160 RGB screen into what a Q-network sees:

- ``lab``: the lab's own preprocessing (``lab_preprocess``): keep every 2nd row from 1 to 175 and
  every 2nd column, sum the colour channels, set Ms. Pac-Man's colour (210+164+74) to 0 and map
  to signed bytes with ``v // 3 - 128``: one 88x80x1 int8 frame, no stacking. The game is
  ``ALE/MsPacman-v5`` with a random frame skip of 2 to 4 and sticky actions 0.25, which is the
  ``MsPacman-v0`` the lab used. Rewards stay raw, episodes end when the game does.
- ``standard``: the DeepMind preprocessing (Mnih et al. 2015, "Human-level control through deep
  reinforcement learning"; Machado et al. 2018 for sticky actions), built from Gymnasium's
  ``AtariPreprocessing`` and ``FrameStackObservation``: up to 30 no-op starts, frame skip 4 with a
  max over the last two frames, 84x84 grey, 4 frames stacked oldest first; for learning only,
  rewards clipped to their sign and life losses flagged as terminal.

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
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ale_py  # importing ale_py registers the ALE/... environment ids
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
from gymnasium.wrappers import (
    AtariPreprocessing,
    FrameStackObservation,
    RecordEpisodeStatistics,
    TransformReward,
)
from gymnasium.wrappers import vector as vector_wrappers

from qarcade.envs.atari_state import ResumableEnv, ResumableVectorEnv
from qarcade.errors import UserError

# ALE prints a banner on stderr for every emulator it starts; keep warnings and errors only.
ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Warning)

# --- games and presets ---


@dataclass(frozen=True)
class Game:
    """One Atari game: its Gymnasium id, its ROM name for ale-py's vector env, its player colour."""

    env_id: str
    rom: str
    player_colour_sum: int  # R+G+B of the player's sprite, erased by the lab's preprocessing


GAMES: dict[str, Game] = {
    "mspacman": Game(env_id="ALE/MsPacman-v5", rom="ms_pacman", player_colour_sum=210 + 164 + 74),
}


@dataclass(frozen=True)
class AtariPreset:
    """How the emulator is driven and what the agent sees."""

    preprocessing: str
    """'lab' (88x80x1 int8, the lab's) or 'standard' (4 x 84x84 uint8, DeepMind's)."""
    frameskip: int | tuple[int, int]
    """Emulator frames per agent step; a pair (lo, hi) draws uniformly from lo..hi-1 each step."""
    repeat_action_probability: float
    """Sticky actions: chance that the emulator repeats the previous action on each frame."""
    noop_max: int
    """Up to this many no-op steps after each reset (0: none)."""
    frame_stack: int
    """Frames per observation, oldest first (1: no stacking)."""
    clip_rewards: bool
    """Training envs return sign(reward); evaluation envs always return the raw score."""
    life_loss: bool
    """Training envs flag each lost life in info['life_loss'] (terminal for the TD target)."""
    max_frames_per_episode: int = 108_000
    """Emulator frames before a game is truncated (108k frames = 30 minutes of play)."""


PRESETS: dict[str, AtariPreset] = {
    # MsPacman-v0 as the lab used it: sticky 0.25, a skip of 2..4, raw rewards, whole games.
    "lab": AtariPreset(
        preprocessing="lab",
        frameskip=(2, 5),
        repeat_action_probability=0.25,
        noop_max=0,
        frame_stack=1,
        clip_rewards=False,
        life_loss=False,
    ),
    # DeepMind's preprocessing on v5's protocol (fixed skip 4, sticky 0.25).
    "standard": AtariPreset(
        preprocessing="standard",
        frameskip=4,
        repeat_action_probability=0.25,
        noop_max=30,
        frame_stack=4,
        clip_rewards=True,
        life_loss=True,
    ),
}

STANDARD_SCREEN_SIZE = 84
LAB_FRAME_SHAPE = (88, 80, 1)


def get_game(name: str) -> Game:
    if name not in GAMES:
        raise UserError(f"unknown game {name!r}; known: {', '.join(sorted(GAMES))}")
    return GAMES[name]


def get_preset(preprocessing: str | AtariPreset, **overrides: Any) -> AtariPreset:
    """A named preset (or a preset itself), with fields replaced by ``overrides``."""
    if isinstance(preprocessing, AtariPreset):
        preset = preprocessing
    elif preprocessing in PRESETS:
        preset = PRESETS[preprocessing]
    else:
        raise UserError(
            f"unknown preprocessing {preprocessing!r}; known: {', '.join(sorted(PRESETS))}"
        )
    unknown = set(overrides) - set(AtariPreset.__dataclass_fields__)
    if unknown:
        raise UserError(f"unknown Atari preset field(s): {', '.join(sorted(unknown))}")
    preset = replace(preset, **overrides)
    if preset.frame_stack < 1 or preset.noop_max < 0:
        raise UserError("frame_stack must be at least 1 and noop_max at least 0")
    return preset


# --- the lab's preprocessing ---


def lab_preprocess(frame: np.ndarray, player_colour_sum: int = 210 + 164 + 74) -> np.ndarray:
    """The lab's preprocessing: (..., 210, 160, 3) uint8 RGB -> (..., 88, 80, 1) int8.

    Rows 1, 3, ..., 175 and columns 0, 2, ..., 158; channels summed (0..765); the player's colour
    sum set to 0; then ``v // 3 - 128``, which maps 0..765 onto -128..127.
    """
    if frame.shape[-3:] != (210, 160, 3):
        raise ValueError(f"expected (..., 210, 160, 3) RGB frames, got shape {frame.shape}")
    cropped = frame[..., 1:176:2, ::2, :]  # (..., 88, 80, 3)
    summed = cropped.sum(axis=-1, dtype=np.int16)  # (..., 88, 80), 0..765
    summed[summed == player_colour_sum] = 0
    return (summed // 3 - 128).astype(np.int8)[..., np.newaxis]  # (..., 88, 80, 1)


class LabPreprocessing(gym.ObservationWrapper):
    """Applies ``lab_preprocess`` to every observation of an RGB Atari env."""

    state_fields = ()  # what a checkpoint saves of it (qarcade.envs.atari_state): nothing

    def __init__(self, env: gym.Env, player_colour_sum: int = 210 + 164 + 74):
        super().__init__(env)
        self.player_colour_sum = player_colour_sum
        self.observation_space = gym.spaces.Box(-128, 127, LAB_FRAME_SHAPE, np.int8)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return lab_preprocess(observation, self.player_colour_sum)


# --- life loss, for learning only ---


def lost_life(previous_lives, lives):
    """True where the lives counter went down (a reset, which raises it, is not a loss)."""
    return np.asarray(lives) < np.asarray(previous_lives)


class LifeLossInfo(gym.Wrapper):
    """Adds ``info["life_loss"]``: the step lost a life. The game itself goes on."""

    state_fields = ("_lives",)

    def reset(self, **kwargs):
        observation, info = self.env.reset(**kwargs)
        self._lives = info["lives"]
        return observation, info

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        info["life_loss"] = bool(lost_life(self._lives, info["lives"]))
        self._lives = info["lives"]
        return observation, reward, terminated, truncated, info


class VectorLifeLossInfo(VectorWrapper):
    """``LifeLossInfo`` for a vector env: ``info["life_loss"]`` is a (num_envs,) bool array.

    With next-step autoreset, the reset step raises the lives counter, so it is never a loss.
    """

    state_fields = ("_lives",)

    def reset(self, **kwargs):
        observations, info = self.env.reset(**kwargs)
        self._lives = np.array(info["lives"])
        return observations, info

    def step(self, actions):
        observations, rewards, terminations, truncations, info = self.env.step(actions)
        lives = np.array(info["lives"])
        info["life_loss"] = lost_life(self._lives, lives)  # (num_envs,) bool
        self._lives = lives
        return observations, rewards, terminations, truncations, info


def _clip_to_sign(reward):
    return np.sign(np.asarray(reward, dtype=np.float32))


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


def _preprocess(env: gym.Env, game: Game, preset: AtariPreset) -> gym.Env:
    if preset.preprocessing == "standard":
        env = AtariPreprocessing(
            env,
            noop_max=preset.noop_max,
            frame_skip=preset.frameskip,
            screen_size=STANDARD_SCREEN_SIZE,
            terminal_on_life_loss=False,  # flagged in info instead: the game must go on
            grayscale_obs=True,
        )
    elif preset.preprocessing == "lab":
        if preset.noop_max:
            raise UserError("the lab preset has no no-op starts (noop_max must be 0)")
        env = LabPreprocessing(env, game.player_colour_sum)
    else:
        raise UserError(f"unknown preprocessing {preset.preprocessing!r}; known: lab, standard")
    if preset.frame_stack > 1:  # else the frame itself, with no stack axis
        env = FrameStackObservation(env, preset.frame_stack, padding_type="zero")
    return env


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
    env = _preprocess(make_base_env(game, preset, render_mode), game, preset)
    env = RecordEpisodeStatistics(env)  # before clipping: info["episode"]["r"] is the raw score
    if for_training and preset.life_loss:
        env = LifeLossInfo(env)
    if for_training and preset.clip_rewards:
        env = TransformReward(env, _clip_to_sign)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    return env


# --- vector env ---

VECTOR_BACKENDS = ("auto", "ale", "async", "sync")


def _make_sub_env(game: Game, preset: AtariPreset) -> gym.Env:
    return ResumableEnv(_preprocess(make_base_env(game, preset), game, preset))


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
    envs = _AleSeeds(envs)
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

    Checkpoints: on 'sync' and 'async' the env pickles with its whole state (emulators, RNGs,
    wrappers; ``qarcade.envs.atari_state``) and an unpickled copy continues step for step; on
    'ale' pickling raises ``TypeError``: ale-py does not expose its vector env's state.
    """
    if num_envs < 1:
        raise UserError(f"num_envs must be a positive integer, got {num_envs}")
    game = get_game(name)
    preset = get_preset(preprocessing, **overrides)
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
    envs = vector_wrappers.RecordEpisodeStatistics(envs)  # raw scores, before clipping
    if for_training and preset.life_loss:
        envs = VectorLifeLossInfo(envs)
    if for_training and preset.clip_rewards:
        envs = vector_wrappers.TransformReward(envs, _clip_to_sign)
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


# --- looking at it: the preprocessing figure, playing by hand ---


def preprocessing_views(name: str = "mspacman", steps: int = 40, seed: int = 0) -> dict:
    """One game state ``steps`` agent steps in: the RGB screen and what each preset makes of it.

    Returns {'original': (210, 160, 3) uint8, 'lab': (88, 80, 1) int8, 'standard': (84, 84)
    uint8, the newest frame of the stack}. The lab frame is ``lab_preprocess`` of the screen
    shown; the standard one is the max of the last two frames of the same agent step.
    """
    game = get_game(name)
    env = make_atari_env(name, "standard", seed=seed, for_training=False, render_mode="rgb_array")
    rng = np.random.default_rng(seed)
    observation, _ = env.reset(seed=seed)
    for _ in range(steps):
        observation, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
        if terminated or truncated:
            observation, _ = env.reset()
    screen = env.render()  # (210, 160, 3) uint8
    env.close()
    return {
        "original": screen,
        "lab": lab_preprocess(screen, game.player_colour_sum),
        "standard": np.asarray(observation)[-1],
    }


FIGURE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg")


def draw_preprocessing_figure(out: str | Path, name: str = "mspacman", steps: int = 40, seed=0):
    """Writes the lab's figure: the original frame beside the lab's and the standard frames."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    if not out.parent.exists():
        raise UserError(f"folder {str(out.parent)!r} does not exist")
    if out.suffix.lower() not in FIGURE_SUFFIXES:
        raise UserError(f"cannot draw {out.name!r}: use one of {', '.join(FIGURE_SUFFIXES)}")
    views = preprocessing_views(name, steps, seed)
    figure, axes = plt.subplots(1, 3, figsize=(11, 4.6))
    panels = [
        (views["original"], "original: 210x160 RGB", {}),
        (views["lab"][..., 0], "lab: 88x80x1 int8", {"cmap": "gray", "vmin": -128, "vmax": 127}),
        (views["standard"], "standard: 84x84 grey (newest of 4)", {"cmap": "gray", "vmin": 0}),
    ]
    for axis, (image, title, style) in zip(axes, panels, strict=True):
        axis.imshow(image, interpolation="nearest", **style)
        axis.set_title(title)
        axis.axis("off")
    figure.suptitle(f"{GAMES[name].env_id}, {steps} steps in (seed {seed})")
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return out


@dataclass
class PlayResult:
    """What a played game came to."""

    score: float  # raw game score
    steps: int  # agent steps taken
    lives: int  # lives left
    game_over: bool
    frames: list[np.ndarray]  # (210, 160, 3) uint8 screens, the first after reset; [] unrecorded


def parse_actions(text: str, name: str = "mspacman") -> list[int]:
    """'0,3,3,1' -> [0, 3, 3, 1], each checked against the game's actions."""
    try:
        actions = [int(part) for part in text.split(",")]
    except ValueError:
        raise UserError(f"actions must be comma-separated integers, got {text!r}") from None
    check_actions(actions, name)
    return actions


def check_actions(actions: list[int], name: str = "mspacman") -> None:
    """A one-line error for an action the game does not have, naming the ones it does."""
    n_actions = len(_action_meanings(name))
    for action in actions:
        if not 0 <= action < n_actions:
            meanings = ", ".join(f"{i} {m}" for i, m in enumerate(_action_meanings(name)))
            raise UserError(f"action {action} is not one of the game's actions: {meanings}")


@functools.cache
def _action_meanings(name: str) -> tuple[str, ...]:
    env = gym.make(get_game(name).env_id, disable_env_checker=True)
    meanings = tuple(env.unwrapped.get_action_meanings())
    env.close()
    return meanings


def play_actions(
    name: str = "mspacman",
    actions: list[int] | None = None,
    random_steps: int | None = None,
    seed: int = 0,
    record: bool = False,
    preprocessing: str = "standard",
) -> PlayResult:
    """Plays ``actions`` (or ``random_steps`` uniform random actions) on the preset's raw game.

    The game is the preset's emulator settings without preprocessing (the standard preset's
    skip of 4 is done by ALE here). It stops early when the game is over.
    """
    if (actions is None) == (random_steps is None):
        raise UserError("give either a list of actions or a number of random steps")
    game = get_game(name)
    preset = get_preset(preprocessing)
    if actions is not None:
        check_actions(actions, name)
    env = gym.make(
        game.env_id,
        frameskip=preset.frameskip,
        repeat_action_probability=preset.repeat_action_probability,
        max_num_frames_per_episode=preset.max_frames_per_episode,
        render_mode="rgb_array" if record else None,
        disable_env_checker=True,
    )
    env.action_space.seed(seed)
    _, info = env.reset(seed=seed)
    frames = [env.render()] if record else []
    planned = actions if actions is not None else None
    n_steps = len(planned) if planned is not None else random_steps
    score, steps, game_over = 0.0, 0, False
    for t in range(n_steps):
        action = planned[t] if planned is not None else int(env.action_space.sample())
        _, reward, terminated, truncated, info = env.step(action)
        score += float(reward)
        steps += 1
        if record:
            frames.append(env.render())
        if terminated or truncated:
            game_over = bool(terminated)
            break
    env.close()
    return PlayResult(score, steps, int(info["lives"]), game_over, frames)


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def play_keyboard(
    name: str = "mspacman", seed: int | None = None, record: bool = False, zoom: float = 3.0
) -> PlayResult:
    """Plays the game by keyboard (W A S D, two at once for diagonals) in a window (Gymnasium's
    play utility); returns the last game played."""
    game = get_game(name)
    if not has_display():
        raise UserError(
            "keyboard play needs a display and none was found (DISPLAY is not set); "
            "use --actions or --random, with --video to watch"
        )
    try:
        import pygame  # noqa: F401
    except ImportError as error:
        raise UserError("keyboard play needs pygame: pip install 'qarcade[atari]'") from error
    from gymnasium.utils.play import play

    frames: list[np.ndarray] = []
    totals = {"score": 0.0, "steps": 0, "lives": 3, "game_over": False}

    def on_step(_, screen, action, reward, terminated, truncated, info):
        if totals["game_over"]:  # play() started a new game: keep the last one only
            frames.clear()
            totals.update(score=0.0, steps=0, game_over=False)
        if record:
            frames.append(screen)
        totals["score"] += float(reward)
        totals["steps"] += 1
        totals["lives"] = int(info.get("lives", totals["lives"]))
        totals["game_over"] = bool(terminated)

    env = gym.make(game.env_id, render_mode="rgb_array", disable_env_checker=True)
    play(env, zoom=zoom, fps=15, seed=seed, noop=0, callback=on_step)
    return PlayResult(frames=frames, **totals)
