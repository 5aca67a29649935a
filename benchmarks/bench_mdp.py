"""Speed and learning figures for the MDP part (docs/BENCHMARKS.md "## MDP", docs/mdp.md).

    .venv/bin/python benchmarks/bench_mdp.py            # speed, a few seconds
    .venv/bin/python benchmarks/bench_mdp.py --study    # + many-seed Q-learning study (minutes)

Speed figures are ratios against a baseline measured in the same run: the vectorised policy
evaluation against the lab's plain Python loop (one episode at a time, one step at a time),
and Q-learning over many seeds at once against the same seeds one at a time.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from qarcade.envs.mdp import ACTION_MASK, POSSIBLE_ACTIONS, REWARDS, START_STATE, TRANSITIONS
from qarcade.tabular import (
    LR_POWER,
    POLICIES,
    Q_LEARNING_STEPS,
    greedy_policy,
    holds_policy_since,
    q_learning,
    q_value_iteration,
    run_episodes,
)


def lab_loop_evaluation(policy_actions, rng, n_episodes: int, n_steps: int) -> np.ndarray:
    """The baseline: the lab's code shape, a Python loop over episodes and steps."""
    totals = []
    for _ in range(n_episodes):
        state, total = START_STATE, 0.0
        for _ in range(n_steps):
            action = policy_actions(state, rng)
            next_state = rng.choice(3, p=TRANSITIONS[state, action])
            total += REWARDS[state, action, next_state]
            state = next_state
        totals.append(total)
    return np.array(totals)


def lab_random(state, rng):
    return rng.choice(POSSIBLE_ACTIONS[state])


def best_of(repeats: int, function) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_evaluation(n_episodes: int, n_steps: int) -> dict:
    policy = POLICIES["random"]
    loop_s = best_of(
        1, lambda: lab_loop_evaluation(lab_random, np.random.default_rng(0), n_episodes, n_steps)
    )
    vector_s = best_of(
        5, lambda: run_episodes(policy, np.random.default_rng(0), n_episodes, n_steps)
    )
    return {
        "episodes": n_episodes,
        "steps": n_steps,
        "loop_s": loop_s,
        "vectorised_s": vector_s,
        "speedup": loop_s / vector_s,
    }


def bench_q_learning(n_seeds: int, env_steps: int, gamma: float) -> dict:
    seeds = range(n_seeds)
    one_by_one_s = best_of(
        1, lambda: [q_learning(gamma, [np.random.default_rng(s)], env_steps) for s in seeds]
    )
    start = time.perf_counter()
    result = q_learning(gamma, [np.random.default_rng(s) for s in seeds], env_steps)
    batched_s = time.perf_counter() - start
    optimal = greedy_policy(q_value_iteration(gamma))
    return {
        "seeds": n_seeds,
        "env_steps": env_steps,
        "gamma": gamma,
        "one_by_one_s": one_by_one_s,
        "batched_s": batched_s,
        "speedup": one_by_one_s / batched_s,
        "optimal_at_end": int((result.policy == optimal).all(axis=1).sum()),
    }


def study(gamma: float, n_seeds: int, env_steps: int, record_every: int, **lr) -> dict:
    """How often, and from when on, Q-learning holds the optimal policy over many seeds."""
    start = time.perf_counter()
    result = q_learning(
        gamma,
        [np.random.default_rng(s) for s in range(n_seeds)],
        env_steps,
        record_every=record_every,
        **lr,
    )
    seconds = time.perf_counter() - start
    q_star = q_value_iteration(gamma)
    optimal = greedy_policy(q_star)
    policies = greedy_policy(result.history)  # (K, N, S)
    is_optimal = (policies == optimal).all(axis=-1)  # (K, N)
    since = holds_policy_since(result.history_steps, policies, optimal)
    held = since[since >= 0]
    checkpoints = [
        int(np.searchsorted(result.history_steps, fraction * env_steps))
        for fraction in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
    ]
    flips = (policies[1:] != policies[:-1]).any(axis=-1).sum(axis=0)  # (N,) changes of policy
    # State 1's margin Q(1,2) - Q(1,0) across seeds: its mean is the bias, its std the noise.
    state1_gaps = result.history[:, :, 1, 2] - result.history[:, :, 1, 0]  # (K, N)
    return {
        "gamma": gamma,
        "seeds": n_seeds,
        "env_steps": env_steps,
        "seconds": seconds,
        "learning_rate": lr or {"lr_power": LR_POWER},
        "at_steps": [int(result.history_steps[k]) for k in checkpoints],
        "optimal_fraction": [float(is_optimal[k].mean()) for k in checkpoints],
        "state1_margin_mean": [float(state1_gaps[k].mean()) for k in checkpoints],
        "state1_margin_std": [float(state1_gaps[k].std()) for k in checkpoints],
        "state1_margin_true": float(q_star[1, 2] - q_star[1, 0]),
        "mean_q_error": [
            float((result.history[k][:, ACTION_MASK] - q_star[ACTION_MASK]).mean())
            for k in checkpoints
        ],
        "optimal_fraction_last_half": float(is_optimal[len(is_optimal) // 2 :].mean()),
        "holds_to_end": int(len(held)),
        "holds_since_steps": {q: float(np.percentile(held, q)) for q in (50, 90, 100)}
        if len(held)
        else None,
        "policy_changes_median": float(np.median(flips)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", action="store_true", help="also run the many-seed study")
    parser.add_argument("--seeds", type=int, default=200, help="seeds in the study")
    parser.add_argument("--study-steps", type=int, default=1_000_000, help="steps at gamma 0.95")
    parser.add_argument(
        "--powers",
        default=str(LR_POWER),
        help="step-size powers to try at gamma 0.95, e.g. 0.85,0.7",
    )
    args = parser.parse_args()

    report = {
        "evaluation": bench_evaluation(1000, 100),
        "q_learning": bench_q_learning(20, 10_000, 0.99),
    }
    ev, ql = report["evaluation"], report["q_learning"]
    print(
        f"policy evaluation {ev['episodes']} x {ev['steps']} steps: vectorised "
        f"{ev['vectorised_s'] * 1e3:.1f} ms, lab loop {ev['loop_s'] * 1e3:.0f} ms, "
        f"speedup x{ev['speedup']:.0f}"
    )
    print(
        f"Q-learning {ql['seeds']} seeds x {ql['env_steps']} steps (gamma {ql['gamma']}): "
        f"batched {ql['batched_s']:.2f} s, one seed at a time {ql['one_by_one_s']:.2f} s, "
        f"speedup x{ql['speedup']:.1f}; optimal at the end in {ql['optimal_at_end']}/{ql['seeds']}"
    )
    if args.study:
        n = args.seeds
        report["study"] = [
            study(0.90, n, Q_LEARNING_STEPS, 100),
            study(0.99, n, Q_LEARNING_STEPS, 100),
            study(0.99, n, 200_000, 1000, lr_power=0.0, lr_scale=0.01),
        ]
        for power in (float(p) for p in args.powers.split(",")):
            report["study"].append(study(0.95, n, args.study_steps, 1000, lr_power=power))
    if args.study:
        for entry in report["study"]:
            print(json.dumps(entry))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
