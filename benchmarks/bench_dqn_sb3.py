"""qarcade's DQN against Stable-Baselines3's, same network and hyperparameters, same machine.

Both (and with ``--tianshou`` Tianshou 2.0's DQN, ``tianshou_lab.py``) train the lab's DQN on
the 5x5 gridworld: the lab's CNN (conv 32 8x8/4, 64 4x4/2, 64 3x3/1, 512 7x7/1, dense 256,
dense 4: 1,814,436 parameters in each), one env, 5,000 uniform warm-up steps, then 20 updates
of batch 64 every 250 steps (5 episodes) and a hard target copy, Adam 1e-4, MSE, gamma 0.99,
replay 50,000, epsilon 0.6 -> 0.1 over the 50,000 steps after warm-up (SB3 is given the lab's
schedule exactly, as a function of its env steps; Tianshou sets it before each round).

Throughput (default): the same number of env steps in each, interleaved repeats in one run;
prints env steps/s of each and their ratio (goal: qarcade >= 1.5x), for qarcade as it runs by
default (its network reads the 7x7x3 grid the frame is scaled from: ``grid_input``) and with
its network reading the 84x84 pixels, as SB3's does.
``--goal``: SB3 alone until the mean reward of its last 50 training episodes reaches 15 (the
lab's goal) or ``--max-minutes`` pass; prints the env steps and seconds (bench_dqn_goal.py
runs it beside qarcade's default preset).
``--per-update``: CPU milliseconds of one update (sampling, both forwards, backward, optimiser
step) and of one batch-1 acting forward, on a replay of 5,000 uniform steps: SB3's, qarcade's
network as it was (the last layer an nn.Conv2d), and qarcade's now (that conv computed as the
dense layer it equals).

Needs the optional extra: ``pip install -c constraints.txt -e '.[bench]'``.

    .venv/bin/python benchmarks/bench_dqn_sb3.py                  # ~2-3 minutes
    .venv/bin/python benchmarks/bench_dqn_sb3.py --rounds 20 --repeats 3 --json
    .venv/bin/python benchmarks/bench_dqn_sb3.py --tianshou      # and Tianshou 2.0's DQN
    .venv/bin/python benchmarks/bench_dqn_sb3.py --goal --max-minutes 35 --torch-threads 1
    .venv/bin/python benchmarks/bench_dqn_sb3.py --per-update --torch-threads 1   # ~1 minute
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from collections import deque

from lab_torso import lab_torso  # benchmarks/lab_torso.py

from qarcade.dqn.config import build_config
from qarcade.dqn.learner import epsilon_at
from qarcade.dqn.networks import count_parameters
from qarcade.dqn.train import train


def lab_config():
    return build_config("lab", "dqn", {"final_eval_episodes": 0, "video": False})


def sb3_lab_dqn(lab, seed: int):
    """SB3's DQN with the lab's CNN and hyperparameters (``lab`` is qarcade's lab preset)."""
    import gymnasium as gym
    import torch
    from stable_baselines3 import DQN
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

    class LabCNN(BaseFeaturesExtractor):
        """The lab's conv torso (SB3 feeds channels-first images scaled to [0, 1])."""

        def __init__(self, observation_space):
            super().__init__(observation_space, features_dim=512)
            self.net = lab_torso(observation_space.shape[0])

        def forward(self, observations: torch.Tensor) -> torch.Tensor:
            return self.net(observations)

    env = gym.make("qarcade/GridWorld-v0", size=lab.grid_size)
    model = DQN(
        "CnnPolicy",
        env,
        learning_rate=lab.learning_rate,
        buffer_size=lab.buffer_size,
        # SB3 trains once more than learning_starts steps are done; the lab's first round is
        # at the end of its 100th random episode, as qarcade's (the 5,000th step still plays
        # uniformly: the lab's epsilon is 1 until then)
        learning_starts=lab.warmup_steps - 1,
        batch_size=lab.batch_size,
        gamma=lab.gamma,
        train_freq=(lab.train_every_steps // lab.max_episode_steps, "episode"),
        gradient_steps=lab.updates_per_round,
        target_update_interval=lab.train_every_steps,  # SB3 counts env steps
        max_grad_norm=1e9,  # the lab does not clip
        policy_kwargs={"features_extractor_class": LabCNN, "net_arch": [256]},
        seed=seed,
        device="cpu",
        verbose=0,
    )

    # The lab's epsilon as a function of env steps; SB3 passes the remaining fraction of
    # total_timesteps, known once learn() starts (before learning_starts it plays uniformly).
    def lab_epsilon(progress_remaining: float) -> float:
        env_steps = round((1.0 - progress_remaining) * model._total_timesteps)
        return epsilon_at(
            env_steps, lab.warmup_steps, lab.epsilon_start, lab.epsilon_end, lab.epsilon_decay_steps
        )

    model.exploration_schedule = lab_epsilon
    model.train = _with_mse(model)  # SB3's loss is Huber; the lab's is MSE
    return model


def sb3_dqn(total_steps: int, lab, seed: int) -> tuple[float, float, int, int]:
    """(wall seconds of learn(), CPU seconds of construction and learn(), parameters, gradient
    updates) of SB3 learning for ``total_steps`` env steps."""
    start_cpu = time.process_time()
    model = sb3_lab_dqn(lab, seed)
    start = time.perf_counter()
    model.learn(total_timesteps=total_steps)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
    return seconds, cpu_seconds, count_parameters(model.policy.q_net), model._n_updates


def sb3_to_goal(lab, seed: int, max_minutes: float, log_every_s: float = 60.0) -> dict:
    """SB3 until the mean of its last ``goal_window`` training episodes reaches ``goal``."""
    from stable_baselines3.common.callbacks import BaseCallback

    class Goal(BaseCallback):
        def __init__(self):
            super().__init__()
            self.recent = deque(maxlen=lab.goal_window)
            self.episodes = 0
            self.reached = None

        def _on_training_start(self) -> None:
            self.start = self.last_log = time.perf_counter()

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:  # SB3's Monitor: the finished episode's return
                    self.recent.append(float(info["episode"]["r"]))
                    self.episodes += 1
            now = time.perf_counter()
            mean = sum(self.recent) / max(len(self.recent), 1)
            if len(self.recent) == lab.goal_window and mean >= lab.goal:
                self.reached = {"step": self.num_timesteps, "seconds": now - self.start}
                return False
            if now - self.last_log >= log_every_s:
                self.last_log = now
                print(
                    f"sb3 {now - self.start:.0f} s: {self.num_timesteps} env steps, "
                    f"{self.episodes} episodes, mean{len(self.recent)} {mean:.2f}",
                    flush=True,
                )
            return now - self.start < 60.0 * max_minutes

    model = sb3_lab_dqn(lab, seed)
    goal = Goal()
    model.learn(total_timesteps=lab.max_steps, callback=goal)
    seconds = time.perf_counter() - goal.start
    return {
        "seed": seed,
        "reached": goal.reached is not None,
        "steps": goal.reached["step"] if goal.reached else None,
        "seconds": goal.reached["seconds"] if goal.reached else None,
        "env_steps_run": model.num_timesteps,
        "seconds_run": seconds,
        "episodes": goal.episodes,
        "last_mean": sum(goal.recent) / max(len(goal.recent), 1),
        "grad_updates": model._n_updates,
        "max_minutes": max_minutes,
    }


def _with_mse(model):
    """SB3's DQN.train with MSE instead of smooth L1 (same code path otherwise)."""
    import torch.nn.functional as F

    original = model.train

    def train(gradient_steps: int, batch_size: int = 100) -> None:
        smooth_l1 = F.smooth_l1_loss
        F.smooth_l1_loss = F.mse_loss
        try:
            original(gradient_steps, batch_size)
        finally:
            F.smooth_l1_loss = smooth_l1

    return train


def throughput(args) -> None:
    lab = lab_config()
    total = lab.warmup_steps + args.rounds * lab.train_every_steps
    config = dataclasses.replace(lab, max_steps=total, seed=args.seed)
    # qarcade as it runs by default (the network reads the 7x7x3 grid, grid_input), and with
    # the network reading the 84x84 pixels as SB3's does: the same network either way.
    contenders = {"grid": config, "pixels": dataclasses.replace(config, grid_input=False)}
    # Warm both: first-use imports (torch's optimiser pulls in torch._dynamo, ~2 CPU s; the
    # plot, matplotlib) are paid here, not by whichever side runs first.
    with tempfile.TemporaryDirectory() as run_dir:
        train(dataclasses.replace(config, max_steps=60), run_dir, progress=False, log=_quiet)
    sb3_dqn(60, lab, args.seed)
    baselines = {"sb3": sb3_dqn}
    if args.tianshou:
        from tianshou_lab import tianshou_dqn  # benchmarks/tianshou_lab.py

        baselines["tianshou"] = tianshou_dqn
        # its first collection compiles numba code (~4 s): paid here, with one round
        tianshou_dqn(lab.warmup_steps + lab.train_every_steps, lab, args.seed)
    runs = {name: [] for name in contenders}  # loop wall seconds
    totals = {name: [] for name in contenders}  # all of train()
    cpu = {name: [] for name in (*contenders, *baselines)}  # CPU s: less sensitive to the load
    baseline_runs = {name: [] for name in baselines}
    baseline_about = {}  # name -> (parameters, gradient updates)
    for _ in range(args.repeats):  # interleaved, best of each: the machine is noisy
        for name, contender in contenders.items():
            with tempfile.TemporaryDirectory() as run_dir:
                start, start_cpu = time.perf_counter(), time.process_time()
                summary = train(contender, run_dir, progress=False, log=_quiet)
                totals[name].append(time.perf_counter() - start)
                cpu[name].append(time.process_time() - start_cpu)
            # Wall time: the loop, as SB3's learn() is: without building the run directory,
            # the final checkpoint (the replay, fsynced) and the plot, which SB3 does not write.
            runs[name].append(summary["wall_seconds"])
        for name, baseline in baselines.items():
            seconds, cpu_seconds, parameters, updates = baseline(total, lab, args.seed)
            baseline_runs[name].append(seconds)
            cpu[name].append(cpu_seconds)
            baseline_about[name] = (parameters, updates)
    best = {name: min(seconds) for name, seconds in runs.items()}
    sb3_runs = baseline_runs["sb3"]
    sb3_seconds = min(sb3_runs)
    sb3_parameters, sb3_updates = baseline_about["sb3"]
    report = {
        "env_steps": total,
        "grad_updates": summary["grad_updates"],
        "sb3_steps_per_second": total / sb3_seconds,
        "sb3_parameters": sb3_parameters,
        "sb3_grad_updates": sb3_updates,
        "sb3_seconds_each": sb3_runs,
        "sb3_cpu_seconds_each": cpu["sb3"],
        "torch_threads": torch_threads(),
        "load_average": _load(),
    }
    for name in contenders:
        report[name] = {
            "steps_per_second": total / best[name],
            "steps_per_second_with_setup_and_checkpoint": total / min(totals[name]),
            "speedup": sb3_seconds / best[name],
            "speedup_cpu_seconds": min(cpu["sb3"]) / min(cpu[name]),
            "seconds_each": runs[name],
            "cpu_seconds_each": cpu[name],
        }
    if "tianshou" in baselines:
        tianshou_seconds = min(baseline_runs["tianshou"])
        report["tianshou"] = {
            "steps_per_second": total / tianshou_seconds,
            "parameters": baseline_about["tianshou"][0],
            "grad_updates": baseline_about["tianshou"][1],
            "seconds_each": baseline_runs["tianshou"],
            "cpu_seconds_each": cpu["tianshou"],
        }
        for name in contenders:
            report[name]["speedup_vs_tianshou"] = tianshou_seconds / best[name]
            report[name]["speedup_vs_tianshou_cpu_seconds"] = min(cpu["tianshou"]) / min(cpu[name])
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(
        f"lab DQN, lab CNN ({sb3_parameters:,} parameters in SB3), {total:,} env steps, "
        f"{summary['grad_updates']} updates in qarcade, {sb3_updates} in SB3 (from step 5,000)"
    )
    print(f"  SB3:                                {report['sb3_steps_per_second']:.0f} env steps/s")
    if "tianshou" in report:
        t = report["tianshou"]
        print(
            f"  Tianshou:                           {t['steps_per_second']:.0f} env steps/s "
            f"({t['grad_updates']} updates, {t['parameters']:,} parameters)"
        )
    for name, label in (("grid", "reading the grid (default)"), ("pixels", "reading pixels")):
        r = report[name]
        print(
            f"  qarcade {label + ':':28}{r['steps_per_second']:.0f} env steps/s "
            f"({r['steps_per_second_with_setup_and_checkpoint']:.0f} with setup, checkpoint and "
            f"plot): {r['speedup']:.2f}x SB3's speed, {r['speedup_cpu_seconds']:.2f}x in CPU s"
        )
        if "tianshou" in report:
            print(
                f"  {'':36}{r['speedup_vs_tianshou']:.2f}x Tianshou's speed, "
                f"{r['speedup_vs_tianshou_cpu_seconds']:.2f}x in CPU s"
            )
    print(
        f"(CPU seconds: all of train() against SB3's construction and learn(); "
        f"{report['torch_threads']} torch threads, load {report['load_average']})"
    )


def per_update(args) -> None:
    """CPU ms per update and per acting forward: SB3 against qarcade's network, change by change."""
    import numpy as np
    import torch
    from torch import nn

    from qarcade.dqn.envs import frame_codec, make_vector
    from qarcade.dqn.learner import Learner
    from qarcade.dqn.networks import network_for
    from qarcade.dqn.replay import ReplayBuffer

    lab = lab_config()
    envs = make_vector(lab, 1)
    obs_space, action_space = envs.single_observation_space, envs.single_action_space
    replay = ReplayBuffer(
        lab.buffer_size, 1, obs_space.shape, obs_space.dtype, codec=frame_codec(lab)
    )
    frames, _ = envs.reset(seed=args.seed)
    replay.start(frames)
    rng = np.random.default_rng(args.seed)
    for _ in range(lab.warmup_steps):
        actions = rng.integers(0, action_space.n, 1)
        frames, rewards, terminated, truncated, _ = envs.step(actions)
        replay.add(actions, rewards, terminated, truncated, frames)

    def network(last_as_dense: bool):
        torch.manual_seed(args.seed)
        net = network_for(lab, obs_space, action_space)
        if not last_as_dense:  # the plain nn.Conv2d it replaced, same weights
            conv = nn.Conv2d(64, 512, 7)
            conv.load_state_dict(net.torso[6].state_dict())
            net.torso[6] = conv
        return net

    def learner(net):
        return Learner.for_config(net, lab, torch.device("cpu"))  # lab: DQN, double off

    learners = {
        "qarcade before (7x7 conv as nn.Conv2d)": learner(network(False)),
        "qarcade now (7x7 conv as a dense layer)": learner(network(True)),
    }
    model = sb3_lab_dqn(lab, args.seed)
    model.learn(lab.warmup_steps)  # fills its replay the same way
    one = replay.latest_stacks()  # (1, 1, 84, 84, 3)
    sb3_one = np.transpose(one[:, 0], (0, 3, 1, 2))  # SB3's channels-first observation

    def sb3_round():
        model.train(lab.updates_per_round, lab.batch_size)

    def sb3_act():
        model.policy.predict(sb3_one, deterministic=True)

    def rounds(learner):
        def round_():
            for _ in range(lab.updates_per_round):
                learner.update(replay.sample(lab.batch_size, rng))

        def act():
            with torch.no_grad():
                learner.online(torch.from_numpy(one))

        return round_, act

    jobs = {"SB3": (sb3_round, sb3_act)} | {k: rounds(v) for k, v in learners.items()}
    clock = time.thread_time if torch.get_num_threads() == 1 else time.process_time
    acts = 20
    update_ms = {name: [] for name in jobs}
    act_ms = {name: [] for name in jobs}
    for _ in range(args.repeats):  # interleaved
        for name, (round_, act) in jobs.items():
            start = clock()
            round_()
            update_ms[name].append((clock() - start) / lab.updates_per_round * 1e3)
            start = clock()
            for _ in range(acts):
                act()
            act_ms[name].append((clock() - start) / acts * 1e3)
    report = {
        name: {
            "update_ms": min(update_ms[name]),
            "update_ms_median": float(np.median(update_ms[name])),
            "act_ms": min(act_ms[name]),
            "update_speedup_vs_sb3": min(update_ms["SB3"]) / min(update_ms[name]),
            "act_speedup_vs_sb3": min(act_ms["SB3"]) / min(act_ms[name]),
        }
        for name in jobs
    }
    report["torch_threads"] = torch.get_num_threads()
    report["load_average"] = _load()
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(
        f"CPU ms per update of batch 64 (best of {args.repeats} interleaved rounds of "
        f"{lab.updates_per_round}) and per batch-1 acting forward, {report['torch_threads']} "
        f"torch threads, load {report['load_average']}"
    )
    for name in jobs:
        r = report[name]
        print(
            f"  {name:40s} update {r['update_ms']:5.1f} ms ({r['update_speedup_vs_sb3']:.2f}x SB3)"
            f"  act {r['act_ms']:4.2f} ms ({r['act_speedup_vs_sb3']:.2f}x SB3)"
        )


def _quiet(*args) -> None:
    pass


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _load() -> str:
    import os

    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="update rounds after warm-up")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=2, help="interleaved runs of each")
    parser.add_argument("--goal", action="store_true", help="SB3 alone, to the lab's goal")
    parser.add_argument(
        "--tianshou", action="store_true", help="throughput: Tianshou's DQN too (tianshou_lab.py)"
    )
    parser.add_argument("--per-update", action="store_true", help="CPU ms per update and act")
    parser.add_argument("--max-minutes", type=float, default=35.0, help="--goal: wall-time cap")
    parser.add_argument("--torch-threads", type=int, default=0, help="0 = torch's default")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    if args.per_update:
        per_update(args)
        return
    if not args.goal:
        throughput(args)
        return
    result = sb3_to_goal(lab_config(), args.seed, args.max_minutes)
    result["load_average_at_end"] = _load()
    print(json.dumps(result, indent=None if args.json else 2), flush=True)


if __name__ == "__main__":
    main()
