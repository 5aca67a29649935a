"""What a Q-network sees of an Atari game: the games, the presets, the lab's and the standard
preprocessing, and the life-loss and reward-clipping wrappers used for learning.

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

The envs built from these pieces (single and vector, every backend) are in ``qarcade.envs.atari``,
which re-exports every name here.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from typing import Any

import ale_py  # importing ale_py registers the ALE/... environment ids the games use
import gymnasium as gym
import numpy as np
from gymnasium.vector import VectorWrapper
from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

from qarcade.errors import UserError

# ALE prints a banner on stderr for every emulator it starts; keep warnings and errors only.
ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Warning)

# --- games and presets ---


@dataclass(frozen=True)
class Game:
    """One Atari game: its Gymnasium id, its ROM name for ale-py's vector env, its player colour."""

    env_id: str
    rom: str
    # R+G+B of the player's sprite, erased by the lab's preprocessing; None: a game the lab's
    # preprocessing was not made for (it knows only Ms. Pac-Man's colour)
    player_colour_sum: int | None = None
    name: str = ""  # the canonical short name ("breakout")


# The lab's game; every other ALE game comes from ale-py's registry (``get_game``).
GAMES: dict[str, Game] = {
    "mspacman": Game("ALE/MsPacman-v5", "ms_pacman", 210 + 164 + 74, "mspacman"),
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
    """The ALE game ``name`` names in any of ale-py's spellings (``breakout``, ``ALE/Pong-v5``,
    ``ms_pacman``); a ``UserError`` naming the closest games where none."""
    from qarcade.envs.resolve import atari_game, atari_games

    game = atari_game(name)
    if game is None:
        close = difflib.get_close_matches(name.lower(), list(atari_games()), n=4, cutoff=0.6)
        hint = f"; closest: {', '.join(close)}" if close else ""
        raise UserError(f"unknown Atari game {name!r}{hint} (any of ale-py's games)")
    return GAMES.get(game.key) or Game(game.env_id, game.rom, None, game.key)


def check_lab_preprocessing(game: Game) -> None:
    """The lab's preprocessing erases Ms. Pac-Man's colour: refuse it for another game."""
    if game.player_colour_sum is None:
        raise UserError(
            f"the lab's preprocessing is Ms. Pac-Man's (it erases her colour, 210+164+74); "
            f"{game.name} takes the standard one (atari_preprocessing standard)"
        )


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


# --- the standard (DeepMind) path, and the lab's, around a base env ---


def apply_preprocessing(env: gym.Env, game: Game, preset: AtariPreset) -> gym.Env:
    """``env`` (a base env from ``make_base_env``) wrapped in the preset's preprocessing and
    frame stack."""
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
        check_lab_preprocessing(game)
        if preset.noop_max:
            raise UserError("the lab preset has no no-op starts (noop_max must be 0)")
        env = LabPreprocessing(env, game.player_colour_sum)
    else:
        raise UserError(f"unknown preprocessing {preset.preprocessing!r}; known: lab, standard")
    if preset.frame_stack > 1:  # else the frame itself, with no stack axis
        env = FrameStackObservation(env, preset.frame_stack, padding_type="zero")
    return env


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


def clip_to_sign(reward):
    """sign(reward) as float32: the standard preset's reward clipping."""
    return np.sign(np.asarray(reward, dtype=np.float32))
