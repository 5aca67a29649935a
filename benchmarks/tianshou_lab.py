"""Tianshou's DQN with the lab's network and hyperparameters, as a Tianshou user would run it:
its ``Collector`` on a ``DummyVectorEnv`` of one gridworld, a ``VectorReplayBuffer``, the lab's
warm-up collected with ``random=True``, then ``OffPolicyTrainer`` collecting 250 env steps and
doing 20 gradient steps of batch 64 per round, a hard target copy every 20 gradient steps, Adam
1e-4, MSE (no ``huber_loss_delta``), gamma 0.99, one-step targets, no double DQN, no gradient
clipping, and the lab's epsilon set before each round (Tianshou's ``training_fn``).

The network is the lab's CNN with a dense 256 and a dense 4 (1,814,436 parameters, as in
qarcade and in the SB3 benchmark), fed channels-first frames scaled to [0, 1].

Used by ``bench_dqn_sb3.py --tianshou``. Needs ``pip install -c constraints.txt -e '.[bench]'``
(Tianshou 2.0).
"""

from __future__ import annotations

import contextlib
import io
import time


def tianshou_dqn(total_steps: int, lab, seed: int) -> tuple[float, float, int, int]:
    """(wall seconds of the warm-up and training, CPU seconds of construction and both,
    parameters, gradient updates) of Tianshou learning for ``total_steps`` env steps."""
    import gymnasium as gym
    import numpy as np
    import torch
    from lab_torso import lab_torso  # the same torso as SB3's
    from tianshou.algorithm.modelfree.dqn import DQN, DiscreteQLearningPolicy
    from tianshou.algorithm.optim import AdamOptimizerFactory
    from tianshou.data import Collector, VectorReplayBuffer
    from tianshou.env import DummyVectorEnv
    from tianshou.trainer import OffPolicyTrainerParams
    from torch import nn

    import qarcade  # noqa: F401  (registers the gridworld)
    from qarcade.dqn.learner import epsilon_at

    class LabQ(nn.Module):
        """The lab's CNN and head; Tianshou calls model(obs, state, info) -> (Q, state)."""

        def __init__(self, channels: int, actions: int):
            super().__init__()
            self.net = nn.Sequential(
                lab_torso(channels),
                nn.Linear(512, 256),
                nn.ReLU(),
                nn.Linear(256, actions),
            )

        def forward(self, obs, state=None, info=None):
            x = torch.as_tensor(obs, dtype=torch.float32).permute(0, 3, 1, 2) / 255.0
            return self.net(x), state

    start_cpu = time.process_time()
    np.random.seed(seed)  # Tianshou's exploration draws from numpy's global stream
    torch.manual_seed(seed)

    def make():
        return gym.make("qarcade/GridWorld-v0", size=lab.grid_size)

    envs = DummyVectorEnv([make])
    envs.seed(seed)
    probe = make()
    model = LabQ(probe.observation_space.shape[-1], int(probe.action_space.n))
    policy = DiscreteQLearningPolicy(
        model=model, action_space=probe.action_space, observation_space=probe.observation_space
    )
    algorithm = DQN(
        policy=policy,
        optim=AdamOptimizerFactory(lr=lab.learning_rate),
        gamma=lab.gamma,
        n_step_return_horizon=lab.n_step,
        target_update_freq=lab.target_update_every,  # gradient steps, as qarcade counts
        is_double=lab.double,
        huber_loss_delta=None,  # MSE, the lab's loss
    )
    collector = Collector(algorithm, envs, VectorReplayBuffer(lab.buffer_size, 1))
    collector.reset()

    def training_fn(epoch: int, env_step: int) -> None:  # env_step counts after the warm-up
        policy.set_eps_training(
            epsilon_at(
                lab.warmup_steps + env_step,
                lab.warmup_steps,
                lab.epsilon_start,
                lab.epsilon_end,
                lab.epsilon_decay_steps,
            )
        )

    params = OffPolicyTrainerParams(
        training_collector=collector,
        test_collector=None,
        max_epochs=1,
        epoch_num_steps=total_steps - lab.warmup_steps,
        collection_step_num_env_steps=lab.train_every_steps,
        update_step_num_gradient_steps_per_sample=lab.updates_per_round / lab.train_every_steps,
        batch_size=lab.batch_size,
        training_fn=training_fn,
        verbose=False,
        show_progress=False,
    )
    start = time.perf_counter()
    collector.collect(n_step=lab.warmup_steps, random=True)
    # Tianshou 2.0.1 shows a bar for any round of 20+ gradient steps whatever show_progress says
    with contextlib.redirect_stderr(io.StringIO()):
        stats = algorithm.run_training(params)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
    envs.close()
    parameters = sum(p.numel() for p in model.parameters())
    updates = stats.update_step * lab.updates_per_round  # one trainer update step per round
    return seconds, cpu_seconds, parameters, updates
