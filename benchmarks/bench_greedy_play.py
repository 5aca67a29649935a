"""How a trained gridworld agent plays greedily on fresh games: mean return, and how many
episodes end in a loop (the hero going back and forth between two cells).

Plays ``--episodes`` greedy episodes of a run's agent (its checkpoint) at once, on games reset
with seeds the run never trained on, and prints the mean return, its standard deviation and the
fraction of episodes whose last 10 steps visit 2 cells or fewer and collect no reward.

    .venv/bin/python benchmarks/bench_greedy_play.py runs/RUN            # ~2 s
    .venv/bin/python benchmarks/bench_greedy_play.py runs/A runs/B --episodes 200 --json
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from qarcade.dqn.envs import make_vector
from qarcade.dqn.evaluate import load_trained

LOOP_STEPS = 10


def greedy_play(run_dir: str, episodes: int, seed: int) -> dict:
    config, network = load_trained(run_dir, torch.device("cpu"))
    if config.env != "gridworld" or config.frame_stack != 1:
        raise SystemExit(f"{run_dir}: a gridworld run with one frame per observation, please")
    envs = make_vector(config, episodes, evaluation=True)
    obs, info = envs.reset(seed=seed)
    heroes, rewards = [info["hero"].copy()], []  # (N, 2) cells; (N,) rewards per step
    for _ in range(config.max_episode_steps):  # every copy plays exactly one episode
        with torch.no_grad():
            q = network(torch.from_numpy(obs[:, None])).float().numpy()  # (N, A)
        obs, reward, _, _, info = envs.step(q.argmax(axis=1))
        heroes.append(info["hero"].copy())
        rewards.append(reward)
    envs.close()
    heroes, rewards = np.array(heroes), np.array(rewards)  # (T + 1, N, 2), (T, N)
    returns = rewards.sum(axis=0)
    loops = [
        len({tuple(cell) for cell in heroes[-LOOP_STEPS - 1 :, e]}) <= 2
        and not rewards[-LOOP_STEPS:, e].any()
        for e in range(episodes)
    ]
    return {
        "run": run_dir,
        "episodes": episodes,
        "mean": float(returns.mean()),
        "std": float(returns.std()),
        "loop_fraction": float(np.mean(loops)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=987_654, help="first fresh game's seed")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for run_dir in args.runs:
        result = greedy_play(run_dir, args.episodes, args.seed)
        if args.json:
            print(json.dumps(result))
        else:
            print(
                f"{run_dir}: mean {result['mean']:.2f} (std {result['std']:.2f}) over "
                f"{args.episodes} fresh episodes; "
                f"{100 * result['loop_fraction']:.0f}% end in a loop"
            )


if __name__ == "__main__":
    main()
