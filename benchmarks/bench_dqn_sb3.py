"""qarcade's DQN against Stable-Baselines3's, same network and hyperparameters, same run.

Both train the lab's DQN on the 5x5 gridworld for the same env steps: the lab's CNN (conv 32
8x8/4, 64 4x4/2, 64 3x3/1, 512 7x7/1, dense 256, dense 4: 1,814,436 parameters in both), one
env, 5,000 uniform warm-up steps, then 20 updates of batch 64 every 250 steps (5 episodes) and
a hard target copy, Adam 1e-4, MSE, gamma 0.99, replay 50,000, epsilon 0.6 -> 0.1. Prints env
steps/s of each and their ratio (goal: qarcade >= 1.5x).

Needs the optional extra: ``pip install -c constraints.txt -e '.[bench]'``.

    .venv/bin/python benchmarks/bench_dqn_sb3.py                  # ~1-2 minutes
    .venv/bin/python benchmarks/bench_dqn_sb3.py --rounds 20 --json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time

import qarcade.dqn  # noqa: F401  (sets OMP_WAIT_POLICY before torch loads)
from qarcade.dqn.config import build_config
from qarcade.dqn.networks import count_parameters
from qarcade.dqn.train import train


def sb3_dqn(total_steps: int, lab, seed: int):
    import gymnasium as gym
    import torch
    from stable_baselines3 import DQN
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
    from torch import nn

    class LabCNN(BaseFeaturesExtractor):
        """The lab's conv torso (SB3 feeds channels-first images scaled to [0, 1])."""

        def __init__(self, observation_space):
            super().__init__(observation_space, features_dim=512)
            self.net = nn.Sequential(
                nn.Conv2d(observation_space.shape[0], 32, 8, stride=4),
                nn.ReLU(),
                nn.Conv2d(32, 64, 4, stride=2),
                nn.ReLU(),
                nn.Conv2d(64, 64, 3, stride=1),
                nn.ReLU(),
                nn.Conv2d(64, 512, 7, stride=1),
                nn.ReLU(),
                nn.Flatten(),
            )

        def forward(self, observations: torch.Tensor) -> torch.Tensor:
            return self.net(observations)

    env = gym.make("qarcade/GridWorld-v0", size=lab.grid_size)
    model = DQN(
        "CnnPolicy",
        env,
        learning_rate=lab.learning_rate,
        buffer_size=lab.buffer_size,
        learning_starts=lab.warmup_steps,
        batch_size=lab.batch_size,
        gamma=lab.gamma,
        train_freq=(lab.train_every_steps // lab.max_episode_steps, "episode"),
        gradient_steps=lab.updates_per_round,
        target_update_interval=lab.train_every_steps,  # SB3 counts env steps
        exploration_initial_eps=lab.epsilon_start,
        exploration_final_eps=lab.epsilon_end,
        exploration_fraction=min(1.0, (lab.warmup_steps + lab.epsilon_decay_steps) / total_steps),
        max_grad_norm=1e9,  # the lab does not clip
        policy_kwargs={"features_extractor_class": LabCNN, "net_arch": [256]},
        seed=seed,
        device="cpu",
        verbose=0,
    )
    model.train = _with_mse(model)  # SB3's loss is Huber; the lab's is MSE
    parameters = count_parameters(model.policy.q_net)
    start = time.perf_counter()
    model.learn(total_timesteps=total_steps)
    return time.perf_counter() - start, parameters, model._n_updates


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="update rounds after warm-up")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=2, help="interleaved runs of each")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    lab = build_config("lab", "dqn", {"final_eval_episodes": 0, "video": False})
    total = lab.warmup_steps + args.rounds * lab.train_every_steps
    config = dataclasses.replace(lab, max_steps=total, seed=args.seed)
    qarcade_runs, qarcade_totals, sb3_runs = [], [], []
    for _ in range(args.repeats):  # interleaved, best of each: the machine is noisy
        with tempfile.TemporaryDirectory() as run_dir:
            start = time.perf_counter()
            summary = train(config, run_dir, progress=False, log=lambda *a: None)
            qarcade_totals.append(time.perf_counter() - start)
        # The loop as SB3's learn() is: without building the run directory, the final
        # checkpoint (the replay: ~160 MB, fsynced) and the plot, which SB3 does not write.
        qarcade_runs.append(summary["wall_seconds"])
        sb3_seconds, sb3_parameters, sb3_updates = sb3_dqn(total, lab, args.seed)
        sb3_runs.append(sb3_seconds)
    qarcade_seconds, qarcade_total, sb3_seconds = (
        min(qarcade_runs),
        min(qarcade_totals),
        min(sb3_runs),
    )
    report = {
        "env_steps": total,
        "grad_updates": summary["grad_updates"],
        "qarcade_steps_per_second": total / qarcade_seconds,
        "qarcade_steps_per_second_with_setup_and_checkpoint": total / qarcade_total,
        "sb3_steps_per_second": total / sb3_seconds,
        "sb3_parameters": sb3_parameters,
        "sb3_grad_updates": sb3_updates,
        "speedup": sb3_seconds / qarcade_seconds,
        "qarcade_seconds_each": qarcade_runs,
        "sb3_seconds_each": sb3_runs,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(
        f"lab DQN, lab CNN ({sb3_parameters:,} parameters in SB3), {total:,} env steps, "
        f"{summary['grad_updates']} updates in qarcade (from step 5,000), {sb3_updates} in SB3 "
        "(after step 5,000)"
    )
    print(
        f"  qarcade: {report['qarcade_steps_per_second']:.0f} env steps/s "
        f"({total / qarcade_total:.0f} with setup, checkpoint and plot)"
    )
    print(f"  SB3:     {report['sb3_steps_per_second']:.0f} env steps/s")
    print(f"ratio: qarcade is {report['speedup']:.2f}x SB3's speed")


if __name__ == "__main__":
    main()
