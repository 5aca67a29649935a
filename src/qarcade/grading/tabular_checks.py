"""The checks of the lab's first part: the MDP's policies, Q-learning, Q-value iteration, and a
gridworld episode as a video. Reference answers come from ``qarcade.tabular`` and ``qarcade.envs``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from qarcade.grading.checking import (
    Part,
    Question,
    Wrong,
    close,
    diagnose,
    gif_frames,
    student_function,
)

# --- 1. the MDP's safe and risky policies, and their score summaries ---

SAFE, RISKY = [0, 0, 1], [0, 2, 1]


def _policies(ns: dict) -> None:
    for name, expected in (("safe_policy", SAFE), ("risky_policy", RISKY)):
        policy = student_function(ns, name)
        actions = [policy(state) for state in range(3)]
        if actions != expected:
            raise Wrong(
                f"{name} plays {actions} in states 0, 1, 2; the lab's {name.split('_')[0]} "
                f"policy plays {expected} (the risky one walks through the fire in state 1)"
            )


def _summarize(ns: dict) -> None:
    summarize = student_function(ns, "summarize")
    totals = np.array([1.0, 2.0, 3.0, 10.0])
    summary = summarize(totals)
    if not isinstance(summary, dict) or set(summary) != {"mean", "std", "min", "max"}:
        raise Wrong('summarize returns a dict with the keys "mean", "std", "min" and "max"')
    for key, value in (("mean", 4.0), ("min", 1.0), ("max", 10.0)):
        if not close(summary[key], value):
            raise Wrong(f"summarize([1, 2, 3, 10]) gives {key} {summary[key]}, not {value}")
    stds = (totals.std(), totals.std(ddof=1))  # the lab's np.std, or the sample std
    if not any(close(summary["std"], std) for std in stds):
        raise Wrong(f"summarize([1, 2, 3, 10]) gives std {summary['std']}, not {stds[0]:.4f}")


def _run_policy(ns: dict) -> None:
    from qarcade import tabular

    run_policy = student_function(ns, "run_policy")
    calls = []

    def risky(state):
        calls.append(int(state))
        return RISKY[int(state)]

    episodes = 300
    totals = np.asarray(run_policy(risky, episodes, 0), dtype=float)
    if totals.shape != (episodes,):
        raise Wrong(
            f"run_policy(policy, {episodes}, seed) returns {episodes} totals, one per "
            f"episode (got shape {totals.shape})"
        )
    if len(calls) != episodes * tabular.EPISODE_STEPS:
        raise Wrong(
            f"run_policy asked the policy for {len(calls)} actions in {episodes} episodes; "
            f"each episode is {tabular.EPISODE_STEPS} steps, starting in state 0"
        )
    mean, std = tabular.exact_return_moments(tabular.deterministic_policy(RISKY))
    error = abs(totals.mean() - mean) / (std / np.sqrt(episodes))
    if error > 5:  # 5 standard errors: a correct run fails about once in 2 million
        raise Wrong(
            f"the risky policy's mean total is {totals.mean():.1f} over {episodes} episodes "
            f"from your run_policy; its exact mean is {mean:.1f}: sum the undiscounted rewards"
        )


MDP_POLICIES = Question(
    "mdp_policies",
    "the safe and risky policies, run and summarized",
    (Part(1, _policies), Part(1, _summarize), Part(1, _run_policy)),
)


# --- 2. the Q-learning update and loop ---

_Q = np.array([[1.0, 2.0, 3.0], [4.0, -np.inf, 5.0], [-np.inf, 6.0, -np.inf]])


def _updated(ns: dict, q: np.ndarray, *args) -> np.ndarray:
    """The student's q_update on a copy of ``q``: in place or returned, either is fine."""
    q = q.copy()
    result = student_function(ns, "q_update")(q, *args)
    return np.asarray(q if result is None else result, dtype=float)


def _q_update(ns: dict) -> None:
    # s=0, a=1, r=10, s'=1, alpha=0.5, gamma=0.9: target 10 + 0.9 * max(4, 5) = 14.5
    expected = _Q.copy()
    expected[0, 1] = 2.0 + 0.5 * (14.5 - 2.0)  # 8.25
    mistakes = {}
    for sentence, value in (
        (
            "the update moves Q(s,a) away from the target: use Q += alpha * (target - Q)",
            2.0 - 0.5 * (14.5 - 2.0),
        ),
        (
            "the target bootstraps from the current state; use max_a' Q(s', a') of the next state",
            2.0 + 0.5 * (10 + 0.9 * 3.0 - 2.0),
        ),
        (
            "the target must use the best next action, max_a' Q(s', a'), not the action taken",
            -np.inf,
        ),  # Q(s', a) with a = 1: an impossible action in state 1
        ("the step size alpha is missing: Q += alpha * (target - Q)", 14.5),
        (
            "gamma is missing from the target r + gamma * max_a' Q(s', a')",
            2.0 + 0.5 * (10 + 5.0 - 2.0),
        ),
    ):
        wrong = _Q.copy()
        wrong[0, 1] = value
        mistakes[sentence] = wrong
    actual = _updated(ns, _Q, 0, 1, 10.0, 1, 0.5, 0.9)
    diagnose(
        actual,
        expected,
        mistakes,
        "q_update(q, 0, 1, 10, 1, 0.5, 0.9) should set "
        "Q(0,1) to 8.25 and leave the rest of the table as it was",
    )
    # into state 2, whose only action is 1: impossible actions (-inf) must not count
    expected = _Q.copy()
    expected[1, 2] = 5.0 + 0.1 * (-50.0 + 0.99 * 6.0 - 5.0)
    actual = _updated(ns, _Q, 1, 2, -50.0, 2, 0.1, 0.99)
    diagnose(
        actual,
        expected,
        {},
        "q_update(q, 1, 2, -50, 2, 0.1, 0.99) should set Q(1,2) "
        "to 0.094: max over the next state's possible actions (the -inf entries)",
    )


def _q_learning_policy(ns: dict) -> None:
    from qarcade import tabular

    q_learning = student_function(ns, "q_learning")
    for gamma in (0.9, 0.99):
        optimal = tabular.greedy_policy(tabular.q_value_iteration(gamma)).tolist()
        for seed in (0, 1):
            q = np.asarray(q_learning(gamma, 20_000, seed), dtype=float)
            if q.shape != (3, 3):
                raise Wrong(f"q_learning returns the (3, 3) Q-table, got shape {q.shape}")
            greedy = tabular.greedy_policy(q).tolist()
            if greedy != optimal:
                raise Wrong(
                    f"after 20,000 steps at gamma {gamma} (seed {seed}) your Q-table's greedy "
                    f"policy is {greedy}, the optimal one {optimal}: explore uniformly among "
                    "the possible actions, with the step size n(s,a) ** -0.85"
                )


Q_UPDATE = Question("q_update", "the Q-learning update", (Part(2, _q_update),))
Q_LEARNING = Question(
    "q_learning",
    "Q-learning reaches the optimal policy",
    (Part(2, _q_learning_policy),),
    time_limit_s=120,
    behaviour=True,
)


# --- 3. the greedy policy ---


def _greedy(ns: dict) -> None:
    greedy_policy = student_function(ns, "greedy_policy")
    q = np.array([[1.0, 7.0, 3.0], [-4.0, -np.inf, -2.0], [-np.inf, -9.0, -np.inf]])
    actual = np.asarray(greedy_policy(q))
    diagnose(
        actual,
        [1, 2, 1],
        {
            "the greedy policy takes the argmax over actions (axis 1), not over states": [0, 0, 0],
            "the greedy policy takes the best action (argmax), not the worst": [0, 0, 1],
        },
        "greedy_policy(q) returns, for each state, the possible action with the largest Q",
    )


GREEDY = Question("greedy_policy", "the greedy policy", (Part(1, _greedy),))


# --- 4. Q-value iteration ---


def _q_value_iteration(ns: dict) -> None:
    from qarcade import tabular
    from qarcade.envs.mdp import ACTION_MASK

    qvi = student_function(ns, "q_value_iteration")
    for gamma in (0.9, 0.99):
        expected = tabular.q_value_iteration(gamma)
        q = np.asarray(qvi(gamma), dtype=float)
        if q.shape != (3, 3):
            raise Wrong(f"q_value_iteration returns the (3, 3) table Q*, got shape {q.shape}")
        if not np.allclose(q[ACTION_MASK], expected[ACTION_MASK], atol=1e-3 / (1 - gamma)):
            raise Wrong(
                f"at gamma {gamma} your Q*(0, 0) is {q[0, 0]:.2f}, the fixed point's "
                f"{expected[0, 0]:.2f}: Q(s,a) <- r(s,a) + gamma * sum_s' T(s,a,s') "
                "max_a' Q(s',a'), iterated until it stops changing"
            )


QVI = Question("q_value_iteration", "Q-value iteration", (Part(2, _q_value_iteration),))


# --- 5. a gridworld episode from an action list, as a video ---


def _gridworld_video(ns: dict) -> None:
    from qarcade.envs.gridworld import play_actions

    play = student_function(ns, "play_video")
    actions, seed = [3, 3, 1, 1, 2, 2, 0, 3, 1, 1, 2, 0], 1
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "episode.gif"
        total = play(actions, seed, str(path))
        if not path.is_file() or path.stat().st_size == 0:
            raise Wrong(
                "play_video(actions, seed, path) writes the video to path "
                "(qarcade.media.write_video)"
            )
        if gif_frames(path) < 2:
            raise Wrong("the video has a single frame: record env.render() after each step")
    expected = play_actions(actions, seed=seed).total_reward
    if not close(total, expected):
        raise Wrong(
            f"play_video returned a total reward of {total}; that episode's is "
            f"{expected:g}: reset with the seed, then step through the actions"
        )


GRIDWORLD_VIDEO = Question(
    "gridworld_video",
    "a gridworld episode as a video",
    (Part(1, _gridworld_video),),
    behaviour=True,
)
