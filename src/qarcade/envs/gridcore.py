"""The lab's pixel gridworld as numpy arrays: the rules and the picture for N games at once.

The rules are docs/gridworld.md's ("The game, exactly"): a hero, 4 goals (+1) and 2 fires
(-1) on a ``size`` x ``size`` grid; an eaten object reappears on a uniformly random free cell;
the game never ends by itself (the envs in ``qarcade.envs.gridworld`` truncate episodes).

State: ``cells`` (N, 7) int64, each copy's flat object cells ``y * size + x``, slot 0 the hero,
1..4 the goals, 5..6 the fires. Picture: the bordered grid (N, H, H, 3) uint8, H = size + 2 (or
the 3x3 window around the hero), scaled by nearest neighbour to (N, 84, 84, 3): pixel ``p``
along either axis shows cell ``floor(p * H / 84)``. A frame is a pure function of the grid
(``bordered_grids`` then ``upscale``), so a replay may keep the grid.

A step is a few whole-array numpy calls over all N copies, never a Python loop over them: with
many small arrays the cost is in the calls, not the arithmetic (docs/gridworld.md, "Speed").

Randomness: each copy owns a numpy Generator. The core buffers a row of uniforms per copy,
refilled with each copy's unused ones first, so a copy draws its Generator's stream in order
whatever the copies beside it do: copy ``i`` of a vector env plays like a single env seeded alike.
"""

from __future__ import annotations

import itertools
import operator

import numpy as np
from gymnasium.utils import seeding

from qarcade.errors import UserError

FRAME_PX = 84
MIN_SIZE, MAX_SIZE = 3, 20
N_GOALS, N_FIRES = 4, 2
N_OBJECTS = 1 + N_GOALS + N_FIRES  # slot 0 the hero, 1..4 goals, 5..6 fires
GOAL_SLOTS = slice(1, 1 + N_GOALS)
FIRE_SLOTS = slice(1 + N_GOALS, N_OBJECTS)
SLOT_REWARD = np.array([0.0] + [1.0] * N_GOALS + [-1.0] * N_FIRES)  # (7,)
OBJECT_REWARD = SLOT_REWARD[1:].copy()  # (6,) goals and fires
SLOT_CHANNEL = np.array([2] + [1] * N_GOALS + [0] * N_FIRES)  # blue hero, green goal, red fire
ACTION_DXDY = np.array([[0, -1], [0, 1], [-1, 0], [1, 0]])  # up, down, left, right as (dx, dy)
ACTION_NAMES = ("up", "down", "left", "right")
PARTIAL_CELLS = 3
OBS_TYPES = ("pixels", "grid")  # 84x84x3 frames, or the small grid they are scaled from
UNIFORM_CHUNK = 256  # uniforms drawn from a copy's Generator at a time
_RANK, _ONE = np.arange(N_OBJECTS), np.ones(N_OBJECTS, np.int64)  # made once, not per call


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


def symmetries(cells: int) -> tuple[np.ndarray, np.ndarray]:
    """The square's 8 symmetries (4 rotations, each mirrored or not), under which the game plays
    the same: its walls, its moves and its uniform placements all look alike turned. On a
    ``cells`` x ``cells`` picture (the bordered grid, or the partial window, which turns with the
    world around the hero): ``sources`` (8, cells*cells) int64, the flat cell each cell of the
    turned picture shows, and ``actions`` (8, 4) int64, the action that moves the hero in the
    turned game as each action does in the original. The identity comes first."""
    y, x = np.divmod(np.arange(cells * cells), cells)
    sources, actions = [], []
    for turn in itertools.product((False, True), repeat=3):
        tx, ty = _turned(turn, x, y, cells - 1)
        source = np.empty(cells * cells, np.int64)
        source[ty * cells + tx] = y * cells + x
        moves = np.stack(_turned(turn, ACTION_DXDY[:, 0], ACTION_DXDY[:, 1], 0), axis=1)
        sources.append(source)
        actions.append((moves[:, None] == ACTION_DXDY[None]).all(axis=2).argmax(axis=1))
    return np.array(sources), np.array(actions)


def _turned(turn: tuple[bool, bool, bool], x, y, last: int):
    """(x, y) transposed, then mirrored along y and along x as ``turn`` says: positions with
    ``last`` = cells - 1, moves with ``last`` = 0 (a mirror negates them)."""
    transpose, flip_y, flip_x = turn
    x, y = (y, x) if transpose else (x, y)
    return (last - x if flip_x else x), (last - y if flip_y else y)


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
    np.put_along_axis(grids.reshape(n, -1), flat, 255, axis=1)
    return grids


def partial_windows(grids: np.ndarray, hero_cells: np.ndarray, size: int) -> np.ndarray:
    """(N, size+2, size+2, 3) grids -> (N, 3, 3, 3): the window centred on each hero (never on
    the border, so the window lies inside the bordered grid)."""
    hy, hx = np.divmod(hero_cells, size)  # bordered centre is (hy+1, hx+1)
    offsets = np.arange(PARTIAL_CELLS)
    rows = (hy[:, None] + offsets)[:, :, None]  # (N, 3, 1)
    cols = (hx[:, None] + offsets)[:, None, :]  # (N, 1, 3)
    return grids[np.arange(len(grids))[:, None, None], rows, cols]


def upscale(grids: np.ndarray, px: int = FRAME_PX) -> np.ndarray:
    """(N, H, H, 3) uint8 -> (N, px, px, 3) by nearest neighbour: pixel p shows cell p*H//px."""
    n, h = grids.shape[:2]
    if px % h == 0:  # uniform blocks: repeat each cell across, then each row down
        return grids.repeat(px // h, axis=2).repeat(px // h, axis=1)
    cell_of_px = pixel_cells(h, px)  # (px,)
    byte_cols = (cell_of_px[:, None] * 3 + np.arange(3)).reshape(-1)  # (px*3,)
    rows = grids.reshape(n, h, h * 3)[:, :, byte_cols]  # (N, H, px*3): columns scaled
    return rows[:, cell_of_px, :].reshape(n, px, px, 3)  # rows scaled


def kth_free_cell(k: np.ndarray, taken: np.ndarray) -> np.ndarray:
    """The ``k`` (K,)-th cell (counting from 0) not among the distinct ``taken`` (K, M) cells
    of each row: k plus the number of taken cells before it, (K,) int64.

    Taken cell j in ascending order (t_j) lies before it exactly when the free cells before
    t_j, which are t_j - j, are at most k. With k uniform in [0, S*S - M) it is a uniformly
    random free cell.
    """
    m = taken.shape[1]
    rank, one = (_RANK[:m], _ONE[:m]) if m <= N_OBJECTS else (np.arange(m), np.ones(m, np.int64))
    free_before = np.sort(taken, axis=1)  # (K, M)
    free_before -= rank
    cell = (free_before <= k[:, None]) @ one  # (K,) taken cells before it; matmul beats sum
    cell += k
    return cell


class GridCore:
    """N gridworld games as numpy arrays: the state ``cells`` (N, 7), the rules and the frame;
    no Gymnasium. The index tables (moves, pixel offsets) are computed once, here."""

    def __init__(
        self, num_envs: int, size: int = 5, partial: bool = False, obs_type: str = "pixels"
    ):
        self.size = check_size(size)
        self.num_envs = n = int(num_envs)
        self.partial = bool(partial)
        if obs_type not in OBS_TYPES:
            raise UserError(f"gridworld obs_type must be one of {OBS_TYPES}, got {obs_type!r}")
        self.obs_type = obs_type
        self.moves = move_table(self.size)  # (S*S, 4)
        self.cells = np.zeros((n, N_OBJECTS), np.int64)  # (N, 7) flat cells
        self.rngs: list[np.random.Generator | None] = [None] * n
        # Each copy's row of uniforms and the flat index of its next unused one; every copy has
        # at least ``_headroom`` unused (a step uses at most 1 per copy).
        self._uniforms = np.zeros((n, UNIFORM_CHUNK))  # (N, CHUNK)
        self._row_start = np.arange(n) * UNIFORM_CHUNK  # (N,)
        self._next = self._row_start + UNIFORM_CHUNK  # (N,) all used up: refill on first use
        self._headroom = 0
        self._respawn_choices = self.size * self.size - (N_OBJECTS - 1)  # free cells at respawn
        self._respawn_k = np.zeros(n * UNIFORM_CHUNK, np.int64)  # floor(uniform * choices)
        self._xy = cells_xy(np.arange(self.size * self.size), self.size)  # (S*S, 2)
        # Full view, drawn at frame width: (N, H, 84*3) rows, each repeated down its block.
        # With uniform blocks (84 % H == 0) a block's pixel row is one void item, so one np.put
        # paints every object of every copy; else 255 goes to each pixel column of the cell.
        side = self.size + 2
        self._px_cell = pixel_cells(side)  # (84,) bordered cell shown by each pixel row/column
        self._block_px = FRAME_PX // side if FRAME_PX % side == 0 else None
        empty = np.full((side, side, 3), 255, np.uint8)
        empty[1:-1, 1:-1] = 0
        self._empty_rows = empty[:, self._px_cell].reshape(side, FRAME_PX * 3)  # (H, 252)
        self._copy_index = np.arange(n)[:, None]  # (N, 1)
        y, x = np.divmod(np.arange(self.size * self.size), self.size)
        self._empty_grid = empty
        self._grid_byte = ((y + 1) * side + (x + 1)) * 3  # (S*S,) red byte of a cell in a grid
        self._grid_base = np.arange(n)[:, None] * side * side * 3 + SLOT_CHANNEL  # (N, 7)
        # Partial view: a colour code per bordered cell, looked up as 28-pixel block rows.
        self._cell_index = (y + 1) * side + (x + 1)  # (S*S,) cell in the bordered H*H grid
        self._empty_codes = (empty[:, :, 0] // 255 * 7).reshape(-1)  # (H*H,) 7 = white
        self._slot_code = (1 << SLOT_CHANNEL).astype(np.uint8)  # (7,) hero 4, goal 2, fire 1
        palette = ((np.arange(8)[:, None] >> np.arange(3)) & 1).astype(np.uint8) * 255  # (8, 3)
        self._code_block = np.tile(palette, FRAME_PX // PARTIAL_CELLS)  # (8, 84)
        offsets = np.arange(PARTIAL_CELLS)
        self._window_of_hero = (
            (y[:, None, None] + offsets[:, None]) * side + (x[:, None, None] + offsets)
        ).reshape(len(y), -1)  # (S*S, 9): bordered cells of the window around a hero's cell
        if self._block_px is not None:
            colours = np.zeros((N_OBJECTS, 3), np.uint8)  # (7, 3) RGB of each slot
            colours[np.arange(N_OBJECTS), SLOT_CHANNEL] = 255
            self._slot_block = np.tile(colours, self._block_px)  # (7, 3*block) one block row
            self._block_dtype = np.dtype(f"V{3 * self._block_px}")  # one block's pixel row
            self._slot_item = self._slot_block.view(self._block_dtype).reshape(-1)  # (7,)
            self._slot_paint = np.repeat(self._slot_item[:, None], self._block_px, axis=1)
            self._black_item = np.zeros(1, self._block_dtype)
            # fresh frames: rows kept between steps and repainted where objects were and are,
            # so that the frames are the one large array a step allocates
            self._rows = np.tile(self._empty_rows, (n, 1, 1))  # (N, H, 252), H*H items a copy
            self._copy_row_items = np.arange(n)[:, None] * side * side  # (N, 1)
            self._rows_at = np.repeat(self._copy_row_items + side + 1, N_OBJECTS, axis=1)
            # kept frames: 84*H items a copy; a cell's block is its item in block_px rows
            self._frame_items = FRAME_PX * side
            block_rows = ((y + 1) * self._block_px)[:, None] + np.arange(self._block_px)
            self._frame_item = block_rows * side + (x + 1)[:, None]  # (S*S, block)
        else:
            block_px = [np.flatnonzero(self._px_cell == col) for col in range(side)]
            widest = max(len(cols) for cols in block_px)
            self._paint = np.stack(
                [
                    (r + 1) * FRAME_PX * 3 + np.resize(block_px[c + 1], widest) * 3
                    for r, c in zip(y, x, strict=True)
                ]
            )  # (S*S, widest): byte offsets of a cell's red pixels in one copy's rows
            self._paint_base = (
                np.arange(n)[:, None, None] * side * FRAME_PX * 3 + SLOT_CHANNEL[None, :, None]
            )  # (N, 7, 1): the copy's rows and the slot's channel
        # Kept frames (``kept_frames``): a persistent buffer and the cells drawn in it.
        self._kept: np.ndarray | None = None  # (N, 84, 84, 3) uint8
        self._kept_cells = np.zeros((n, N_OBJECTS), np.int64)  # (N, 7)

    # --- randomness ---
    def set_rng(self, copy: int, rng: np.random.Generator) -> None:
        """Copy ``copy`` draws from ``rng`` from now on (its buffered uniforms are dropped)."""
        self.rngs[copy] = rng
        self._next[copy] = (copy + 1) * UNIFORM_CHUNK  # its row counts as used up
        self._headroom = 0

    def _refill(self) -> None:
        """Top up every copy's row of uniforms from its Generator, keeping the unused ones first:
        ``random(a)`` then ``random(b)`` draws what ``random(a + b)`` would, so a copy's uniforms
        are its stream in order whenever the refill comes."""
        used = self._next - self._row_start  # (N,)
        for copy in np.flatnonzero(used):
            if self.rngs[copy] is None:
                self.rngs[copy] = seeding.np_random(None)[0]
            row, u = self._uniforms[copy], used[copy]
            row[: UNIFORM_CHUNK - u] = row[u:]
            row[UNIFORM_CHUNK - u :] = self.rngs[copy].random(u)
        self._next[:] = self._row_start
        self._respawn_k = (self._uniforms * self._respawn_choices).astype(np.int64).reshape(-1)
        self._headroom = UNIFORM_CHUNK

    def _uniforms_of(self, copies: np.ndarray, count: int) -> np.ndarray:
        """The next ``count`` uniforms in [0, 1) of each of ``copies`` (distinct), used up:
        (K, count) float64."""
        if self._headroom < count:
            self._refill()
        self._headroom -= count
        at = self._next[copies]  # (K,)
        self._next[copies] = at + count
        return self._uniforms.reshape(-1).take(at[:, None] + np.arange(count))

    # --- the state, for checkpoints ---
    def snapshot(self) -> dict:
        """What ``restore`` needs to continue draw for draw: the cells, each copy's Generator
        state and its buffered uniforms, as arrays and plain values (the picture is redrawn)."""
        return {
            "cells": self.cells.copy(),
            "rngs": [None if rng is None else rng.bit_generator.state for rng in self.rngs],
            "uniforms": self._uniforms.copy(),
            "next": self._next.copy(),
            "headroom": int(self._headroom),
            "respawn_k": self._respawn_k.copy(),
        }

    def restore(self, state: dict) -> None:
        """Puts back what ``snapshot`` read (a core of the same size and number of copies)."""
        arrays = {"cells": self.cells, "uniforms": self._uniforms, "next": self._next,
                  "respawn_k": self._respawn_k}  # fmt: skip
        for name, array in arrays.items():
            if np.shape(state[name]) != array.shape:
                raise ValueError(f"gridworld snapshot does not fit: {name} {np.shape(state[name])}")
        if len(state["rngs"]) != self.num_envs:
            raise ValueError("gridworld snapshot does not fit: another number of copies")
        self.rngs = [None if rng is None else _generator(rng) for rng in state["rngs"]]
        self.cells[:] = state["cells"]
        self._uniforms[:] = state["uniforms"]
        self._next[:] = state["next"]
        self._respawn_k = np.array(state["respawn_k"], np.int64)
        self._headroom = int(state["headroom"])

    # --- the rules ---
    def place(self, copies: np.ndarray) -> None:
        """Start a new game in each of ``copies``: the 7 objects one by one, each on a
        uniformly random cell free of the ones before (slot s picks among S*S - s cells)."""
        if len(copies) == 0:
            return
        choices = self.size * self.size - np.arange(N_OBJECTS)  # (7,)
        k = (self._uniforms_of(copies, N_OBJECTS) * choices).astype(np.int64)  # (K, 7)
        cells = np.empty((len(copies), N_OBJECTS), np.int64)  # (K, 7)
        for slot in range(N_OBJECTS):
            cells[:, slot] = kth_free_cell(k[:, slot], cells[:, :slot])
        self.cells[copies] = cells

    def step(self, actions: np.ndarray, frozen: np.ndarray | None = None) -> np.ndarray:
        """Move every hero by ``actions`` (N,) in 0..3, respawn what it stepped on; rewards (N,).

        Copies where ``frozen`` (N,) bool is True are about to be placed anew: they get reward
        0 and draw nothing (their hero's move is overwritten by the placement).

        The respawn cell is computed for every copy from its next uniform, read without being
        used up, and kept (and the uniform used up) only where the hero ate: the same draw, from
        the same stream, as drawing for the eaters only, in whole-array calls.
        """
        cells = self.cells
        hero = self.moves[cells[:, 0], actions]  # (N,)
        cells[:, 0] = hero
        objects = cells[:, 1:]  # (N, 6) view: goals, fires
        hit = objects == hero[:, None]  # (N, 6): at most one True per row
        if frozen is not None:
            hit[frozen] = False
        rewards = hit @ OBJECT_REWARD  # (N,) float64: +1 goal, -1 fire, 0
        if self._headroom < 1:
            self._refill()
        self._headroom -= 1
        if np.count_nonzero(rewards):
            # An eater's 6 objects are the 6 taken cells: the eaten one shares the hero's cell.
            k = self._respawn_k.take(self._next)  # (N,) uniform in [0, S*S - 6), peeked
            born = kth_free_cell(k, objects)  # (N,)
            np.copyto(objects, born[:, None], where=hit)
            self._next += rewards != 0  # the eaters used their uniform
        return rewards

    # --- the picture ---
    def grids(self) -> np.ndarray:
        """(N, size+2, size+2, 3) uint8: the bordered grids the frames are scaled from.

        Equal to ``bordered_grids(cells, size)``, with the index arithmetic done once.
        """
        grids = np.empty((self.num_envs, *self._empty_grid.shape), np.uint8)
        grids[:] = self._empty_grid
        np.put(grids, self._grid_byte[self.cells] + self._grid_base, 255)  # (N, 7) bytes
        return grids

    def windows(self) -> np.ndarray:
        """(N, 3, 3, 3) uint8: the partial views, ``partial_windows(grids(), hero, size)``."""
        cells = self.grids().reshape(self.num_envs, -1, 3)  # (N, H*H, 3)
        window = cells[self._copy_index, self._window_of_hero[self.cells[:, 0]]]  # (N, 9, 3)
        return window.reshape(self.num_envs, PARTIAL_CELLS, PARTIAL_CELLS, 3)

    def observations(self, copy: bool = True) -> np.ndarray:
        """What the agents see: ``frames()``, or with ``obs_type="grid"`` the small grids
        (N, H, H, 3) (H = size+2, or 3 for the partial view) that ``upscale`` turns into them.

        Always a fresh array, except with ``copy=False`` for the full view at a size whose
        blocks are uniform: then ``kept_frames()``, the core's buffer, overwritten next call
        (``copy=True`` redraws: drawing a frame is cheaper than copying the buffer).
        """
        if self.obs_type == "pixels":
            if not copy and not self.partial and self._block_px is not None:
                return self.kept_frames()
            return self.frames()
        if self.partial:
            return self.windows()
        return self.grids()

    def frames(self, partial: bool | None = None) -> np.ndarray:
        """(N, 84, 84, 3) uint8 frames: the observation (partial or full) of every copy.

        Equal to ``upscale(grids())`` (or of the partial windows); the full view is drawn
        straight at frame width and repeated down, which writes each frame byte once.
        """
        n, side = self.num_envs, self.size + 2
        if self.partial if partial is None else partial:
            # colour codes (bit 0 red, 1 green, 2 blue) of every bordered cell, the 9 codes
            # around each hero, then each code's 28-pixel block row
            codes = np.tile(self._empty_codes, n)  # (N*H*H,)
            first = self._copy_index * (side * side)  # (N, 1) each copy's first code
            np.put(codes, self._cell_index.take(self.cells) + first, self._slot_code)  # (N, 7)
            window = codes.take(self._window_of_hero.take(self.cells[:, 0], axis=0) + first)
            rows = self._code_block.take(window, axis=0)  # (N, 9, 84)
            rows = rows.reshape(n, PARTIAL_CELLS, FRAME_PX * 3)
            frames = rows.repeat(FRAME_PX // PARTIAL_CELLS, axis=1)  # (N, 84, 252)
            return frames.reshape(n, FRAME_PX, FRAME_PX, 3)
        if self._block_px is not None:
            items = self._rows.view(self._block_dtype).reshape(-1)  # (N*H*H,) block rows
            at = self._cell_index.take(self.cells) + self._copy_row_items  # (N, 7)
            np.put(items, self._rows_at, self._black_item)  # blank the objects drawn last...
            np.put(items, at, self._slot_item)  # ...draw them now: item i of at gets slot i % 7
            self._rows_at = at
            frames = np.repeat(self._rows, self._block_px, axis=1)  # (N, 84, 252)
            return frames.reshape(n, FRAME_PX, FRAME_PX, 3)
        rows = np.empty((n, side, FRAME_PX * 3), np.uint8)  # (N, H, 252)
        rows[:] = self._empty_rows
        np.put(rows, self._paint[self.cells] + self._paint_base, 255)  # (N, 7, widest)
        return rows[:, self._px_cell].reshape(n, FRAME_PX, FRAME_PX, 3)  # rows scaled down

    def kept_frames(self) -> np.ndarray:
        """(N, 84, 84, 3) uint8 full-view frames in a buffer the core keeps and reuses.

        Equal to ``frames(partial=False)``, but only the cells that changed since the last call
        are repainted: each moved object's old block is blanked and its new block painted (all
        blanks first, so a cell one object left and another entered ends painted). The buffer is
        returned itself and overwritten by the next call. Needs uniform blocks (84 % (size+2) == 0).
        """
        if self._kept is None:
            self._kept = self.frames(partial=False)
            self._kept_cells[:] = self.cells
            return self._kept
        items = self._kept.reshape(-1).view(self._block_dtype)  # (N*84*H,) cell block rows
        copies, slots = np.nonzero(self.cells != self._kept_cells)  # (K,) each
        if copies.size:
            left, entered = self._kept_cells[copies, slots], self.cells[copies, slots]  # (K,)
            first = (copies * self._frame_items)[:, None]  # (K, 1) each copy's first item
            np.put(items, self._frame_item.take(left, axis=0) + first, self._black_item)
            paint = self._slot_paint.take(slots, axis=0)  # (K, block)
            np.put(items, self._frame_item.take(entered, axis=0) + first, paint)  # (K, block)
            np.copyto(self._kept_cells, self.cells)
        return self._kept

    def infos(self) -> dict[str, np.ndarray]:
        """The object cells as ``[x, y]`` pairs: hero (N, 2), goals (N, 4, 2), fires (N, 2, 2)."""
        xy = self._xy.take(self.cells, axis=0)  # (N, 7, 2); take: faster than xy[cells]
        return {"hero": xy[:, 0], "goals": xy[:, GOAL_SLOTS], "fires": xy[:, FIRE_SLOTS]}


_BIT_GENERATORS = {"PCG64": np.random.PCG64, "PCG64DXSM": np.random.PCG64DXSM,
                   "MT19937": np.random.MT19937, "Philox": np.random.Philox,
                   "SFC64": np.random.SFC64}  # fmt: skip


def _generator(state: dict) -> np.random.Generator:
    """A numpy Generator in the saved ``bit_generator.state``."""
    kind = _BIT_GENERATORS.get(state.get("bit_generator"))
    if kind is None:
        raise ValueError(f"unknown bit generator {state.get('bit_generator')!r}")
    rng = np.random.Generator(kind())
    rng.bit_generator.state = state
    return rng
