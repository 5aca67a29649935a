"""The lab's pixel gridworld as Gymnasium environments, one numpy core for one game or many.

The rules and the picture (docs/gridworld.md, "The game, exactly") live in
``qarcade.envs.gridcore``, whose ``GridCore`` steps N games at once; its public names are
re-exported here. In short: a hero, 4 goals (+1) and 2 fires (-1) on a ``size`` x ``size``
grid, an eaten object reappearing on a random free cell, an 84x84x3 uint8 image of the bordered
grid (or of the 3x3 window around the hero with ``partial=True``). The game never ends by itself
(``terminated`` is always False); episodes are truncated after ``max_episode_steps`` (50).

Entry points: ``GridWorldEnv`` (one game, ``gymnasium.make("qarcade/GridWorld-v0")``, which adds
the 50-step ``TimeLimit``) and ``GridWorldVectorEnv`` (N games,
``gymnasium.make_vec("qarcade/GridWorld-v0", num_envs=N)``), a native
``gymnasium.vector.VectorEnv`` that truncates by itself and autoresets in
``AutoresetMode.NEXT_STEP`` by default (Gymnasium 1.x's default): the step after a truncation
ignores that copy's action and returns its first observation of a new episode, with reward 0.
``SAME_STEP`` and ``DISABLED`` are offered too. Like Gymnasium's ``SyncVectorEnv``, it takes
``copy``: True (default) returns fresh observations; False may return one kept frame buffer,
overwritten in place, in which only the cells that changed are repainted (incremental rendering,
``GridCore.kept_frames``).

Seeding: a vector env reset with seed ``s`` seeds copy ``i`` with ``s + i``, so copy ``i`` plays
step for step like a single env reset with seed ``s + i``.

``info`` gives the object cells as ``[x, y]`` pairs: ``info["hero"]`` (2,), ``info["goals"]``
(4, 2), ``info["fires"]`` (2, 2), with a leading copy axis in the vector env (every copy has
them, so no ``_hero``-style masks).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from qarcade.envs.gridcore import (
    ACTION_DXDY,
    ACTION_NAMES,
    FRAME_PX,
    MAX_SIZE,
    MIN_SIZE,
    N_FIRES,
    N_GOALS,
    N_OBJECTS,
    OBS_TYPES,
    PARTIAL_CELLS,
    SLOT_CHANNEL,
    SLOT_REWARD,
    UNIFORM_CHUNK,
    GridCore,
    bordered_grids,
    cells_xy,
    check_size,
    kth_free_cell,
    move_table,
    partial_windows,
    pixel_cells,
    symmetries,
    upscale,
)
from qarcade.errors import UserError

__all__ = [  # the core's public names stay importable from here
    "ACTION_DXDY",
    "ACTION_NAMES",
    "ANSI_CELLS",
    "FRAME_PX",
    "MAX_SIZE",
    "MIN_SIZE",
    "N_FIRES",
    "N_GOALS",
    "N_OBJECTS",
    "OBS_TYPES",
    "PARTIAL_CELLS",
    "SLOT_CHANNEL",
    "SLOT_REWARD",
    "UNIFORM_CHUNK",
    "GridCore",
    "GridWorldEnv",
    "GridWorldVectorEnv",
    "PlayedEpisode",
    "ansi_board",
    "bordered_grids",
    "cells_xy",
    "check_action",
    "check_size",
    "kth_free_cell",
    "move_table",
    "parse_actions",
    "partial_windows",
    "pixel_cells",
    "play_actions",
    "symmetries",
    "upscale",
]

ANSI_CELLS = {  # two characters a cell: a background colour, and a letter for mono terminals
    "wall": "\x1b[47m  ",
    "empty": "\x1b[40m  ",
    "hero": "\x1b[44;97m@ ",
    "goal": "\x1b[42;30m+ ",
    "fire": "\x1b[41;30mx ",
}
ANSI_RESET = "\x1b[0m"


def ansi_board(hero, goals, fires, size: int) -> str:
    """The bordered board as ANSI-coloured text (one line per row) from ``[x, y]`` cells."""
    side = size + 2
    board = [["wall"] * side] + [["wall"] + ["empty"] * size + ["wall"] for _ in range(size)]
    board.append(["wall"] * side)
    for kind, cells in (("goal", goals), ("fire", fires), ("hero", [hero])):
        for x, y in cells:
            board[int(y) + 1][int(x) + 1] = kind
    return "\n".join("".join(ANSI_CELLS[k] for k in row) + ANSI_RESET for row in board)


def _observation_space(core: GridCore) -> gym.spaces.Box:
    if core.obs_type == "pixels":
        return gym.spaces.Box(0, 255, (FRAME_PX, FRAME_PX, 3), np.uint8)
    side = PARTIAL_CELLS if core.partial else core.size + 2
    return gym.spaces.Box(0, 255, (side, side, 3), np.uint8)


def check_action(action) -> int:
    """``action`` as an int in 0..3, or a UserError naming the allowed actions."""
    try:
        value = operator.index(action)
    except TypeError:
        raise UserError(f"gridworld action must be an integer 0..3, got {action!r}") from None
    if not 0 <= value <= 3:
        raise UserError(f"gridworld action must be 0 up, 1 down, 2 left or 3 right, got {value}")
    return value


class GridWorldEnv(gym.Env):
    """One game of the lab's gridworld (see the module docstring for the rules).

    ``gymnasium.make("qarcade/GridWorld-v0")`` wraps it in a 50-step ``TimeLimit``; built
    directly, it never ends. ``render()`` always shows the full board, also when the
    observation is the partial view: "rgb_array" the 84x84x3 frame, "ansi" coloured text.
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 4}

    def __init__(
        self,
        size: int = 5,
        partial: bool = False,
        render_mode: str | None = None,
        obs_type: str = "pixels",
    ):
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise UserError(
                f"gridworld render_mode must be 'rgb_array', 'ansi' or None, got {render_mode}"
            )
        self.core = GridCore(1, size, partial, obs_type)
        self.size, self.partial, self.render_mode = self.core.size, self.core.partial, render_mode
        self.observation_space = _observation_space(self.core)
        self.action_space = gym.spaces.Discrete(4)
        self._started = False

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None or not self._started:
            self.core.set_rng(0, self.np_random)
        self._started = True
        self.core.place(np.zeros(1, np.int64))
        return self.core.observations()[0], self._info()

    def step(self, action):
        if not self._started:
            raise UserError("call reset() before step() on the gridworld")
        reward = self.core.step(np.array([check_action(action)]))[0]
        return self.core.observations()[0], float(reward), False, False, self._info()

    def render(self):
        if self.render_mode == "rgb_array":
            return self.core.frames(partial=False)[0]
        if self.render_mode == "ansi":
            return ansi_board(**self._info(), size=self.size)
        return None

    def _info(self) -> dict[str, np.ndarray]:
        return {key: value[0] for key, value in self.core.infos().items()}


class GridWorldVectorEnv(gym.vector.VectorEnv):
    """``num_envs`` games stepped together by one ``GridCore``: a native Gymnasium vector env.

    Each copy truncates after ``max_episode_steps`` (None: never) and autoresets according to
    ``autoreset_mode`` (default ``NEXT_STEP``). ``reset(seed=s)`` seeds copy i with s + i (a
    list gives one seed per copy); ``options={"reset_mask": mask}`` resets only some copies.
    Observations are (N, 84, 84, 3) uint8, rewards (N,) float64. With ``copy=True`` (the
    default, as in Gymnasium's ``SyncVectorEnv``) each call returns a fresh observation array;
    with ``copy=False`` it may return the same array every call, updated in place by the next
    ``step`` or ``reset`` (faster for the full view: only changed cells are repainted).
    """

    metadata = {
        "render_modes": ["rgb_array"],
        "render_fps": 4,
        "autoreset_mode": AutoresetMode.NEXT_STEP,
    }

    def __init__(
        self,
        num_envs: int = 1,
        size: int = 5,
        partial: bool = False,
        max_episode_steps: int | None = 50,
        render_mode: str | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        obs_type: str = "pixels",
        copy: bool = True,
    ):
        if operator.index(num_envs) < 1:
            raise UserError(f"num_envs must be at least 1, got {num_envs}")
        if render_mode not in (None, "rgb_array"):
            raise UserError(f"gridworld render_mode must be 'rgb_array' or None, got {render_mode}")
        if max_episode_steps is not None and max_episode_steps < 1:
            raise UserError(f"max_episode_steps must be at least 1, got {max_episode_steps}")
        self.core = GridCore(num_envs, size, partial, obs_type)
        self.num_envs, self.size, self.partial = num_envs, self.core.size, self.core.partial
        self.max_episode_steps = max_episode_steps
        self.copy = bool(copy)
        self.render_mode = render_mode
        self.autoreset_mode = AutoresetMode(autoreset_mode)
        self.metadata = {**self.metadata, "autoreset_mode": self.autoreset_mode}
        self.single_observation_space = _observation_space(self.core)
        self.single_action_space = gym.spaces.Discrete(4)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.elapsed_steps = np.zeros(num_envs, np.int64)  # (N,) steps in the current episode
        self._needs_reset = np.zeros(num_envs, bool)  # (N,) truncated last step (NEXT_STEP)
        self._any_needs_reset = False
        self._steps_left = 0  # steps until the first copy truncates; <= 0: check every copy
        self._started = False

    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict | None = None):
        mask = np.ones(self.num_envs, bool)
        if options and "reset_mask" in options:
            mask = np.asarray(options["reset_mask"])
            if mask.shape != (self.num_envs,) or mask.dtype != np.bool_:
                raise UserError(f"options['reset_mask'] must be a ({self.num_envs},) bool array")
        copies = np.flatnonzero(mask)
        if seed is not None:
            seeds = [seed + i for i in range(self.num_envs)] if np.isscalar(seed) else seed
            if len(seeds) != self.num_envs:
                raise UserError(f"reset needs {self.num_envs} seeds, got {len(seeds)}")
            for copy in copies:
                if seeds[copy] is not None:
                    self.core.set_rng(copy, seeding.np_random(int(seeds[copy]))[0])
        self._started = True
        self.core.place(copies)
        self.elapsed_steps[copies] = 0
        self._needs_reset[copies] = False
        self._any_needs_reset = bool(self._needs_reset.any())
        self._count_steps_left()
        return self.core.observations(self.copy), self.core.infos()

    def _count_steps_left(self) -> None:
        """Steps until the first copy reaches ``max_episode_steps`` (after any reset)."""
        if self.max_episode_steps is None:
            self._steps_left = 1 << 62
        else:
            self._steps_left = self.max_episode_steps - int(self.elapsed_steps.max())

    def step(self, actions):
        if not self._started:
            raise UserError("call reset() before step() on the gridworld vector env")
        actions = self._check_actions(actions)
        resetting = self._needs_reset if self._any_needs_reset else None  # NEXT_STEP only
        rewards = self.core.step(actions, resetting)
        self.elapsed_steps += 1
        self._steps_left -= 1
        if resetting is not None:
            copies = np.flatnonzero(resetting)
            self.core.place(copies)
            self.elapsed_steps[copies] = 0
            self._needs_reset = np.zeros(self.num_envs, bool)
            self._any_needs_reset = False
            self._count_steps_left()
        # Until the first copy's last step, no copy truncates: skip comparing every copy.
        truncating = self._steps_left <= 0
        if truncating:
            truncated = self.elapsed_steps >= self.max_episode_steps
            truncating = bool(truncated.any())
        else:
            truncated = np.zeros(self.num_envs, bool)
        terminated = np.zeros(self.num_envs, bool)
        observations = self.core.observations(self.copy)
        infos = self.core.infos()
        if self.autoreset_mode == AutoresetMode.SAME_STEP and truncating:
            copies = np.flatnonzero(truncated)
            final_obs = np.full(self.num_envs, None, dtype=object)
            final_obs[copies] = list(observations[copies])
            final_info = infos
            self.core.place(copies)
            self.elapsed_steps[copies] = 0
            self._count_steps_left()
            observations = self.core.observations(self.copy)
            infos = {
                **self.core.infos(),
                "final_obs": final_obs,
                "_final_obs": truncated.copy(),
                "final_info": final_info,
                "_final_info": truncated.copy(),
            }
        if self.autoreset_mode == AutoresetMode.NEXT_STEP and truncating:
            self._needs_reset = truncated.copy()
            self._any_needs_reset = True
        return observations, rewards, terminated, truncated, infos

    def snapshot(self) -> dict:
        """The whole state as arrays and plain values (``qarcade.envs.snapshot``): the core's
        games and RNGs, each copy's step count and whether its reset is due (next step)."""
        return {
            "core": self.core.snapshot(),
            "elapsed_steps": self.elapsed_steps.copy(),
            "needs_reset": self._needs_reset.copy(),
            "steps_left": int(self._steps_left),
            "started": bool(self._started),
        }

    def restore(self, state: dict) -> None:
        """Puts back what ``snapshot`` read (an env built with the same arguments)."""
        if np.shape(state["elapsed_steps"]) != (self.num_envs,):
            raise ValueError(f"gridworld snapshot does not fit {self.num_envs} copies")
        self.core.restore(state["core"])
        self.elapsed_steps = np.array(state["elapsed_steps"], np.int64)
        self._needs_reset = np.array(state["needs_reset"], bool)
        self._any_needs_reset = bool(self._needs_reset.any())
        self._steps_left = int(state["steps_left"])
        self._started = bool(state["started"])

    def render(self):
        """A tuple of the N full-board frames (84, 84, 3) uint8, or None without a render_mode."""
        if self.render_mode == "rgb_array":
            return tuple(self.core.frames(partial=False))
        return None

    def _check_actions(self, actions) -> np.ndarray:
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,) or actions.dtype.kind not in "iu":
            raise UserError(
                f"actions must be {self.num_envs} integers 0..3, got shape {actions.shape} "
                f"of {actions.dtype}"
            )
        actions = actions.astype(np.int64, copy=False)
        if actions.view(np.uint64).max() > 3:  # a negative action is a huge unsigned one
            bad = actions[(actions < 0) | (actions > 3)][0]
            raise UserError(f"gridworld action must be 0 up, 1 down, 2 left or 3 right, got {bad}")
        return actions


# --- play a fixed list of actions ---


@dataclass(frozen=True)
class PlayedEpisode:
    """What ``play_actions`` returns: frames (T+1, 84, 84, 3) uint8, rewards (T,), and more."""

    frames: np.ndarray
    rewards: np.ndarray
    actions_played: int
    truncated: bool

    @property
    def total_reward(self) -> float:
        return float(self.rewards.sum())


def parse_actions(text: str) -> list[int]:
    """``"3,3,1,0"`` (or words ``up,down,left,right``) -> [3, 3, 1, 0]; a UserError otherwise."""
    actions = []
    for token in text.replace(" ", "").split(","):
        if token in ACTION_NAMES:
            actions.append(ACTION_NAMES.index(token))
        elif token.lstrip("-").isdigit():
            actions.append(check_action(int(token)))
        else:
            raise UserError(
                f"actions are a comma-separated list of 0..3 or up/down/left/right, got {token!r}"
            )
    return actions


def play_actions(
    actions: Sequence[int],
    *,
    size: int = 5,
    partial: bool = False,
    seed: int | None = None,
    max_episode_steps: int | None = 50,
) -> PlayedEpisode:
    """Play ``actions`` from a reset with ``seed``; frames show the full board after each step.

    Play stops at truncation (after ``max_episode_steps``); ``actions_played`` says how many
    actions were used.
    """
    actions = [check_action(action) for action in actions]
    env = gym.make(
        "qarcade/GridWorld-v0",
        size=size,
        partial=partial,
        render_mode="rgb_array",
        max_episode_steps=-1 if max_episode_steps is None else max_episode_steps,
    )
    env.reset(seed=seed)
    frames, rewards, truncated = [env.render()], [], False
    for action in actions:
        _, reward, _, truncated, _ = env.step(action)
        frames.append(env.render())
        rewards.append(reward)
        if truncated:
            break
    env.close()
    return PlayedEpisode(np.stack(frames), np.asarray(rewards, float), len(rewards), truncated)
