"""DQN (Mnih et al. 2015) on the lab's gridworld, written plainly: one env, one loop, one file.

A simplified twin of ``qarcade.dqn.train.train``, in the spirit of purejaxql's ``simplified/``
scripts and CleanRL's ``dqn.py``. It reads like the paper's algorithm box: act epsilon-greedily,
step the env, store the transition; every ``train_every_steps`` env steps sample a minibatch,
compute the TD target with the target network and take an Adam step on the TD loss; copy the
online network into the target network every ``target_update_every`` updates. The pieces are
qarcade's own (the replay, the pure ``td_target``, ``td_loss``, ``epsilon_at`` and
``exploration_draws``, the network factory); the machinery is left out: no vector env, CUDA
graph, bfloat16, grid input, compact replay, checkpoint or log file. CPU, float32.

The same numbers as the library's loop: on a config from ``minimal_config`` (one env, 1-step
returns, one frame per observation, plain DQN, float32 on the CPU), ``train(config)`` plays the
same episodes and computes the same losses, bit for bit, as ``run(config)``
(tests/test_dqn_minimal.py). These choices of the library's loop, kept here, make it so:

- The seed gives independent numpy streams (exploration, replay sampling, evaluation), seeds
  torch just before the network is built, and resets the env: a ``gymnasium.make`` env plays
  the same games as the loop's vector env of one copy.
- The update due at env step t samples from the transitions before t, and the action of step t
  is chosen with the weights before that update: the loop runs its updates while the envs step.
  (The paper stores the transition first; here the newest one waits for the next update.)
- The step after an episode's end only resets the env, as Gymnasium's next-step autoreset does
  and the replay's layout (final frame, then the next episode's first) expects; the loop draws
  its two exploration numbers for that step too, so this loop draws and drops them.
- Adam is fused (one kernel for all parameters), as the library's: the per-tensor Adam rounds
  differently, and the losses part after a few updates.

Run: ``python examples/dqn_minimal.py --size 3 --steps 3000 --seed 0`` (about 20 s on a CPU).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
from typing import NamedTuple

import gymnasium as gym
import numpy as np
import torch

import qarcade  # noqa: F401 - registers qarcade/GridWorld-v0
from qarcade.dqn.config import DQNConfig
from qarcade.dqn.learner import epsilon_at, exploration_draws, td_loss, td_target
from qarcade.dqn.networks import network_for
from qarcade.dqn.replay import Batch, ReplayBuffer

# The options this loop leaves out, and the values that turn them off in a DQNConfig.
PLAIN = dict(
    env="gridworld",
    num_envs=1,
    n_step=1,
    frame_stack=1,
    double=False,
    dueling=False,
    tau=1.0,
    updates_per_round=1,
    grad_clip_norm=0.0,
    compact_replay=False,
    grid_input=False,
    augment=False,  # no turned batches: the transitions as played
    precision="float32",
    cuda_graph=False,
    device="cpu",
)


def minimal_config(size: int = 3, steps: int = 3_000, seed: int = 0) -> DQNConfig:
    """Hyperparameters that learn the 3x3 gridworld in a few thousand env steps."""
    return DQNConfig(
        grid_size=size,
        network="tiny",  # the frame average-pooled to 14x14, then a 2-layer MLP
        gamma=0.9,
        learning_rate=1e-3,
        loss="huber",
        batch_size=64,
        buffer_size=10_000,
        warmup_steps=300,  # at least 2: the first update then has a transition to sample
        train_every_steps=2,
        target_update_every=50,
        epsilon_start=1.0,
        epsilon_end=0.05,
        epsilon_decay_steps=1_000,
        max_steps=steps,
        seed=seed,
        **PLAIN,
    )


class Result(NamedTuple):
    episode_returns: list[float]  # one per finished training episode
    losses: list[float]  # one per gradient update
    q_online: torch.nn.Module


def make_env(config: DQNConfig) -> gym.Env:
    return gym.make(
        "qarcade/GridWorld-v0",
        size=config.grid_size,
        partial=config.partial,
        max_episode_steps=config.max_episode_steps,
    )


@torch.no_grad()
def greedy_action(q_online: torch.nn.Module, stack: np.ndarray) -> int:
    """argmax_a Q(s, a) for one observation, a stack (1, 1, H, W, 3) of uint8 frames."""
    return int(q_online(torch.from_numpy(stack)).argmax(dim=1)[0])  # (1, A) -> ()


def gradient_step(batch: Batch, q_online, q_target, optimizer, loss_kind: str) -> float:
    """One Adam step on the TD loss of ``batch``; returns the loss."""
    obs = torch.from_numpy(batch.obs)  # (B, 1, H, W, 3) uint8: the network scales pixels
    actions = torch.from_numpy(batch.actions)  # (B,)
    rewards = torch.from_numpy(batch.returns)  # (B,)
    discounts = torch.from_numpy(batch.discounts)  # (B,) gamma, or 0 after a termination
    next_obs = torch.from_numpy(batch.next_obs)  # (B, 1, H, W, 3)
    q = q_online(obs)  # (B, A)
    with torch.no_grad():
        target = td_target(rewards, discounts, q_target(next_obs))  # (B,) r + gamma max_a Q'
    q_taken = q.gather(1, actions[:, None]).squeeze(1)  # (B,) Q(s, a)
    loss = td_loss(q_taken, target, loss_kind)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()


def run(config: DQNConfig, log=None) -> Result:
    """Train DQN as ``config`` says; ``log``, if given, gets a progress line every 20 episodes."""
    unsupported = {k: getattr(config, k) for k, v in PLAIN.items() if getattr(config, k) != v}
    if unsupported:
        raise ValueError(f"the minimal DQN leaves these options out: {unsupported}")

    # --- randomness: one seed, independent streams (the third one is for evaluation) ---
    explore_seed, replay_seed, _ = np.random.SeedSequence(config.seed).spawn(3)
    explore_rng = np.random.default_rng(explore_seed)  # epsilon-greedy choices
    replay_rng = np.random.default_rng(replay_seed)  # minibatch sampling
    torch.manual_seed(config.seed)  # network initialisation

    env = make_env(config)
    n_actions = int(env.action_space.n)
    # observations (B, 1, H, W, 3) uint8 -> Q-values (B, A)
    q_online = network_for(config, env.observation_space, env.action_space)
    q_target = copy.deepcopy(q_online).requires_grad_(False)
    optimizer = torch.optim.Adam(
        q_online.parameters(), lr=config.learning_rate, eps=config.adam_eps, fused=True
    )
    frame_shape, frame_dtype = env.observation_space.shape, env.observation_space.dtype
    replay = ReplayBuffer(config.buffer_size, 1, frame_shape, frame_dtype, gamma=config.gamma)

    frame, _ = env.reset(seed=config.seed)
    replay.start(frame[None])  # (1, H, W, 3): the replay has one column per env
    episode_returns, losses = [], []
    episode_return, env_steps = 0.0, 0
    while env_steps < config.max_steps:
        # --- act: epsilon-greedy on the newest observation ---
        epsilon = epsilon_at(
            env_steps,
            config.warmup_steps,
            config.epsilon_start,
            config.epsilon_end,
            config.epsilon_decay_steps,
        )
        explore, random_action = exploration_draws(1, n_actions, epsilon, explore_rng)  # (1,)
        if explore[0]:
            action = int(random_action[0])
        else:
            action = greedy_action(q_online, replay.latest_stacks())
        env_steps += 1

        # --- learn: every k env steps after warm-up, from the transitions before this one ---
        due = (env_steps - config.warmup_steps) % config.train_every_steps == 0
        if env_steps >= config.warmup_steps and due and replay.can_sample():
            batch = replay.sample(config.batch_size, replay_rng)
            losses.append(gradient_step(batch, q_online, q_target, optimizer, config.loss))
            if len(losses) % config.target_update_every == 0:
                q_target.load_state_dict(q_online.state_dict())  # hard copy

        # --- step and store ---
        frame, reward, terminated, truncated, _ = env.step(action)
        step = np.array([action]), np.array([reward]), np.array([terminated]), np.array([truncated])
        replay.add(*step, frame[None])
        episode_return += reward

        # --- episode end: the reset is a step of its own (no action, reward 0) ---
        if terminated or truncated:
            episode_returns.append(episode_return)
            episode_return = 0.0
            frame, _ = env.reset()
            not_done = np.zeros(1, bool)
            replay.add(np.zeros(1, np.int64), np.zeros(1), not_done, not_done, frame[None])
            exploration_draws(1, n_actions, epsilon, explore_rng)  # the loop's draws for it
            if log is not None and len(episode_returns) % 20 == 0:
                mean = np.mean(episode_returns[-20:])
                loss = f"{np.mean(losses[-100:]):.4f}" if losses else "-"
                log(
                    f"env step {env_steps:6d}  episode {len(episode_returns):4d}  mean return "
                    f"(last 20) {mean:6.2f}  epsilon {epsilon:.3f}  loss {loss}"
                )
    env.close()
    return Result(episode_returns, losses, q_online)


def evaluate(q_online, config: DQNConfig, episodes: int, seed: int) -> list[float]:
    """Returns of ``episodes`` greedy episodes on envs reset with seeds seed, seed + 1, ..."""
    env = make_env(config)
    returns = []
    for episode in range(episodes):
        frame, _ = env.reset(seed=seed + episode)
        total, done = 0.0, False
        while not done:
            action = greedy_action(q_online, frame[None, None])  # (1, 1, H, W, 3)
            frame, reward, terminated, truncated, _ = env.step(action)
            total += reward
            done = terminated or truncated
        returns.append(total)
    env.close()
    return returns


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=3, help="gridworld cells per side")
    parser.add_argument("--steps", type=int, default=3_000, help="env steps of training")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random stream")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # a small network: more threads only wait on each other
    config = minimal_config(args.size, args.steps, args.seed)
    print("config: " + ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(config).items()))
    result = run(config, log=print)
    print(f"mean training return, last 20 episodes: {np.mean(result.episode_returns[-20:]):.2f}")
    eval_seed = int(np.random.SeedSequence(config.seed).spawn(3)[2].generate_state(1)[0])
    greedy = evaluate(result.q_online, config, 20, seed=eval_seed)
    print(f"mean greedy return, 20 fresh episodes: {np.mean(greedy):.2f}")


if __name__ == "__main__":
    main()
