"""The lab's pixel gridworld: one numpy core that steps N grids at once.

The game (DESIGN.md, "The lab's environments, exactly"): one hero, 4 goals and 2 fires on
distinct cells of a ``size`` x ``size`` grid, placed uniformly at random at reset. Actions are
0 up (y-1), 1 down (y+1), 2 left (x-1), 3 right (x+1); a move into the wall leaves the hero in
place. Stepping onto a goal gives +1, onto a fire -1; that object is removed and one of the same
kind appears on a uniformly random cell free of every object, the hero included. The game never
ends by itself (``terminated`` is always False); episodes are truncated after
``max_episode_steps`` (50) steps.

The image is a (size+2) x (size+2) grid with a white border (255 in all channels) and a black
inside; the hero sets the blue channel (2) of its cell to 255, a goal the green (1), a fire the
red (0). ``partial=True`` keeps the 3x3 window of that bordered grid centred on the hero (the
hero is never on the border, so the window always lies inside the bordered grid). The grid of
H x H cells is scaled by nearest neighbour to 84x84x3 uint8 by index arithmetic: pixel ``p``
(0..83) along either axis shows cell ``floor(p * H / 84)``. Each cell is a uniform block of
``floor(84 / H)`` or ``ceil(84 / H)`` pixels a side; for the lab's size 5 (H = 7) and for the
partial view (H = 3) every block is exactly 12 or 28 pixels. The frame is a pure function of
the small grid (``bordered_grids`` then ``upscale``), so a replay buffer may keep the grid.

Entry points: ``GridWorldEnv`` (one game, ``gymnasium.make("qarcade/GridWorld-v0")``, which adds
the 50-step ``TimeLimit``) and ``GridWorldVectorEnv`` (N games,
``gymnasium.make_vec("qarcade/GridWorld-v0", num_envs=N)``), a native
``gymnasium.vector.VectorEnv`` that truncates by itself and autoresets in
``AutoresetMode.NEXT_STEP`` by default (Gymnasium 1.x's default): the step after a truncation
ignores that copy's action and returns its first observation of a new episode, with reward 0.
``SAME_STEP`` and ``DISABLED`` are offered too.

Randomness: each copy owns a numpy Generator made by Gymnasium's seeding from its seed. The core
takes its uniforms from a per-copy buffer filled from that Generator in chunks, so N copies draw
in one numpy operation. A vector env reset with seed ``s`` seeds copy ``i`` with ``s + i``, so
copy ``i`` plays step for step like a single env reset with seed ``s + i``.

Cells are stored flat (``y * size + x``); ``info`` gives them as ``[x, y]`` pairs:
``info["hero"]`` (2,), ``info["goals"]`` (4, 2), ``info["fires"]`` (2, 2), with a leading copy
axis (and ``_hero``-style masks) in the vector env.
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

from qarcade.errors import UserError

FRAME_PX = 84
MIN_SIZE, MAX_SIZE = 3, 20
N_GOALS, N_FIRES = 4, 2
N_OBJECTS = 1 + N_GOALS + N_FIRES  # slot 0 the hero, 1..4 goals, 5..6 fires
GOAL_SLOTS = slice(1, 1 + N_GOALS)
FIRE_SLOTS = slice(1 + N_GOALS, N_OBJECTS)
SLOT_REWARD = np.array([0.0] + [1.0] * N_GOALS + [-1.0] * N_FIRES)  # (7,)
SLOT_CHANNEL = np.array([2] + [1] * N_GOALS + [0] * N_FIRES)  # blue hero, green goal, red fire
ACTION_DXDY = np.array([[0, -1], [0, 1], [-1, 0], [1, 0]])  # up, down, left, right as (dx, dy)
ACTION_NAMES = ("up", "down", "left", "right")
PARTIAL_CELLS = 3
UNIFORM_CHUNK = 256  # uniforms drawn from a copy's Generator at a time


def check_size(size: int) -> int:
    """``size`` as an int, or a UserError when the grid has no room for the 7 objects."""
    try:
        size = operator.index(size)
    except TypeError:
        raise UserError(f"gridworld size must be an integer, got {size!r}") from None
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise UserError(
            f"gridworld size must be between {MIN_SIZE} and {MAX_SIZE} (the hero, {N_GOALS} "
            f"goals and {N_FIRES} fires need {N_OBJECTS} distinct cells), got {size}"
        )
    return size


def move_table(size: int) -> np.ndarray:
    """(size*size, 4) int64: the hero's next flat cell for each cell and action (walls stop)."""
    y, x = np.divmod(np.arange(size * size), size)
    nx = np.clip(x[:, None] + ACTION_DXDY[:, 0], 0, size - 1)
    ny = np.clip(y[:, None] + ACTION_DXDY[:, 1], 0, size - 1)
    return ny * size + nx


def pixel_cells(cells: int, px: int = FRAME_PX) -> np.ndarray:
    """(px,) int64: the cell each pixel shows along one axis, ``floor(p * cells / px)``."""
    return np.arange(px) * cells // px


def cells_xy(cells: np.ndarray, size: int) -> np.ndarray:
    """Flat cells (...,) -> (..., 2) int64 ``[x, y]`` pairs."""
    return np.stack((cells % size, cells // size), axis=-1)


def bordered_grids(cells: np.ndarray, size: int) -> np.ndarray:
    """Object cells (N, 7) (hero, goals, fires) -> (N, size+2, size+2, 3) uint8 bordered grids."""
    n = cells.shape[0]
    side = size + 2
    grids = np.zeros((n, side, side, 3), np.uint8)
    grids[:, 0] = grids[:, -1] = grids[:, :, 0] = grids[:, :, -1] = 255
    y, x = np.divmod(cells, size)  # (N, 7) each
    flat = ((y + 1) * side + (x + 1)) * 3 + SLOT_CHANNEL  # (N, 7) into one grid's bytes
    grids.reshape(n, -1)[np.arange(n)[:, None], flat] = 255
    return grids


def partial_windows(grids: np.ndarray, hero_cells: np.ndarray, size: int) -> np.ndarray:
    """(N, size+2, size+2, 3) grids -> (N, 3, 3, 3): the window centred on each hero."""
    hy, hx = np.divmod(hero_cells, size)  # bordered centre is (hy+1, hx+1)
    offsets = np.arange(PARTIAL_CELLS)
    rows = (hy[:, None] + offsets)[:, :, None]  # (N, 3, 1)
    cols = (hx[:, None] + offsets)[:, None, :]  # (N, 1, 3)
    return grids[np.arange(len(grids))[:, None, None], rows, cols]


def upscale(grids: np.ndarray, px: int = FRAME_PX) -> np.ndarray:
    """(N, H, H, 3) uint8 -> (N, px, px, 3) by nearest neighbour: pixel p shows cell p*H//px."""
    n, h = grids.shape[:2]
    cell_of_px = pixel_cells(h, px)  # (px,)
    byte_cols = (cell_of_px[:, None] * 3 + np.arange(3)).reshape(-1)  # (px*3,)
    rows = grids.reshape(n, h, h * 3)[:, :, byte_cols]  # (N, H, px*3): columns scaled
    return rows[:, cell_of_px, :].reshape(n, px, px, 3)  # rows scaled


class GridCore:
    """N gridworld games as numpy arrays: the state, the rules and the frame; no Gymnasium."""

    def __init__(self, num_envs: int, size: int = 5, partial: bool = False):
        self.size = check_size(size)
        self.num_envs = int(num_envs)
        self.partial = bool(partial)
        self.moves = move_table(self.size)  # (S*S, 4)
        self.cells = np.zeros((self.num_envs, N_OBJECTS), np.int64)  # (N, 7) flat cells
        self.rngs: list[np.random.Generator | None] = [None] * self.num_envs
        self._uniforms = np.zeros((self.num_envs, UNIFORM_CHUNK))  # (N, CHUNK)
        self._cursor = np.full(self.num_envs, UNIFORM_CHUNK)  # next unused uniform per copy

    # --- randomness ---
    def set_rng(self, copy: int, rng: np.random.Generator) -> None:
        """Copy ``copy`` draws from ``rng`` from now on (its buffer is emptied)."""
        self.rngs[copy] = rng
        self._cursor[copy] = UNIFORM_CHUNK

    def _uniform(self, copies: np.ndarray) -> np.ndarray:
        """One uniform in [0, 1) for each of ``copies`` (distinct indices), (K,) float64."""
        for copy in copies[self._cursor[copies] >= UNIFORM_CHUNK]:
            if self.rngs[copy] is None:
                self.rngs[copy] = seeding.np_random(None)[0]
            self._uniforms[copy] = self.rngs[copy].random(UNIFORM_CHUNK)
            self._cursor[copy] = 0
        cursor = self._cursor[copies]
        self._cursor[copies] = cursor + 1
        return self._uniforms[copies, cursor]

    def _free_cells(self, copies: np.ndarray, occupied: np.ndarray) -> np.ndarray:
        """A uniformly random cell free of ``occupied`` (K, M) distinct cells, for each copy.

        Draw k uniform in [0, S*S - M), then walk the occupied cells in ascending order: every
        one at or below the candidate pushes it up by one, which lands on the k-th free cell.
        """
        n_free = self.size * self.size - occupied.shape[1]
        cell = (self._uniform(copies) * n_free).astype(np.int64)  # (K,)
        for taken in np.sort(occupied, axis=1).T:  # (K,) each, ascending
            cell += taken <= cell
        return cell

    # --- the rules ---
    def place(self, copies: np.ndarray) -> None:
        """Start a new game in each of ``copies``: the 7 objects one by one on free cells."""
        for slot in range(N_OBJECTS):
            self.cells[copies, slot] = self._free_cells(copies, self.cells[copies, :slot])

    def step(self, actions: np.ndarray, frozen: np.ndarray | None = None) -> np.ndarray:
        """Move every hero by ``actions`` (N,), respawn what it stepped on; rewards (N,).

        Copies where ``frozen`` (N,) bool is True are about to be placed anew: they get reward
        0 and draw nothing (their hero's move is overwritten by the placement).
        """
        hero = self.moves[self.cells[:, 0], actions]  # (N,)
        self.cells[:, 0] = hero
        hit = self.cells[:, 1:] == hero[:, None]  # (N, 6): at most one True per row
        hit_any = hit.any(axis=1)
        if frozen is not None:
            hit_any &= ~frozen
        rewards = np.zeros(self.num_envs)
        copies = np.flatnonzero(hit_any)
        if copies.size:
            slots = hit[copies].argmax(axis=1) + 1  # (K,) the slot eaten
            rewards[copies] = SLOT_REWARD[slots]
            others = self.cells[copies].copy()  # (K, 7): the eaten slot sits on the hero
            others[np.arange(copies.size), slots] = others[:, 0]
            occupied = others[:, 1:]  # the hero and the 5 objects left, distinct
            self.cells[copies, slots] = self._free_cells(copies, occupied)
        return rewards

    # --- the picture ---
    def grids(self) -> np.ndarray:
        """(N, size+2, size+2, 3) uint8: the bordered grids the frames are scaled from."""
        return bordered_grids(self.cells, self.size)

    def frames(self, partial: bool | None = None) -> np.ndarray:
        """(N, 84, 84, 3) uint8 frames: the observation (partial or full) of every copy."""
        grids = self.grids()
        if self.partial if partial is None else partial:
            grids = partial_windows(grids, self.cells[:, 0], self.size)
        return upscale(grids)

    def infos(self) -> dict[str, np.ndarray]:
        """The object cells as ``[x, y]`` pairs: hero (N, 2), goals (N, 4, 2), fires (N, 2, 2)."""
        xy = cells_xy(self.cells, self.size)  # (N, 7, 2)
        return {"hero": xy[:, 0], "goals": xy[:, GOAL_SLOTS], "fires": xy[:, FIRE_SLOTS]}


def _observation_space() -> gym.spaces.Box:
    return gym.spaces.Box(0, 255, (FRAME_PX, FRAME_PX, 3), np.uint8)


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
    directly, it never ends. ``render()`` ("rgb_array") always shows the full board, also when
    the observation is the partial view.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, size: int = 5, partial: bool = False, render_mode: str | None = None):
        if render_mode not in (None, "rgb_array"):
            raise UserError(f"gridworld render_mode must be 'rgb_array' or None, got {render_mode}")
        self.core = GridCore(1, size, partial)
        self.size, self.partial, self.render_mode = self.core.size, self.core.partial, render_mode
        self.observation_space = _observation_space()
        self.action_space = gym.spaces.Discrete(4)
        self._started = False

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None or not self._started:
            self.core.set_rng(0, self.np_random)
        self._started = True
        self.core.place(np.zeros(1, np.int64))
        return self.core.frames()[0], self._info()

    def step(self, action):
        if not self._started:
            raise UserError("call reset() before step() on the gridworld")
        reward = self.core.step(np.array([check_action(action)]))[0]
        return self.core.frames()[0], float(reward), False, False, self._info()

    def render(self):
        if self.render_mode == "rgb_array":
            return self.core.frames(partial=False)[0]
        return None

    def _info(self) -> dict[str, np.ndarray]:
        return {key: value[0] for key, value in self.core.infos().items()}


class GridWorldVectorEnv(gym.vector.VectorEnv):
    """``num_envs`` games stepped together by one ``GridCore``: a native Gymnasium vector env.

    Each copy truncates after ``max_episode_steps`` (None: never) and autoresets according to
    ``autoreset_mode`` (default ``NEXT_STEP``). ``reset(seed=s)`` seeds copy i with s + i (a
    list gives one seed per copy); ``options={"reset_mask": mask}`` resets only some copies.
    Observations are fresh arrays each call (N, 84, 84, 3) uint8; rewards (N,) float64.
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
    ):
        if operator.index(num_envs) < 1:
            raise UserError(f"num_envs must be at least 1, got {num_envs}")
        if render_mode not in (None, "rgb_array"):
            raise UserError(f"gridworld render_mode must be 'rgb_array' or None, got {render_mode}")
        if max_episode_steps is not None and max_episode_steps < 1:
            raise UserError(f"max_episode_steps must be at least 1, got {max_episode_steps}")
        self.core = GridCore(num_envs, size, partial)
        self.num_envs, self.size, self.partial = num_envs, self.core.size, self.core.partial
        self.max_episode_steps = max_episode_steps
        self.render_mode = render_mode
        self.autoreset_mode = AutoresetMode(autoreset_mode)
        self.metadata = {**self.metadata, "autoreset_mode": self.autoreset_mode}
        self.single_observation_space = _observation_space()
        self.single_action_space = gym.spaces.Discrete(4)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.elapsed_steps = np.zeros(num_envs, np.int64)  # (N,) steps in the current episode
        self._needs_reset = np.zeros(num_envs, bool)  # (N,) truncated last step (NEXT_STEP)
        self._started = False

    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict | None = None):
        mask = np.ones(self.num_envs, bool)
        if options and "reset_mask" in options:
            mask = np.asarray(options["reset_mask"])
            if mask.shape != (self.num_envs,) or mask.dtype != np.bool_:
                raise UserError(f"options['reset_mask'] must be a ({self.num_envs},) bool array")
        copies = np.flatnonzero(mask)
        if seed is not None:
            seeds = [seed + i for i in range(self.num_envs)] if isinstance(seed, int) else seed
            if len(seeds) != self.num_envs:
                raise UserError(f"reset needs {self.num_envs} seeds, got {len(seeds)}")
            for copy in copies:
                if seeds[copy] is not None:
                    self.core.set_rng(copy, seeding.np_random(seeds[copy])[0])
        self._started = True
        self.core.place(copies)
        self.elapsed_steps[copies] = 0
        self._needs_reset[copies] = False
        return self.core.frames(), self._infos()

    def step(self, actions):
        if not self._started:
            raise UserError("call reset() before step() on the gridworld vector env")
        actions = self._check_actions(actions)
        resetting = self._needs_reset if self.autoreset_mode == AutoresetMode.NEXT_STEP else None
        rewards = self.core.step(actions, resetting)
        self.elapsed_steps += 1
        if resetting is not None and resetting.any():
            copies = np.flatnonzero(resetting)
            self.core.place(copies)
            self.elapsed_steps[copies] = 0
        truncated = (
            self.elapsed_steps >= self.max_episode_steps
            if self.max_episode_steps is not None
            else np.zeros(self.num_envs, bool)
        )
        terminated = np.zeros(self.num_envs, bool)
        observations = self.core.frames()
        infos = self._infos()
        if self.autoreset_mode == AutoresetMode.SAME_STEP and truncated.any():
            copies = np.flatnonzero(truncated)
            final_obs = np.full(self.num_envs, None, dtype=object)
            final_obs[copies] = list(observations[copies])
            final_info = infos
            self.core.place(copies)
            self.elapsed_steps[copies] = 0
            observations = self.core.frames()
            infos = {
                **self._infos(),
                "final_obs": final_obs,
                "_final_obs": truncated.copy(),
                "final_info": final_info,
                "_final_info": truncated.copy(),
            }
        self._needs_reset = truncated.copy()
        return observations, rewards, terminated, truncated, infos

    def render(self):
        """A tuple of the N full-board frames (84, 84, 3) uint8, or None without a render_mode."""
        if self.render_mode == "rgb_array":
            return tuple(self.core.frames(partial=False))
        return None

    def _check_actions(self, actions) -> np.ndarray:
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,) or not np.issubdtype(actions.dtype, np.integer):
            raise UserError(
                f"actions must be {self.num_envs} integers 0..3, got shape {actions.shape} "
                f"of {actions.dtype}"
            )
        if actions.min() < 0 or actions.max() > 3:
            bad = actions[(actions < 0) | (actions > 3)][0]
            raise UserError(f"gridworld action must be 0 up, 1 down, 2 left or 3 right, got {bad}")
        return actions

    def _infos(self) -> dict[str, np.ndarray]:
        infos = self.core.infos()
        infos.update({f"_{key}": np.ones(self.num_envs, bool) for key in list(infos)})
        return infos


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
