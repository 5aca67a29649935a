"""Tabular RL on the lab's MDP: policies and their evaluation, Q-learning, Q-value iteration.

Everything here is a pure numpy function of its arguments (randomness comes in as Generators).

- **Policy evaluation.** The lab runs 1000 episodes of 100 steps and reports the mean, std, min
  and max of the undiscounted total reward. :func:`run_episodes` runs all episodes at once (the
  episode is a batch axis; the only Python loop is over the 100 time steps).
  :func:`exact_return_moments` gives the exact mean and std of that total by dynamic programming
  over the steps to go, so sampled figures can be checked against the truth.
- **Q-learning** (Watkins 1989; Watkins & Dayan 1992): off-policy TD control,
  ``Q(s,a) += alpha * (td_target - Q(s,a))`` with ``td_target = r + gamma * max_a' Q(s',a')``,
  here with a uniformly random exploration policy (the lab's). The step size decays per visit,
  ``alpha = n(s,a) ** -lr_power``: polynomial rates with 1/2 < lr_power < 1 converge
  polynomially fast (Even-Dar & Mansour, "Learning Rates for Q-learning", JMLR 2003), whereas a
  constant rate never settles and ``1/n`` is exponentially slow in ``1/(1-gamma)``.
  :func:`td_target` is the executable spec of the DQN family's target. Runs are vectorised across
  seeds: run ``i`` uses only ``rngs[i]``, so seed ``i`` of a batch equals a single run with it.
- **Q-value iteration** (Bellman 1957): the model is known, so iterate the Bellman optimality
  operator ``Q(s,a) <- r(s,a) + gamma * sum_s' T(s,a,s') max_a' Q(s',a')`` to its fixed point Q*.

Conventions: a Q-table has shape (..., S, A) and holds ``-inf`` for an action that is not
possible in its state (as in the lab), so ``max`` and ``argmax`` skip it. A policy table has
shape (S, A) and holds the probability of each action in each state; a deterministic policy is
also written as the list of its actions, ``[0, 2, 1]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from qarcade.envs.mdp import (
    ACTION_MASK,
    EXPECTED_REWARDS,
    N_ACTIONS,
    N_STATES,
    POSSIBLE_ACTIONS,
    REWARDS,
    START_STATE,
    TRANSITIONS,
    check_action,
)
from qarcade.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

EPISODE_STEPS = 100  # the lab's episode length
EVAL_EPISODES = 1000  # the lab's number of evaluation episodes

# Q-learning defaults; see docs/mdp.md for how they were chosen and what they achieve.
Q_LEARNING_STEPS = 50_000
LR_POWER = 0.85


def _cdf(probabilities: np.ndarray) -> np.ndarray:
    """Cumulative probabilities for inverse-CDF draws.  (..., K)

    A threshold after which no outcome has probability is +inf, so that rounding in the sum
    (0.7 + 0.3 < 1 by an ulp, say) can never draw an outcome of probability 0.
    """
    cdf = probabilities.cumsum(axis=-1)
    mass_from = np.flip(np.flip(probabilities, -1).cumsum(axis=-1), -1)  # sum of p[k:]
    nothing_after = np.concatenate(
        [mass_from[..., 1:] == 0, np.ones_like(cdf[..., :1], dtype=bool)], axis=-1
    )
    return np.where(nothing_after, np.inf, cdf)


_TRANSITION_CDF = _cdf(TRANSITIONS)  # (S, A, S)
_TRANSITION_CDF_SA = _TRANSITION_CDF.reshape(N_STATES * N_ACTIONS, N_STATES)  # (S*A, S)
_REWARDS_SA = REWARDS.reshape(N_STATES * N_ACTIONS, N_STATES)  # (S*A, S)
_ACTIONS = np.arange(N_ACTIONS)
# Possible actions padded to width A, and how many there are, for uniform exploration.  (S, A), (S,)
_POSSIBLE_PADDED = np.array([list(a) + [a[0]] * (N_ACTIONS - len(a)) for a in POSSIBLE_ACTIONS])
_N_POSSIBLE = ACTION_MASK.sum(axis=1)


def check_gamma(gamma: float) -> float:
    """Return ``gamma`` if it is a discount in [0, 1), else raise :class:`UserError`."""
    if not 0.0 <= gamma < 1.0:  # also rejects nan
        raise UserError(f"gamma must be in [0, 1), got {gamma}")
    return float(gamma)


# --- policies ---


def deterministic_policy(actions: Sequence[int]) -> np.ndarray:
    """The table of "in state s take actions[s]"; an impossible action is an error.  (S, A)"""
    if len(actions) != N_STATES:
        raise UserError(f"a policy needs one action per state ({N_STATES}), got {list(actions)}")
    table = np.zeros((N_STATES, N_ACTIONS))
    for state, action in enumerate(actions):
        table[state, check_action(state, action)] = 1.0
    return table


RANDOM_POLICY = ACTION_MASK / ACTION_MASK.sum(axis=1, keepdims=True)  # uniform over allowed
SAFE_POLICY = deterministic_policy([0, 0, 1])  # never takes s1 a2 (the -50 fire)
RISKY_POLICY = deterministic_policy([0, 2, 1])  # goes through the fire for the +40
POLICIES = {"random": RANDOM_POLICY, "safe": SAFE_POLICY, "risky": RISKY_POLICY}


def check_policy(policy: np.ndarray) -> np.ndarray:
    """Return ``policy`` as an (S, A) table of probabilities over the allowed actions."""
    policy = np.asarray(policy, dtype=float)
    if policy.shape != (N_STATES, N_ACTIONS):
        raise UserError(f"a policy table has shape {(N_STATES, N_ACTIONS)}, got {policy.shape}")
    if (policy < 0).any() or not np.allclose(policy.sum(axis=1), 1.0):
        raise UserError("each row of a policy table must be probabilities summing to 1")
    if (policy[~ACTION_MASK] > 0).any():
        raise UserError("a policy table gives probability to an action that is not possible")
    return policy


def greedy_policy(q_values: np.ndarray) -> np.ndarray:
    """argmax_a Q(s, a) in each state; impossible actions (-inf) are never chosen.  (..., S)"""
    return np.where(ACTION_MASK, q_values, -np.inf).argmax(axis=-1)


# --- policy evaluation ---


def _sample(cdf: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Inverse-CDF draw per row: cdf (N, K) from :func:`_cdf`, uniform (N,) in [0, 1) -> (N,).

    Counts the thresholds at or below ``uniform``; written as a sum over the K columns because
    numpy reduces a small last axis slowly.
    """
    drawn = np.zeros(len(uniform), dtype=np.int64)
    for k in range(cdf.shape[1] - 1):  # the last threshold is never reached
        drawn += uniform >= cdf[:, k]
    return drawn


def run_episodes(
    policy: np.ndarray,
    rng: np.random.Generator,
    n_episodes: int = EVAL_EPISODES,
    n_steps: int = EPISODE_STEPS,
) -> np.ndarray:
    """Undiscounted total reward of ``n_episodes`` episodes of ``n_steps`` steps from state 0.

    All episodes advance together, one vectorised step at a time.  Returns (n_episodes,).
    """
    policy_cdf = _cdf(check_policy(policy))  # (S, A)
    states = np.full(n_episodes, START_STATE)
    totals = np.zeros(n_episodes)
    for _ in range(n_steps):
        uniform = rng.random((2, n_episodes))
        actions = _sample(policy_cdf[states], uniform[0])  # (E,)
        next_states = _sample(_TRANSITION_CDF[states, actions], uniform[1])  # (E,)
        totals += REWARDS[states, actions, next_states]
        states = next_states
    return totals


def summarize(totals: np.ndarray) -> dict[str, float]:
    """The lab's summary of episode totals: mean, std (population), min, max."""
    totals = np.asarray(totals, dtype=float)
    return {
        "mean": float(totals.mean()),
        "std": float(totals.std()),
        "min": float(totals.min()),
        "max": float(totals.max()),
    }


def exact_return_moments(
    policy: np.ndarray, n_steps: int = EPISODE_STEPS, start_state: int = START_STATE
) -> tuple[float, float]:
    """Exact mean and std of the undiscounted total of ``n_steps`` steps from ``start_state``.

    Dynamic programming over the steps to go: with G_k(s) the total of k more steps from s,
    G_{k+1}(s) = R(s,a,s') + G_k(s'), so its first two moments follow from those of G_k.
    (The lab's totals are undiscounted, so gamma does not enter.)
    """
    weights = check_policy(policy)[:, :, None] * TRANSITIONS  # P(a, s' | s)  (S, A, S)
    mean = np.zeros(N_STATES)  # E[G_k(s)]
    second = np.zeros(N_STATES)  # E[G_k(s)^2]
    for _ in range(n_steps):
        mean, second = (
            (weights * (REWARDS + mean)).sum(axis=(1, 2)),
            (weights * (REWARDS**2 + 2 * REWARDS * mean + second)).sum(axis=(1, 2)),
        )
    variance = max(second[start_state] - mean[start_state] ** 2, 0.0)
    return float(mean[start_state]), float(np.sqrt(variance))


# --- Q-learning ---


def initial_q_values(n_runs: int = 1) -> np.ndarray:
    """Zeros for possible actions, -inf for impossible ones (the lab's start).  (N, S, A)"""
    return np.broadcast_to(
        np.where(ACTION_MASK, 0.0, -np.inf), (n_runs, N_STATES, N_ACTIONS)
    ).copy()


def td_target(
    rewards: np.ndarray, discounts: np.ndarray | float, next_q_values: np.ndarray
) -> np.ndarray:
    """r + discount * max_a' Q(s', a'): the Q-learning target, as in ``qarcade.dqn.learner``.

    rewards (N,), discounts (N,) or a scalar (gamma, or 0 after a terminal step), next_q_values
    (N, A) with -inf for impossible actions -> (N,). This MDP never terminates, so Q-learning
    here passes ``gamma``; the DQN family passes ``gamma ** n * (1 - terminated)``.
    """
    return rewards + discounts * next_q_values.max(axis=-1)


def learning_rate(visits: np.ndarray, lr_power: float = LR_POWER, lr_scale: float = 1.0):
    """Per-visit step size ``lr_scale * n(s,a) ** -lr_power`` (lr_power=0: constant lr_scale)."""
    return lr_scale * visits.astype(float) ** -lr_power


@dataclass(frozen=True)
class QLearning:
    """Result of :func:`q_learning` for N runs (one per Generator)."""

    q_values: np.ndarray  # final Q-tables  (N, S, A)
    history_steps: np.ndarray  # env steps done at each record  (K,)
    history: np.ndarray  # Q-tables at those steps  (K, N, S, A)

    @property
    def policy(self) -> np.ndarray:
        """Greedy policy of each run.  (N, S)"""
        return greedy_policy(self.q_values)


def q_learning(
    gamma: float,
    rngs: Sequence[np.random.Generator],
    env_steps: int = Q_LEARNING_STEPS,
    lr_power: float = LR_POWER,
    lr_scale: float = 1.0,
    record_every: int = 0,
) -> QLearning:
    """Tabular Q-learning with random exploration, one run per Generator, all runs in lock-step.

    One continuing run of ``env_steps`` steps from state 0 (the MDP never ends). Each step: pick
    an allowed action uniformly, sample s' and r, count the visit n(s,a), and move Q(s,a) toward
    :func:`td_target` by :func:`learning_rate`. With ``record_every > 0`` the Q-tables after
    every ``record_every`` steps are kept in ``history``; it always holds step 0 and the last.
    """
    gamma = check_gamma(gamma)
    n_runs = len(rngs)
    if n_runs == 0 or env_steps < 1:
        raise UserError("q_learning needs at least one run and one step")
    # Runs are stacked flat: entry (run, s, a) is run * S*A + s * A + a.
    q = initial_q_values(n_runs).reshape(-1)  # (N*S*A,)
    visits = np.zeros(n_runs * N_STATES * N_ACTIONS, dtype=np.int64)  # n(s, a) per run
    run_base = np.arange(n_runs) * N_STATES * N_ACTIONS  # (N,)
    states = np.full(n_runs, START_STATE)
    history_steps, history = [0], [q.copy()]
    chunk_steps = max(64, min(4096, 2**20 // n_runs))
    for step in range(env_steps):
        if step % chunk_steps == 0:  # each run draws from its own stream, in chunks
            block = min(chunk_steps, env_steps - step)
            uniform = np.stack([rng.random((block, 2)) for rng in rngs], axis=-1)  # (T, 2, N)
        u_action, u_next = uniform[step % chunk_steps]  # (N,), (N,)

        # Act (uniformly among allowed actions) and step the model.
        actions = _POSSIBLE_PADDED[states, (u_action * _N_POSSIBLE[states]).astype(np.int64)]
        sa = states * N_ACTIONS + actions  # (N,)
        next_states = _sample(_TRANSITION_CDF_SA[sa], u_next)  # (N,)
        rewards = _REWARDS_SA[sa, next_states]  # (N,)

        # The TD update with a per-visit step size.
        entry = run_base + sa  # (N,)
        visits[entry] += 1
        next_q = q[run_base + next_states * N_ACTIONS + _ACTIONS[:, None]].T  # (N, A), a view
        target = td_target(rewards, gamma, next_q)
        alpha = learning_rate(visits[entry], lr_power, lr_scale)  # (N,)
        q[entry] += alpha * (target - q[entry])
        states = next_states

        if record_every and (step + 1) % record_every == 0:
            history_steps.append(step + 1)
            history.append(q.copy())
    if history_steps[-1] != env_steps:
        history_steps.append(env_steps)
        history.append(q.copy())
    shape = (n_runs, N_STATES, N_ACTIONS)
    return QLearning(
        q_values=q.reshape(shape),
        history_steps=np.array(history_steps),
        history=np.stack(history).reshape(-1, *shape),
    )


def holds_policy_since(
    history_steps: np.ndarray, policies: np.ndarray, target: Sequence[int]
) -> np.ndarray:
    """Per run, the first recorded step from which the greedy policy equals ``target`` at every
    later record; -1 where it does not at the last record.

    history_steps (K,), policies (K, N, S) greedy policies at those steps -> (N,).
    """
    matches = (policies == np.asarray(target)).all(axis=-1)  # (K, N)
    # Index of the last record that does not match; the run holds from the record after it.
    last_miss = np.where(~matches, np.arange(len(history_steps))[:, None], -1).max(axis=0)  # (N,)
    holds = matches[-1]
    since = history_steps[np.minimum(last_miss + 1, len(history_steps) - 1)]
    return np.where(holds, since, -1)


# --- Q-value iteration ---


def q_value_iteration(gamma: float, tolerance: float = 1e-9) -> np.ndarray:
    """Q* by iterating the Bellman optimality operator until within ``tolerance`` of it.  (S, A)

    Stops when successive tables differ by less than tolerance * (1 - gamma) / gamma in max
    norm, which bounds the distance to Q* by ``tolerance`` (the operator is a gamma-contraction).
    """
    gamma = check_gamma(gamma)
    q = initial_q_values(1)[0]
    while True:
        v = q.max(axis=-1)  # V(s') = max_a' Q(s', a')  (S,)
        new_q = np.where(ACTION_MASK, EXPECTED_REWARDS + gamma * TRANSITIONS @ v, -np.inf)
        change = np.abs(new_q[ACTION_MASK] - q[ACTION_MASK]).max()
        q = new_q
        if change * gamma <= tolerance * (1.0 - gamma):
            return q


# --- the lab's first part, end to end (what `qarcade mdp` prints) ---


def q_table(q_values: np.ndarray) -> pd.DataFrame:
    """A Q-table as a DataFrame (states x actions), NaN where an action is not possible."""
    import pandas as pd

    data = np.where(ACTION_MASK, q_values, np.nan)
    return pd.DataFrame(
        data,
        index=pd.Index(range(N_STATES), name="state"),
        columns=[f"a{a}" for a in range(N_ACTIONS)],
    )


def q_values_as_lists(q_values: np.ndarray) -> list[list[float | None]]:
    """A Q-table as nested lists with None for an impossible action (JSON's null)."""
    return [
        [float(q_values[s, a]) if ACTION_MASK[s, a] else None for a in range(N_ACTIONS)]
        for s in range(N_STATES)
    ]


def margins(q_values: np.ndarray, actions: Sequence[int]) -> list[float | None]:
    """Per state, Q(s, actions[s]) minus the best other allowed action; None where it is alone.

    With ``actions`` the optimal policy, a positive margin means the table agrees with it; its
    size says how much noise the table can take before its greedy choice flips.
    """
    result = []
    for state, action in enumerate(actions):
        others = [a for a in POSSIBLE_ACTIONS[state] if a != action]
        best_other = max((q_values[state, a] for a in others), default=None)
        result.append(None if best_other is None else float(q_values[state, action] - best_other))
    return result


def lab_report(
    gamma: float = 0.99,
    env_steps: int = Q_LEARNING_STEPS,
    n_episodes: int = EVAL_EPISODES,
    seed: int = 0,
    lr_power: float = LR_POWER,
) -> dict:
    """The lab's first part as one JSON-ready dict: policies, Q-learning, Q-value iteration.

    Each policy is evaluated over ``n_episodes`` episodes of the lab's 100 steps (its summary
    is ``{"mean", "std", "min", "max"}``, its exact mean under ``exact_means``); Q-tables are
    3x3 lists with None for impossible actions. Every random draw comes from ``seed``, one
    independent stream per use, so changing ``env_steps`` leaves the other figures as they are.
    """
    gamma = check_gamma(gamma)
    if seed < 0:
        raise UserError(f"seed must be a non-negative integer, got {seed}")
    # Q-learning draws from the seed's first child (qarcade.explain replays that run).
    learn_seed, *eval_seeds = np.random.SeedSequence(seed).spawn(1 + len(POLICIES) + 1)
    learned = q_learning(gamma, [np.random.default_rng(learn_seed)], env_steps, lr_power)
    q_learned, learned_policy = learned.q_values[0], learned.policy[0]
    q_star = q_value_iteration(gamma)
    optimal_policy = greedy_policy(q_star)

    policies = {**POLICIES, "q_learning": deterministic_policy(learned_policy)}
    summaries, exact_means = {}, {}
    for (name, policy), eval_seed in zip(policies.items(), eval_seeds, strict=True):
        totals = run_episodes(policy, np.random.default_rng(eval_seed), n_episodes)
        summaries[name] = summarize(totals)
        exact_means[name] = exact_return_moments(policy)[0]

    error = np.where(ACTION_MASK, q_learned - np.where(ACTION_MASK, q_star, 0.0), -np.inf)
    return {
        "gamma": gamma,
        "seed": seed,
        "episodes": n_episodes,
        "episode_steps": EPISODE_STEPS,
        "policies": summaries,
        "exact_means": exact_means,
        "q_learning": {
            "q_values": q_values_as_lists(q_learned),
            "policy": learned_policy.tolist(),
            "env_steps": env_steps,
            "learning_rate": f"n(s,a)^-{lr_power:g}",
            "exploration": "uniform over the allowed actions",
            "lr_power": lr_power,
        },
        "q_value_iteration": {
            "q_values": q_values_as_lists(q_star),
            "policy": optimal_policy.tolist(),
        },
        "comparison": {
            "policies_match": bool((learned_policy == optimal_policy).all()),
            "q_error": q_values_as_lists(error),
            "mean_error": float(error[ACTION_MASK].mean()),
            "margin_q_star": margins(q_star, optimal_policy),
            "margin_q_learning": margins(q_learned, optimal_policy),
        },
    }
