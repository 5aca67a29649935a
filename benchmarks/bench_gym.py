"""qarcade on any Gymnasium env and Atari game, against Stable-Baselines3, same machine, same run.

Three measurements (docs/BENCHMARKS.md, "Any Gymnasium environment", has the figures):

``--cartpole``: wall time to a greedy 475 on CartPole-v1 (20 fresh episodes, every 2,500 env
steps), per seed, interleaved: qarcade's default (``qarcade train CartPole-v1``: the classic
preset) and SB3's DQN with the RL Baselines3 Zoo's hyperparameters (lr 2.3e-3, batch 64, buffer
100k, learning_starts 1000, target update 10, train_freq 256, gradient_steps 128, exploration
0.16 -> 0.04, net [256, 256], 50k steps) evaluated the same way (``EvalCallback`` stopping on
475). Prints each run and the medians; the goal is qarcade >= 5x faster and <= 15 s.

``--budgets``: qarcade's default at the Zoo's budgets and scores (DQN): CartPole-v1 500 at 50k
env steps, Acrobot-v1 -76.6 at 100k, MountainCar-v0 -100.8 at 120k, LunarLander-v3 154.4 at
100k; a seed succeeds when a greedy evaluation of 20 fresh episodes reaches the score within the
budget. Prints the fraction of seeds and their steps (goal: >= 8 of 10).

``--atari``: env steps/s of the ``atari`` preset on Breakout and Pong (8 envs, ale-py's vector
env, one update of 32 every 4 env steps after warm-up) against SB3's DQN with its AtariWrapper
(its Atari defaults: 1 env, train_freq 4), both on the CPU, the same steps (goal: >= 1.5x).

Needs the optional extra: ``pip install -c constraints.txt -e '.[bench]'``.

    .venv/bin/python benchmarks/bench_gym.py --cartpole --seeds 5
    .venv/bin/python benchmarks/bench_gym.py --budgets --envs CartPole-v1,Acrobot-v1 --seeds 3
    .venv/bin/python benchmarks/bench_gym.py --atari --steps 6000
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

from qarcade.dqn.config import build_config
from qarcade.dqn.train import train

ZOO = {  # env: (env steps, the Zoo's DQN score)
    "CartPole-v1": (50_000, 500.0),
    "Acrobot-v1": (100_000, -76.6),
    "MountainCar-v0": (120_000, -100.8),
    "LunarLander-v3": (100_000, 154.4),
}
EVAL_EVERY, EVAL_EPISODES = 2_500, 20


def quiet(*args, **kwargs) -> None:
    pass


def qarcade_run(env: str, seed: int, goal: float | None, max_steps: int, threads: int) -> dict:
    """qarcade's default preset for ``env`` (as ``qarcade train ENV`` picks it)."""
    from qarcade.dqn.config import default_preset

    overrides = {"env": env, "seed": seed, "video": False, "final_eval_episodes": 0}
    overrides.update(max_steps=max_steps, eval_every_steps=EVAL_EVERY)
    overrides.update(eval_episodes=EVAL_EPISODES, torch_threads=threads)
    if goal is not None:
        overrides["goal"] = goal
    config = build_config(default_preset(env), None, overrides)
    with tempfile.TemporaryDirectory() as run_dir:
        started = time.perf_counter()
        summary = train(config, run_dir, progress=False, log=quiet)
        seconds = time.perf_counter() - started
    reached = summary["goal_reached_at"]
    return {
        "who": "qarcade",
        "env": env,
        "seed": seed,
        "reached": reached is not None,
        "steps": reached["step"] if reached else summary["env_steps"],
        "seconds": round(seconds, 2),
        "last_eval": summary["last_eval"] and summary["last_eval"]["mean"],
    }


def sb3_zoo_cartpole(seed: int, goal: float = 475.0) -> dict:
    """SB3's DQN with the Zoo's CartPole-v1 hyperparameters, stopped by a greedy 475."""
    import gymnasium as gym
    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import EvalCallback, StopTrainingOnRewardThreshold

    model = DQN(
        "MlpPolicy",
        gym.make("CartPole-v1"),
        learning_rate=2.3e-3,
        batch_size=64,
        buffer_size=100_000,
        learning_starts=1_000,
        gamma=0.99,
        target_update_interval=10,
        train_freq=256,
        gradient_steps=128,
        exploration_fraction=0.16,
        exploration_final_eps=0.04,
        policy_kwargs={"net_arch": [256, 256]},
        seed=seed,
        device="cpu",
    )
    stop = StopTrainingOnRewardThreshold(reward_threshold=goal, verbose=0)
    evaluation = EvalCallback(
        gym.make("CartPole-v1"),
        callback_on_new_best=stop,
        n_eval_episodes=EVAL_EPISODES,
        eval_freq=EVAL_EVERY,
        deterministic=True,
        verbose=0,
    )
    started = time.perf_counter()
    model.learn(total_timesteps=50_000, callback=evaluation)
    seconds = time.perf_counter() - started
    reached = evaluation.best_mean_reward >= goal
    return {
        "who": "sb3-zoo",
        "env": "CartPole-v1",
        "seed": seed,
        "reached": bool(reached),
        "steps": int(model.num_timesteps),
        "seconds": round(seconds, 2),
        "last_eval": float(evaluation.last_mean_reward),
    }


def cartpole(args) -> list[dict]:
    import torch

    torch.set_num_threads(args.torch_threads)  # SB3 uses torch's own setting
    rows = []
    for seed in range(args.seeds):
        for who in ("qarcade", "sb3-zoo"):  # interleaved: both see the same machine load
            if who == "qarcade":
                row = qarcade_run("CartPole-v1", seed, None, 50_000, args.torch_threads)
            else:
                row = sb3_zoo_cartpole(seed)
            rows.append(row)
            print(json.dumps(row), flush=True)
    for who in ("qarcade", "sb3-zoo"):
        mine = [r for r in rows if r["who"] == who]
        reached = [r for r in mine if r["reached"]]
        print(
            f"{who}: reached 475 on {len(reached)}/{len(mine)} seeds; median "
            f"{statistics.median(r['seconds'] for r in mine):.1f} s, "
            f"{statistics.median(r['steps'] for r in mine):,.0f} env steps"
        )
    ours = statistics.median(r["seconds"] for r in rows if r["who"] == "qarcade")
    theirs = statistics.median(r["seconds"] for r in rows if r["who"] == "sb3-zoo")
    print(f"wall time ratio (SB3 / qarcade, medians): {theirs / ours:.1f}x")
    return rows


def budgets(args) -> list[dict]:
    rows = []
    for env in args.envs.split(","):
        budget, score = ZOO[env]
        mine = []
        for seed in range(args.seeds):
            row = qarcade_run(env, seed, score, budget, args.torch_threads)
            mine.append(row)
            print(json.dumps(row), flush=True)
        reached = [r for r in mine if r["reached"]]
        steps = statistics.median(r["steps"] for r in reached) if reached else float("nan")
        print(
            f"{env}: greedy {score:g} within {budget:,} env steps on {len(reached)}/{len(mine)} "
            f"seeds (median {steps:,.0f} steps, {statistics.median(r['seconds'] for r in mine):.0f}"
            " s)"
        )
        rows += mine
    return rows


def atari(args) -> list[dict]:
    import torch

    torch.set_num_threads(args.torch_threads)
    rows = []
    for game in ("breakout", "pong"):
        config = build_config(
            "atari",
            None,
            {
                "env": game,
                "max_steps": args.steps,
                "warmup_steps": args.steps // 3,
                "buffer_size": 100_000,
                "eval_every_steps": 0,
                "final_eval_episodes": 0,
                "checkpoint_every_steps": 0,
                "video": False,
                "torch_threads": args.torch_threads,
            },
        )
        with tempfile.TemporaryDirectory() as run_dir:
            started = time.perf_counter()
            train(config, run_dir, progress=False, log=quiet)
            ours = args.steps / (time.perf_counter() - started)
        theirs = sb3_atari_steps_per_second(game, args.steps)
        row = {"game": game, "qarcade_steps_per_s": round(ours), "sb3_steps_per_s": round(theirs)}
        row["ratio"] = round(ours / theirs, 2)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def sb3_atari_steps_per_second(game: str, steps: int) -> float:
    """SB3's DQN on ``game`` with its AtariWrapper and CnnPolicy, same warm-up share."""
    import ale_py  # noqa: F401 - registers the ALE ids
    from stable_baselines3 import DQN
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.vec_env import VecFrameStack

    from qarcade.envs.resolve import resolve_env

    env_id = resolve_env(game).gym_id
    envs = VecFrameStack(make_atari_env(env_id, n_envs=1, seed=0), n_stack=4)
    model = DQN(
        "CnnPolicy",
        envs,
        buffer_size=100_000,
        learning_starts=steps // 3,
        train_freq=4,
        batch_size=32,
        optimize_memory_usage=False,
        device="cpu",
        seed=0,
    )
    started = time.perf_counter()
    model.learn(total_timesteps=steps)
    return steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cartpole", action="store_true", help="time to 475 against SB3")
    parser.add_argument("--budgets", action="store_true", help="the Zoo's budgets and scores")
    parser.add_argument("--atari", action="store_true", help="Atari env steps/s against SB3")
    parser.add_argument("--envs", default=",".join(ZOO), help="--budgets: envs, comma-separated")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=6_000, help="--atari: env steps of each")
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--json", metavar="FILE", help="write the rows to FILE")
    args = parser.parse_args()
    rows = []
    if args.cartpole:
        rows += cartpole(args)
    if args.budgets:
        rows += budgets(args)
    if args.atari:
        rows += atari(args)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(rows, out, indent=1)


if __name__ == "__main__":
    main()
