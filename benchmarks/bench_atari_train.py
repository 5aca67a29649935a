"""DQN training throughput on Ms. Pac-Man on the CPU: qarcade against Stable-Baselines3, same run.

Both train DQN (plain head, one-step target) with the Nature CNN (conv 32 8x8/4, 64 4x4/2,
64 3x3/1, dense 512, dense 9: the same parameter count, printed) on the same standard
preprocessing (``qarcade.envs.atari``: no-op starts, skip 4 with max-pool, 84x84 grey, 4 frames,
clipped rewards), ``--envs`` copies, with the same hyperparameters: ``--warmup`` uniform
steps, then one update of batch 32 every 4 env steps, target copy every 2,000 updates (8,000
env steps), Adam 1e-4 (eps 1.5e-4), Huber loss, gradient norm clipped at 10, gamma 0.99,
epsilon 1 -> 0.01, replay ``--replay`` transitions. qarcade steps ale-py's C++ vector env and
rebuilds the stacks from single frames in its replay; SB3 steps the same single envs
(``make_atari_env(..., frame_stack=4)``) in its DummyVecEnv and stores obs and next_obs.

Prints env steps/s of each over the same steps and their ratio, per wall-clock second and per
CPU second (all threads; steadier on a shared machine), best of ``--repeats`` interleaved runs,
and, from timers around qarcade's gradient updates
(forward, backward, optimiser step) and acting forwards, the share of qarcade's wall time spent
outside the network: over the whole run, and over its learning phase (from the first update
on; the uniform warm-up, a third of these steps, is 1% of a real run's). Needs the optional
extra: ``pip install -c constraints.txt -e '.[bench]'``.

    .venv/bin/python benchmarks/bench_atari_train.py                 # ~3 minutes on 2 cores
    .venv/bin/python benchmarks/bench_atari_train.py --steps 8000 --repeats 1 --json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from timing import CALLS, SECONDS, timed  # benchmarks/timing.py

from qarcade.dqn.config import build_config
from qarcade.dqn.device import q_function
from qarcade.dqn.envs import make_vector
from qarcade.dqn.learner import Learner
from qarcade.dqn.networks import count_parameters
from qarcade.dqn.train import train

# perf_counter at the first update's start and at the last env step's end
MARKS: dict[str, float] = {}
HOOKS: dict = {}  # train()'s make_envs and make_q_function, instrumented


def instrument() -> dict:
    """Timers around qarcade's gradient updates and acting forwards (the network's share), and
    marks of where its learning phase starts (the first update) and ends (the last env step);
    returns the marked env builder and timed acting function for ``train``'s hooks."""
    update = timed("update", Learner.update)

    def marked_update(learner, batch):
        MARKS.setdefault("first_update", time.perf_counter())
        return update(learner, batch)

    Learner.update = marked_update

    def marked_vector(*args, **kwargs):
        envs = make_vector(*args, **kwargs)
        step = envs.step

        def step_and_mark(actions):
            result = step(actions)
            MARKS["last_step"] = time.perf_counter()
            return result

        envs.step = step_and_mark
        return envs

    def timed_q_function(network, device, **options):
        return timed("acting", q_function(network, device, **options))

    return {"make_envs": marked_vector, "make_q_function": timed_q_function}


def qarcade_config(args):
    return build_config(
        "atari",
        "dqn",
        {
            "num_envs": args.envs,
            "n_step": 1,
            "buffer_size": args.replay,
            "warmup_steps": args.warmup,
            "epsilon_decay_steps": args.steps,
            "max_steps": args.warmup + args.steps,
            "eval_every_steps": 0,
            "final_eval_episodes": 0,
            "checkpoint_every_steps": 0,
            "video": False,
            "seed": args.seed,
            "atari_backend": args.backend,
        },
    )


def qarcade_parameters(config) -> int:
    import gymnasium as gym
    import numpy as np

    from qarcade.dqn.networks import network_for

    frame = gym.spaces.Box(0, 255, (84, 84, 1), np.uint8)
    return count_parameters(network_for(config, frame, gym.spaces.Discrete(9)))


def run_qarcade(config) -> tuple[float, dict, float, float, int, float, float]:
    """(loop seconds, summary, update seconds, acting seconds, gradient updates, CPU seconds,
    seconds of the learning phase: from the first update to the last env step).

    CPU seconds (all threads, ale-py's included) cover all of ``train``: also its setup, final
    checkpoint and plot, which SB3's ``learn`` does not do (a small bias against qarcade)."""
    SECONDS.clear()
    CALLS.clear()
    MARKS.clear()
    cpu = time.process_time()
    with tempfile.TemporaryDirectory() as run_dir:
        summary = train(config, run_dir, progress=False, log=lambda *a: None, **HOOKS)
    cpu = time.process_time() - cpu
    update_s, acting_s = SECONDS["update"], SECONDS["acting"]
    learning_s = MARKS["last_step"] - MARKS["first_update"]
    return summary["wall_seconds"], summary, update_s, acting_s, CALLS["update"], cpu, learning_s


def run_sb3(config) -> tuple[float, int, int, float]:
    """(seconds in learn(), parameters of the Q-network, gradient updates, CPU seconds)."""
    from stable_baselines3 import DQN
    from stable_baselines3.common.vec_env import DummyVecEnv

    from qarcade.envs.atari import make_atari_env

    def make(i):
        return lambda: make_atari_env("mspacman", "standard", seed=config.seed + i, frame_stack=4)

    envs = DummyVecEnv([make(i) for i in range(config.num_envs)])
    total = config.max_steps
    model = DQN(
        "CnnPolicy",  # NatureCNN features (dense 512) + dense 9, as qarcade's nature + plain head
        envs,
        learning_rate=config.learning_rate,
        buffer_size=config.buffer_size,
        learning_starts=config.warmup_steps,
        batch_size=config.batch_size,
        gamma=config.gamma,
        train_freq=max(1, config.train_every_steps // config.num_envs),  # vector steps
        gradient_steps=config.updates_per_round
        * max(1, config.num_envs // config.train_every_steps),
        target_update_interval=config.target_update_every * config.train_every_steps,  # env steps
        exploration_initial_eps=config.epsilon_start,
        exploration_final_eps=config.epsilon_end,
        exploration_fraction=(config.warmup_steps + config.epsilon_decay_steps) / total,
        max_grad_norm=config.grad_clip_norm,
        optimize_memory_usage=False,
        policy_kwargs={"net_arch": [], "optimizer_kwargs": {"eps": config.adam_eps}},
        seed=config.seed,
        device="cpu",
        verbose=0,
    )
    parameters = count_parameters(model.policy.q_net)
    start, cpu = time.perf_counter(), time.process_time()
    model.learn(total_timesteps=total)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    envs.close()
    return seconds, parameters, model._n_updates, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, default=4, help="env copies of each")
    parser.add_argument("--warmup", type=int, default=1_000, help="uniform env steps first")
    parser.add_argument("--steps", type=int, default=2_000, help="env steps of learning")
    parser.add_argument("--replay", type=int, default=20_000, help="replay capacity of each")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved runs of each")
    parser.add_argument("--backend", default="auto", help="qarcade's vector env (auto: ale)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    config = qarcade_config(args)
    HOOKS.update(instrument())
    qarcade_runs, sb3_runs = [], []
    for _ in range(args.repeats):
        qarcade_runs.append(run_qarcade(config))
        sb3_runs.append(run_sb3(config))
    best_q = min(qarcade_runs, key=lambda run: run[0])
    best_s = min(sb3_runs, key=lambda run: run[0])
    seconds, summary, update_s, acting_s, updates, _, learning_s = best_q
    qarcade_cpu = min(run[5] for run in qarcade_runs)
    sb3_cpu = min(run[3] for run in sb3_runs)
    total = config.max_steps
    report = {
        "env_steps": total,
        "frames": 4 * total,
        "envs": args.envs,
        "qarcade_backend": args.backend,
        "qarcade_grad_updates": updates,
        "sb3_grad_updates": best_s[2],
        "qarcade_steps_per_second": total / seconds,
        "sb3_steps_per_second": total / best_s[0],
        "speedup": best_s[0] / seconds,
        "qarcade_steps_per_cpu_second": total / qarcade_cpu,
        "sb3_steps_per_cpu_second": total / sb3_cpu,
        "speedup_per_cpu_second": sb3_cpu / qarcade_cpu,
        "sb3_parameters": best_s[1],
        "qarcade_parameters": qarcade_parameters(config),
        "qarcade_ms_per_update": 1000 * update_s / max(updates, 1),
        "qarcade_share_in_updates": update_s / seconds,
        "qarcade_share_in_acting_forwards": acting_s / seconds,
        "qarcade_share_outside_network": (seconds - update_s - acting_s) / seconds,
        # the same over the learning phase only: a real run's warm-up is a sliver of it (20k of
        # the atari preset's 2.5M env steps), here a third of the steps
        "qarcade_share_outside_network_learning": (learning_s - update_s - acting_s) / learning_s,
        "qarcade_seconds_each": [run[0] for run in qarcade_runs],
        "sb3_seconds_each": [run[0] for run in sb3_runs],
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(
        f"DQN, Nature CNN ({report['qarcade_parameters']:,} parameters in qarcade, "
        f"{best_s[1]:,} in SB3), Ms. Pac-Man standard, {args.envs} "
        f"envs, {total:,} env steps ({args.warmup:,} warm-up): {updates} updates in qarcade, "
        f"{best_s[2]} in SB3"
    )
    for name in ("qarcade", "sb3"):
        print(
            f"  {name:8s} {report[f'{name}_steps_per_second']:5.0f} env steps/s, "
            f"{report[f'{name}_steps_per_cpu_second']:5.0f} per CPU second"
        )
    print(
        f"ratio: qarcade is {report['speedup']:.2f}x SB3's speed "
        f"({report['speedup_per_cpu_second']:.2f}x per CPU second)"
    )
    print(
        f"qarcade's wall time: {100 * report['qarcade_share_in_updates']:.1f}% in gradient "
        f"updates ({report['qarcade_ms_per_update']:.1f} ms each), "
        f"{100 * report['qarcade_share_in_acting_forwards']:.1f}% in acting forwards, "
        f"{100 * report['qarcade_share_outside_network']:.1f}% outside the network "
        f"({100 * report['qarcade_share_outside_network_learning']:.1f}% over the learning phase, "
        "after the warm-up)"
    )


if __name__ == "__main__":
    main()
