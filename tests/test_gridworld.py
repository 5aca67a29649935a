"""The pixel gridworld against the rules of docs/gridworld.md, checked from the outside over long
random runs.

The expected pictures are rebuilt here with plain loops from ``info`` (not with the module's own
rendering functions), so a rendering bug cannot hide behind itself.
"""

import re
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

import qarcade  # noqa: F401 - registers the environments
from qarcade.envs.gridworld import (
    UNIFORM_CHUNK,
    GridCore,
    GridWorldEnv,
    GridWorldVectorEnv,
    bordered_grids,
    kth_free_cell,
    parse_actions,
    partial_windows,
    play_actions,
    symmetries,
    upscale,
)
from qarcade.errors import UserError

ENV_ID = "qarcade/GridWorld-v0"
DXDY = {0: (0, -1), 1: (0, 1), 2: (-1, 0), 3: (1, 0)}  # up, down, left, right


def expected_grid(hero, goals, fires, size):
    """(size+2, size+2, 3) bordered grid drawn cell by cell from [x, y] pairs."""
    grid = np.zeros((size + 2, size + 2, 3), np.uint8)
    for y in range(size + 2):
        for x in range(size + 2):
            if x in (0, size + 1) or y in (0, size + 1):
                grid[y, x] = 255
    for cells, channel in ((goals, 1), (fires, 0), ([hero], 2)):
        for x, y in cells:
            grid[y + 1, x + 1, channel] = 255
    return grid


def expected_frame(grid):
    """84x84x3: pixel (p, q) shows cell (p*H//84, q*H//84) of an H x H grid."""
    cell = np.arange(84) * grid.shape[0] // 84  # (84,) the cell each pixel row/column shows
    return grid[cell[:, None], cell[None, :]]


def expected_partial_grid(grid, hero):
    x, y = hero
    return grid[y : y + 3, x : x + 3]  # bordered rows y..y+2 centre on the hero at y+1


def assert_valid_layout(hero, goals, fires, size):
    cells = [tuple(hero), *map(tuple, goals), *map(tuple, fires)]
    assert len(goals) == 4 and len(fires) == 2
    assert len(set(cells)) == 7, f"objects overlap: {cells}"
    assert all(0 <= x < size and 0 <= y < size for x, y in cells)


def run_rules(num_envs, steps, size, seed, partial=False):
    """Step a vector env with random actions and check every rule at every step."""
    env = GridWorldVectorEnv(num_envs, size=size, partial=partial, max_episode_steps=None)
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed)
    counts = {"goal": 0, "fire": 0, "wall": 0, "respawn_cells": set()}
    for _ in range(steps):
        actions = rng.integers(0, 4, num_envs)
        prev = {k: info[k].copy() for k in ("hero", "goals", "fires")}
        obs, rewards, terminated, truncated, info = env.step(actions)
        assert not terminated.any() and not truncated.any()
        assert obs.dtype == np.uint8 and obs.shape == (num_envs, 84, 84, 3)
        for i in range(num_envs):
            hero, goals, fires = info["hero"][i], info["goals"][i], info["fires"][i]
            assert_valid_layout(hero, goals, fires, size)
            dx, dy = DXDY[int(actions[i])]
            px, py = prev["hero"][i]
            want = (min(max(px + dx, 0), size - 1), min(max(py + dy, 0), size - 1))
            assert tuple(hero) == want
            counts["wall"] += want == (px, py)
            prev_goals = {tuple(c) for c in prev["goals"][i]}
            prev_fires = {tuple(c) for c in prev["fires"][i]}
            new_goals = {tuple(c) for c in goals}
            new_fires = {tuple(c) for c in fires}
            occupied_before = prev_goals | prev_fires | {want}
            if want in prev_goals:
                assert rewards[i] == 1.0
                counts["goal"] += 1
                assert new_fires == prev_fires
                (born,) = new_goals - prev_goals
                assert new_goals - {born} == prev_goals - {want}
                assert born not in occupied_before  # free of every object, the hero included
                counts["respawn_cells"].add(born)
            elif want in prev_fires:
                assert rewards[i] == -1.0
                counts["fire"] += 1
                assert new_goals == prev_goals
                (born,) = new_fires - prev_fires
                assert new_fires - {born} == prev_fires - {want}
                assert born not in occupied_before
                counts["respawn_cells"].add(born)
            else:
                assert rewards[i] == 0.0
                assert new_goals == prev_goals and new_fires == prev_fires
            grid = expected_grid(hero, goals, fires, size)
            if partial:
                grid = expected_partial_grid(grid, hero)
            np.testing.assert_array_equal(obs[i], expected_frame(grid))
    return counts


def test_rules_hold_over_a_long_random_run():
    counts = run_rules(num_envs=8, steps=1000, size=5, seed=0)
    # the run exercised every branch: goals, fires, walls, and respawns all over the board
    assert counts["goal"] > 50 and counts["fire"] > 20 and counts["wall"] > 50
    assert len(counts["respawn_cells"]) == 25


def test_partial_view_is_the_3x3_window_around_the_hero():
    counts = run_rules(num_envs=4, steps=150, size=5, seed=1, partial=True)
    assert counts["goal"] > 0 and counts["wall"] > 0


@pytest.mark.parametrize("size", range(3, 21))
def test_every_size_from_3_to_20_plays_by_the_rules(size):
    run_rules(num_envs=2, steps=100, size=size, seed=size)


def test_lab_size_cells_are_12_pixel_blocks_and_partial_cells_28():
    env = GridWorldEnv(size=5)
    obs, info = env.reset(seed=5)
    x, y = info["hero"]
    block = obs[12 * (y + 1) : 12 * (y + 2), 12 * (x + 1) : 12 * (x + 2)]
    assert (block == [0, 0, 255]).all()
    partial, _ = GridWorldEnv(size=5, partial=True).reset(seed=5)
    assert (partial[28:56, 28:56] == [0, 0, 255]).all()  # the hero is the centre block


def test_single_env_from_make_truncates_at_50_and_never_terminates():
    env = gym.make(ENV_ID)
    rng = np.random.default_rng(2)
    for episode in range(3):
        env.reset(seed=episode)
        for t in range(1, 51):
            _, _, terminated, truncated, _ = env.step(int(rng.integers(4)))
            assert not terminated
            assert truncated == (t == 50)
    assert gym.make(ENV_ID, max_episode_steps=7).spec.max_episode_steps == 7


def test_bare_env_never_ends():
    env = GridWorldEnv()
    env.reset(seed=0)
    for _ in range(200):
        _, _, terminated, truncated, _ = env.step(0)
        assert not terminated and not truncated


def test_reset_places_objects_uniformly():
    core = GridCore(2000, size=5)
    for copy in range(core.num_envs):
        core.set_rng(copy, np.random.default_rng(copy))
    core.place(np.arange(core.num_envs))
    for slot in (0, 1, 6):  # the hero, the first goal, the last fire
        counts = np.bincount(core.cells[:, slot], minlength=25)
        chi2 = ((counts - 80) ** 2 / 80).sum()  # 24 degrees of freedom
        assert chi2 < 60, (slot, counts)


def test_respawn_is_uniform_over_free_cells():
    """3000 copies of one 3x3 layout; each hero steps right onto a goal, which must reappear
    uniformly on the 3 cells free of every object (the hero's new cell included)."""
    core = GridCore(3000, size=3)
    for copy in range(core.num_envs):
        core.set_rng(copy, np.random.default_rng(copy))
    core.cells[:] = [0, 1, 2, 4, 5, 7, 8]  # hero at 0, goals 1 2 4 5, fires 7 8; free: 3, 6
    rewards = core.step(np.full(core.num_envs, 3))  # right: onto the goal at 1
    assert (rewards == 1.0).all() and (core.cells[:, 0] == 1).all()
    np.testing.assert_array_equal(core.cells[:, 2:], np.tile([2, 4, 5, 7, 8], (3000, 1)))
    counts = np.bincount(core.cells[:, 1], minlength=9)
    assert set(np.flatnonzero(counts)) == {0, 3, 6}
    assert all(900 < counts[c] < 1100 for c in (0, 3, 6))


def test_kth_free_cell_counts_past_the_taken_cells():
    rng = np.random.default_rng(0)
    for m in (0, 1, 6, 7, 12):
        taken = np.stack([rng.permutation(25)[:m] for _ in range(50)]).reshape(50, m)
        k = rng.integers(0, 25 - m, 50)
        want = [[c for c in range(25) if c not in row][i] for row, i in zip(taken, k, strict=True)]
        np.testing.assert_array_equal(kth_free_cell(k, taken), want)


def step_pair(vector, singles, actions, single_needs_reset):
    """Step the vector env and the single envs alike (NEXT_STEP: reset the step after)."""
    obs, rewards, terminated, truncated, info = vector.step(actions)
    for i, env in enumerate(singles):
        if single_needs_reset[i]:
            s_obs, s_info = env.reset()
            s_reward, s_trunc = 0.0, False
        else:
            s_obs, s_reward, _, s_trunc, s_info = env.step(int(actions[i]))
        single_needs_reset[i] = s_trunc
        np.testing.assert_array_equal(s_obs, obs[i])
        assert s_reward == rewards[i] and s_trunc == truncated[i]
        for key in ("hero", "goals", "fires"):
            np.testing.assert_array_equal(s_info[key], info[key][i])


@pytest.mark.parametrize("partial, copy", [(False, True), (True, True), (False, False)])
def test_single_and_vector_agree_step_for_step(partial, copy):
    n = 6
    vector = gym.make_vec(ENV_ID, num_envs=n, partial=partial, copy=copy)
    assert isinstance(vector.unwrapped, GridWorldVectorEnv)
    assert vector.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    singles = [gym.make(ENV_ID, partial=partial) for _ in range(n)]
    obs, info = vector.reset(seed=100)
    for i, env in enumerate(singles):
        s_obs, _ = env.reset(seed=100 + i)
        np.testing.assert_array_equal(s_obs, obs[i])
    rng = np.random.default_rng(3)
    needs_reset = [False] * n
    for _ in range(130):  # two truncations and autoresets per copy
        step_pair(vector, singles, rng.integers(0, 4, n), needs_reset)


def test_native_vector_env_matches_gymnasiums_sync_vector_env():
    native = gym.make_vec(ENV_ID, num_envs=3)
    sync = gym.make_vec(ENV_ID, num_envs=3, vectorization_mode="sync")
    a_obs, _ = native.reset(seed=9)
    b_obs, _ = sync.reset(seed=9)
    np.testing.assert_array_equal(a_obs, b_obs)
    rng = np.random.default_rng(4)
    for _ in range(110):
        actions = rng.integers(0, 4, 3)
        a, b = native.step(actions), sync.step(actions)
        for x, y in zip(a[:4], b[:4], strict=True):
            np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(a[4]["hero"], b[4]["hero"])


def test_next_step_autoreset_starts_a_new_episode_the_step_after_truncation():
    env = GridWorldVectorEnv(2, max_episode_steps=5)
    env.reset(seed=0)
    for _ in range(4):
        _, _, _, truncated, _ = env.step(np.array([0, 1]))
        assert not truncated.any()
    final_obs, _, _, truncated, _ = env.step(np.array([0, 1]))
    assert truncated.all()
    obs, rewards, terminated, truncated, info = env.step(np.array([3, 3]))  # actions ignored
    assert not truncated.any() and not terminated.any() and (rewards == 0).all()
    fresh = GridWorldEnv()
    fresh.reset(seed=0)
    for _ in range(5):
        fresh.step(0)
    np.testing.assert_array_equal(fresh.reset()[0], obs[0])  # copy 0's next episode


def test_same_step_autoreset_returns_final_obs_in_info():
    same = GridWorldVectorEnv(2, max_episode_steps=3, autoreset_mode="SameStep")
    nxt = GridWorldVectorEnv(2, max_episode_steps=3)
    same.reset(seed=7)
    nxt.reset(seed=7)
    for _ in range(3):
        s_obs, _, _, s_trunc, s_info = same.step(np.array([2, 3]))
        n_obs, *_ = nxt.step(np.array([2, 3]))
    assert s_trunc.all() and s_info["_final_obs"].all()
    np.testing.assert_array_equal(np.stack(s_info["final_obs"]), n_obs)
    reset_obs, *_ = nxt.step(np.array([0, 0]))
    np.testing.assert_array_equal(s_obs, reset_obs)


def test_copies_play_their_own_stream_across_buffer_refills():
    """Each copy plays like a lone env seeded alike, over several refills of the uniform
    buffer (UNIFORM_CHUNK steps each), although copies eat (and so draw) at different rates
    and some are reset mid-run: a refill must keep every copy's unused uniforms first."""
    n, steps = 5, 3 * UNIFORM_CHUNK
    vector = GridWorldVectorEnv(n, max_episode_steps=None)
    singles = [GridWorldEnv() for _ in range(n)]
    _, info = vector.reset(seed=40)
    for i, env in enumerate(singles):
        env.reset(seed=40 + i)
    rng = np.random.default_rng(5)
    draws = np.zeros(n, int)
    for step in range(steps):
        if step % 97 == 96:  # copies 1 and 3 start over (7 draws each), the others play on
            mask = np.arange(n) % 2 == 1
            _, info = vector.reset(options={"reset_mask": mask})
            for i in np.flatnonzero(mask):
                singles[i].reset()
        actions = rng.integers(0, 4, n)
        _, rewards, _, truncated, info = vector.step(actions)
        assert not truncated.any()
        draws += rewards != 0
        for i, env in enumerate(singles):
            _, reward, _, _, s_info = env.step(int(actions[i]))
            assert reward == rewards[i]
            for key in ("hero", "goals", "fires"):
                np.testing.assert_array_equal(s_info[key], info[key][i])
    assert draws.min() > UNIFORM_CHUNK // 4 and draws.max() > draws.min()  # unequal rates


def test_each_copy_truncates_after_its_own_max_episode_steps():
    """Truncation is counted per copy, also when copies were reset at different steps."""
    for mode in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP, AutoresetMode.DISABLED):
        env = GridWorldVectorEnv(3, max_episode_steps=4, autoreset_mode=mode)
        env.reset(seed=2)
        age = np.zeros(3, int)  # steps in the current episode, counted here
        pending = np.zeros(3, bool)  # NEXT_STEP: truncated last step, reset by this one
        for step in range(25):
            if step in (2, 9):
                env.reset(options={"reset_mask": np.array([False, True, step == 9])})
                age[1] = 0
                age[2] = 0 if step == 9 else age[2]
                pending[1] = False
                pending[2] = False if step == 9 else pending[2]
            _, _, _, truncated, _ = env.step(np.zeros(3, np.int64))
            age = np.where(pending, 0, age + 1)
            want = age >= 4
            np.testing.assert_array_equal(truncated, want, err_msg=f"{mode} step {step}")
            if mode == AutoresetMode.SAME_STEP:
                age[want] = 0
            pending = want if mode == AutoresetMode.NEXT_STEP else pending
        assert mode != AutoresetMode.DISABLED or truncated[0]  # stays truncated, never reset


def test_reset_mask_resets_only_chosen_copies():
    env = GridWorldVectorEnv(3)
    env.reset(seed=1)
    before = env.step(np.array([0, 0, 0]))[4]["hero"].copy()
    _, info = env.reset(options={"reset_mask": np.array([False, True, False])})
    np.testing.assert_array_equal(info["hero"][[0, 2]], before[[0, 2]])
    assert list(env.elapsed_steps) == [1, 0, 1]


def test_same_seed_same_game_and_different_seeds_differ():
    a, b = GridWorldEnv(), GridWorldEnv()
    np.testing.assert_array_equal(a.reset(seed=11)[0], b.reset(seed=11)[0])
    layouts = {GridWorldEnv().reset(seed=s)[1]["goals"].tobytes() for s in range(20)}
    assert len(layouts) > 15


@pytest.mark.parametrize(
    "kwargs", [{}, {"partial": True}, {"size": 3}, {"size": 20}, {"obs_type": "grid"}]
)
def test_gymnasium_env_checker_passes(kwargs):
    env = gym.make(ENV_ID, render_mode="rgb_array", **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)
    shape = (7, 7, 3) if kwargs.get("obs_type") == "grid" else (84, 84, 3)
    assert env.observation_space == gym.spaces.Box(0, 255, shape, np.uint8)
    assert env.action_space == gym.spaces.Discrete(4)


def test_render_shows_the_full_board_even_with_the_partial_view():
    env = GridWorldEnv(partial=True, render_mode="rgb_array")
    _, info = env.reset(seed=2)
    grid = expected_grid(info["hero"], info["goals"], info["fires"], 5)
    np.testing.assert_array_equal(env.render(), expected_frame(grid))


@pytest.mark.parametrize("size", [2, 21, 0])
def test_size_without_room_is_a_clear_error(size):
    with pytest.raises(UserError, match="between 3 and 20"):
        gym.make(ENV_ID, size=size)
    with pytest.raises(UserError, match="between 3 and 20"):
        gym.make_vec(ENV_ID, num_envs=2, size=size)


@pytest.mark.parametrize("action", [4, -1, 1.5, "up"])
def test_action_outside_0_to_3_is_a_clear_error(action):
    env = GridWorldEnv()
    env.reset(seed=0)
    with pytest.raises(UserError, match="0..3|0 up"):
        env.step(action)
    vector = GridWorldVectorEnv(2)
    vector.reset(seed=0)
    with pytest.raises(UserError):
        vector.step(np.array([0, action]) if isinstance(action, int) else [action, action])


def test_play_actions_returns_frames_and_total_reward():
    actions = [3, 3, 1, 0, 2, 2, 1, 1] * 3
    episode = play_actions(actions, seed=4)
    assert episode.frames.shape == (len(actions) + 1, 84, 84, 3)
    env = gym.make(ENV_ID, render_mode="rgb_array")
    env.reset(seed=4)
    rewards = [env.step(a)[1] for a in actions]
    assert episode.total_reward == sum(rewards)
    np.testing.assert_array_equal(episode.frames[-1], env.render())


def test_play_actions_stops_at_truncation():
    episode = play_actions([0] * 60, seed=0)
    assert episode.actions_played == 50 and episode.truncated
    assert len(episode.frames) == 51


def test_parse_actions():
    assert parse_actions("3,3,1,0") == [3, 3, 1, 0]
    assert parse_actions("up, left,right ,down") == [0, 2, 3, 1]
    with pytest.raises(UserError):
        parse_actions("3,x")
    with pytest.raises(UserError):
        parse_actions("3,4")


@pytest.mark.parametrize("size, partial", [(5, False), (5, True), (6, False), (13, True)])
def test_grid_observations_upscale_to_the_pixel_observations(size, partial):
    pixels = GridWorldVectorEnv(3, size=size, partial=partial, max_episode_steps=20)
    grids = GridWorldVectorEnv(3, size=size, partial=partial, max_episode_steps=20, obs_type="grid")
    side = 3 if partial else size + 2
    assert grids.single_observation_space.shape == (side, side, 3)
    rng = np.random.default_rng(size)
    p_obs, _ = pixels.reset(seed=5)
    g_obs, _ = grids.reset(seed=5)
    for _ in range(45):
        np.testing.assert_array_equal(upscale(g_obs), p_obs)
        actions = rng.integers(0, 4, 3)
        p_obs, p_rew, _, p_trunc, _ = pixels.step(actions)
        g_obs, g_rew, _, g_trunc, _ = grids.step(actions)
        np.testing.assert_array_equal(p_rew, g_rew)
        np.testing.assert_array_equal(p_trunc, g_trunc)


@pytest.mark.parametrize(
    "size, mode",
    [(5, AutoresetMode.NEXT_STEP), (10, AutoresetMode.NEXT_STEP), (6, AutoresetMode.NEXT_STEP)]
    + [(4, AutoresetMode.SAME_STEP)],
)
def test_kept_frames_equal_full_redraws_over_a_long_run_with_autoresets(size, mode):
    """copy=False repaints only changed cells of one kept buffer (sizes 4, 5, 10: 84 is a
    multiple of size+2); each frame must equal the picture drawn from info, step after step."""
    n = 8
    kept = GridWorldVectorEnv(n, size=size, max_episode_steps=9, autoreset_mode=mode, copy=False)
    fresh = GridWorldVectorEnv(n, size=size, max_episode_steps=9, autoreset_mode=mode)
    rng = np.random.default_rng(size)
    k_obs, info = kept.reset(seed=11)
    f_obs, _ = fresh.reset(seed=11)
    first = k_obs
    for step in range(300):  # about 30 autoresets per copy, and partial resets below
        np.testing.assert_array_equal(k_obs, f_obs)
        for i in range(n):
            grid = expected_grid(info["hero"][i], info["goals"][i], info["fires"][i], size)
            np.testing.assert_array_equal(k_obs[i], expected_frame(grid))
        if step % 50 == 49:
            mask = rng.random(n) < 0.5
            k_obs, info = kept.reset(options={"reset_mask": mask})
            f_obs, _ = fresh.reset(options={"reset_mask": mask})
            continue
        actions = rng.integers(0, 4, n)
        k_obs, k_rew, _, k_trunc, info = kept.step(actions)
        f_obs, f_rew, _, f_trunc, f_info = fresh.step(actions)
        np.testing.assert_array_equal(k_rew, f_rew)
        np.testing.assert_array_equal(k_trunc, f_trunc)
        if mode == AutoresetMode.SAME_STEP and k_trunc.any():
            for i in np.flatnonzero(k_trunc):
                np.testing.assert_array_equal(info["final_obs"][i], f_info["final_obs"][i])
    if size != 6:  # uniform blocks: the same buffer every call, updated in place
        assert k_obs is first
    assert f_obs is not fresh.step(np.zeros(n, np.int64))[0]


def test_core_grids_match_the_pure_function():
    core = GridCore(16, size=7)
    for copy in range(16):
        core.set_rng(copy, np.random.default_rng(copy))
    core.place(np.arange(16))
    np.testing.assert_array_equal(core.grids(), bordered_grids(core.cells, 7))
    windows = partial_windows(bordered_grids(core.cells, 7), core.cells[:, 0], 7)
    np.testing.assert_array_equal(core.windows(), windows)
    np.testing.assert_array_equal(core.frames(partial=True), upscale(windows))
    np.testing.assert_array_equal(core.frames(partial=False), upscale(core.grids()))
    with pytest.raises(UserError, match="obs_type"):
        GridCore(1, obs_type="rgb")


def test_gymnasium_episode_statistics_see_50_step_episodes():
    from gymnasium.wrappers.vector import RecordEpisodeStatistics

    env = RecordEpisodeStatistics(gym.make_vec(ENV_ID, num_envs=4))
    env.reset(seed=np.int64(3))  # numpy integers are seeds too
    ends, total = [], np.zeros(4)
    for t in range(101):
        _, rewards, _, _, info = env.step(env.action_space.sample())
        total += rewards
        if "episode" in info:
            ends.append(t)
            assert (info["episode"]["l"] == 50).all()
            np.testing.assert_array_equal(info["episode"]["r"], total)
            total[:] = 0
    assert ends == [49, 100]  # NEXT_STEP: one reset step between episodes


def test_ansi_render_draws_the_board_as_text():
    env = gym.make(ENV_ID, render_mode="ansi", size=4)
    _, info = env.reset(seed=6)
    text = env.render()
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines()
    assert len(plain) == 6 and all(len(line) == 12 for line in plain)  # 2 characters a cell
    x, y = info["hero"]
    assert plain[y + 1][2 * (x + 1)] == "@"
    assert {plain[y + 1][2 * (x + 1)] for x, y in info["goals"]} == {"+"}
    assert {plain[y + 1][2 * (x + 1)] for x, y in info["fires"]} == {"x"}
    assert sum(line.count("+") for line in plain) == 4 and "\x1b[44;97m@" in text


@pytest.mark.parametrize("size", [3, 5])
def test_the_game_plays_the_same_under_each_symmetry_of_the_square(size):
    """Turning the picture and then moving with the mapped action shows what moving and then
    turning shows, walls included; the border stays the border."""
    from qarcade.envs.gridworld import move_table

    side = size + 2
    sources, actions = symmetries(side)
    assert sources.shape == (8, side * side) and actions.shape == (8, 4)
    assert np.array_equal(sources[0], np.arange(side * side)) and actions[0].tolist() == [
        0,
        1,
        2,
        3,
    ]
    assert len({tuple(s) for s in sources}) == 8  # all different
    assert all(sorted(s) == list(range(side * side)) for s in sources)  # permutations
    assert all(sorted(a) == [0, 1, 2, 3] for a in actions)
    moves = move_table(size)

    def hero(grid):  # the flat inner cell of the blue one
        y, x = np.argwhere(grid[1:-1, 1:-1, 2] == 255)[0]
        return y * size + x

    def turned(grid, g):
        return grid.reshape(side * side, 3)[sources[g]].reshape(side, side, 3)

    rng = np.random.default_rng(0)
    for _ in range(20):
        cells = rng.choice(size * size, 7, replace=False)[None]
        grid = bordered_grids(cells, size)[0]
        for g in range(8):
            assert (turned(grid, g)[[0, -1]] == 255).all()  # the border
            for action in range(4):
                moved = cells.copy()
                moved[0, 0] = moves[cells[0, 0], action]
                expected = hero(turned(bordered_grids(moved, size)[0], g))
                assert moves[hero(turned(grid, g)), actions[g, action]] == expected


def test_turning_the_84_pixel_frame_turns_its_cells():
    """The frame's cells are whole blocks of pixels: the symmetries on 84x84 pixels and on the
    7x7 grid give the same frame, so a replay may turn either."""
    rng = np.random.default_rng(1)
    grid = bordered_grids(rng.choice(25, 7, replace=False)[None], 5)  # (1, 7, 7, 3)
    frame = upscale(grid)[0]
    by_cell, by_pixel = symmetries(7)[0], symmetries(84)[0]
    assert np.array_equal(symmetries(7)[1], symmetries(84)[1])
    for g in range(8):
        turned_grid = grid[0].reshape(49, 3)[by_cell[g]].reshape(1, 7, 7, 3)
        turned_frame = frame.reshape(84 * 84, 3)[by_pixel[g]].reshape(84, 84, 3)
        assert np.array_equal(upscale(turned_grid)[0], turned_frame)
