"""The lab's MDP: its tables, and MDPEnv as Gymnasium and a user meet it."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import qarcade  # noqa: F401 - registers qarcade/MDP-v0
from qarcade.envs.mdp import (
    ACTION_MASK,
    EXPECTED_REWARDS,
    POSSIBLE_ACTIONS,
    REWARDS,
    TRANSITIONS,
    MDPEnv,
    mdp_table,
    reward_table,
    transition_table,
)
from qarcade.errors import UserError


def test_tables_are_the_labs():
    assert ACTION_MASK.tolist() == [[True, True, True], [True, False, True], [False, True, False]]
    assert POSSIBLE_ACTIONS == ((0, 1, 2), (0, 2), (1,))
    np.testing.assert_allclose(TRANSITIONS[0], [[0.7, 0.3, 0], [1, 0, 0], [0.8, 0.2, 0]])
    np.testing.assert_allclose(TRANSITIONS[1, 0], [0, 1, 0])
    np.testing.assert_allclose(TRANSITIONS[1, 2], [0, 0, 1])
    np.testing.assert_allclose(TRANSITIONS[2, 1], [0.8, 0.1, 0.1])
    # Rewards: +10 for staying in s0 with a0, -50 for the fire s1 a2 -> s2, +40 for s2 a1 -> s0.
    nonzero = {tuple(map(int, i)): REWARDS[tuple(i)] for i in np.argwhere(REWARDS != 0)}
    assert nonzero == {(0, 0, 0): 10.0, (1, 2, 2): -50.0, (2, 1, 0): 40.0}


def test_transition_rows_are_distributions_exactly_where_actions_are_possible():
    np.testing.assert_allclose(TRANSITIONS.sum(axis=-1), ACTION_MASK.astype(float))
    assert (TRANSITIONS >= 0).all()
    np.testing.assert_allclose(EXPECTED_REWARDS[ACTION_MASK], [7, 0, 0, 0, -50, 32])


def test_tables_cannot_be_modified_by_accident():
    with pytest.raises(ValueError):
        TRANSITIONS[0, 0, 0] = 1.0


def test_dataframes_show_one_row_per_possible_action():
    table = mdp_table()
    assert list(table.index) == [(s, a) for s in range(3) for a in POSSIBLE_ACTIONS[s]]
    assert table.index.names == ["state", "action"]
    for (s, a), row in table.iterrows():
        np.testing.assert_allclose(row.iloc[:3], TRANSITIONS[s, a])
        np.testing.assert_allclose(row.iloc[3:6], REWARDS[s, a])
        assert row["r(s,a)"] == pytest.approx(EXPECTED_REWARDS[s, a])
    assert len(transition_table().columns) == 3 and len(reward_table().columns) == 4


def test_registered_and_passes_gymnasiums_checker():
    env = gym.make("qarcade/MDP-v0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a checker warning fails the test
        check_env(env.unwrapped)


def test_reset_starts_in_state_0_with_all_actions_allowed():
    env = MDPEnv()
    obs, info = env.reset(seed=3)
    assert obs == 0 and env.observation_space.contains(obs)
    assert info["action_mask"].tolist() == [True, True, True]


def play(seed: int, n_steps: int) -> list:
    """A seeded run taking the first allowed action after a random draw from the space."""
    env = MDPEnv()
    env.reset(seed=seed)
    env.action_space.seed(seed)
    trace = []
    for _ in range(n_steps):
        action = env.action_space.sample()
        obs, reward, terminated, truncated, info = env.step(action)
        trace.append((int(action), int(obs), reward, terminated, truncated))
        assert info["action_mask"].tolist() == ACTION_MASK[obs].tolist()
    return trace


def test_never_terminates_and_samples_only_allowed_actions():
    trace = play(seed=0, n_steps=2000)
    states = [0] + [obs for _, obs, *_ in trace[:-1]]
    assert all(ACTION_MASK[s, a] for s, (a, *_) in zip(states, trace, strict=True))
    assert not any(terminated or truncated for *_, terminated, truncated in trace)
    assert {obs for _, obs, *_ in trace} == {0, 1, 2}


def test_seeded_by_reset():
    assert play(seed=7, n_steps=300) == play(seed=7, n_steps=300)
    assert play(seed=7, n_steps=300) != play(seed=8, n_steps=300)


def test_transition_frequencies_match_the_table():
    env = MDPEnv()
    env.reset(seed=1)
    n = 20_000
    counts = np.zeros(3)
    for _ in range(n):
        env.state = 2
        obs, reward, *_ = env.step(1)
        counts[obs] += 1
        assert reward == (40.0 if obs == 0 else 0.0)
    p = TRANSITIONS[2, 1]
    assert np.all(np.abs(counts / n - p) < 5 * np.sqrt(p * (1 - p) / n) + 1e-12)


@pytest.mark.parametrize("state, action", [(1, 1), (2, 0), (2, 2)])
def test_impossible_action_names_state_and_allowed_actions(state, action):
    env = MDPEnv()
    env.reset(seed=0)
    env.state = state
    with pytest.raises(UserError) as error:
        env.step(action)
    message = str(error.value)
    assert f"state {state}" in message
    assert str(list(POSSIBLE_ACTIONS[state])) in message
    assert isinstance(error.value, ValueError)
    assert env.state == state  # nothing happened


@pytest.mark.parametrize("action", [3, -1, 0.5, "0", None])
def test_action_outside_the_space_is_an_error(action):
    env = MDPEnv()
    env.reset(seed=0)
    with pytest.raises(UserError, match="allowed actions: \\[0, 1, 2\\]"):
        env.step(action)


def test_explicit_mask_to_sample_is_honoured():
    env = MDPEnv()
    env.reset(seed=0)
    env.action_space.seed(0)
    only_2 = np.array([0, 0, 1], dtype=np.int8)
    assert {int(env.action_space.sample(mask=only_2)) for _ in range(50)} == {2}
