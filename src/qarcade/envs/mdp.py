"""The lab's 3-state Markov decision process, as tables and as a Gymnasium environment.

Three states, three actions, start state 0; the episode never ends by itself (the lab cuts runs
after 100 steps). Not every action is possible in every state:

    state 0, actions 0 1 2: a0 stays (p .7, +10) or goes to s1; a1 stays; a2 goes to s1 with p .2
    state 1, actions 0 2:   a0 stays; a2 goes through the fire to s2 for -50
    state 2, action 1:      a1 goes back to s0 (p .8, +40), else to s1 or stays

The tables are read-only numpy arrays indexed ``[state, action, next_state]``; an impossible
action has an all-zero transition row and ``ACTION_MASK[state, action] == False``.
``qarcade/MDP-v0`` (registered on ``import qarcade``) is :class:`MDPEnv`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from qarcade.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

N_STATES = 3
N_ACTIONS = 3
START_STATE = 0

POSSIBLE_ACTIONS: tuple[tuple[int, ...], ...] = ((0, 1, 2), (0, 2), (1,))


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


# T[s, a, s'] = P(s' | s, a); all zeros where a is not possible in s.  (S, A, S)
TRANSITIONS = _read_only(
    np.array(
        [
            [[0.7, 0.3, 0.0], [1.0, 0.0, 0.0], [0.8, 0.2, 0.0]],
            [[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]],
            [[0.0, 0.0, 0.0], [0.8, 0.1, 0.1], [0.0, 0.0, 0.0]],
        ]
    )
)

# R[s, a, s'] = reward for that transition.  (S, A, S)
REWARDS = _read_only(
    np.array(
        [
            [[10.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
            [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, -50.0]],
            [[0.0, 0.0, 0.0], [40.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
        ]
    )
)

# ACTION_MASK[s, a]: is action a possible in state s.  (S, A) bool
ACTION_MASK = _read_only(
    np.array([[a in actions for a in range(N_ACTIONS)] for actions in POSSIBLE_ACTIONS])
)

# r(s, a) = sum_s' T[s, a, s'] R[s, a, s'], the expected reward of one step.  (S, A)
EXPECTED_REWARDS = _read_only((TRANSITIONS * REWARDS).sum(axis=-1))


def check_action(state: int, action: Any) -> int:
    """Return ``action`` as an int, or raise :class:`UserError` naming the allowed actions."""
    allowed = list(POSSIBLE_ACTIONS[state])
    try:
        index = int(action)
    except (TypeError, ValueError):
        index = -1
    if index != action or not 0 <= index < N_ACTIONS or not ACTION_MASK[state, index]:
        raise UserError(
            f"action {action!r} is not possible in state {state}; allowed actions: {allowed}"
        )
    return index


# --- tables for people (library and notebook; pandas is imported only here) ---


def transition_table() -> pd.DataFrame:
    """P(s' | s, a) with one row per possible (state, action) pair."""
    import pandas as pd

    rows = [(s, a) for s in range(N_STATES) for a in POSSIBLE_ACTIONS[s]]
    index = pd.MultiIndex.from_tuples(rows, names=["state", "action"])
    columns = [f"P(s'={s})" for s in range(N_STATES)]
    return pd.DataFrame([TRANSITIONS[s, a] for s, a in rows], index=index, columns=columns)


def reward_table() -> pd.DataFrame:
    """R(s, a, s') and the expected reward r(s, a), one row per possible (state, action) pair."""
    import pandas as pd

    rows = [(s, a) for s in range(N_STATES) for a in POSSIBLE_ACTIONS[s]]
    index = pd.MultiIndex.from_tuples(rows, names=["state", "action"])
    columns = [f"R(s'={s})" for s in range(N_STATES)] + ["r(s,a)"]
    data = [[*REWARDS[s, a], EXPECTED_REWARDS[s, a]] for s, a in rows]
    return pd.DataFrame(data, index=index, columns=columns)


def mdp_table() -> pd.DataFrame:
    """Transitions and rewards side by side: the lab's three tables in one frame."""
    return transition_table().join(reward_table())


# --- the environment ---


class _AllowedActionSpace(spaces.Discrete):
    """Discrete(3) whose ``sample()`` without a mask draws an action allowed in the env's state.

    Gymnasium code (its env checker included) draws random actions with
    ``env.action_space.sample()``; in this MDP an unconstrained draw would often be impossible
    and raise. With this space a plain ``sample()`` is the lab's random policy. An explicit
    ``mask`` or ``probability`` is used as given, as in :class:`gymnasium.spaces.Discrete`.
    """

    def __init__(self, env: MDPEnv):
        super().__init__(N_ACTIONS)
        self._env = env

    def sample(self, mask=None, probability=None):
        if mask is None and probability is None:
            mask = ACTION_MASK[self._env.state].astype(np.int8)
        return super().sample(mask=mask, probability=probability)


class MDPEnv(gym.Env):
    """The lab's MDP: observation = state in {0, 1, 2}, action in {0, 1, 2}.

    ``info["action_mask"]`` (bool, shape (3,)) marks the actions allowed in the new state; an
    action outside it raises :class:`qarcade.errors.UserError` (a ValueError) naming the state
    and the allowed actions. The episode never terminates; wrap with ``max_episode_steps`` (or
    cut it yourself, as the lab does after 100 steps). Randomness comes only from
    ``reset(seed=...)``.
    """

    metadata = {"render_modes": []}

    def __init__(self):
        self.observation_space = spaces.Discrete(N_STATES)
        self.action_space = _AllowedActionSpace(self)
        self.state = START_STATE

    def _info(self) -> dict[str, Any]:
        return {"action_mask": ACTION_MASK[self.state].copy()}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.state = START_STATE
        return np.int64(self.state), self._info()

    def step(self, action):
        action = check_action(self.state, action)
        next_state = int(self.np_random.choice(N_STATES, p=TRANSITIONS[self.state, action]))
        reward = float(REWARDS[self.state, action, next_state])
        self.state = next_state
        return np.int64(next_state), reward, False, False, self._info()
