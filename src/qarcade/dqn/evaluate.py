"""Greedy (or epsilon-greedy) evaluation of a Q-network, and a video of one played episode.

Evaluation plays ``episodes`` whole episodes on a vector env: each copy plays a fixed quota, so
short episodes are not over-represented. It also counts the episodes that ended stuck: the last
``STUCK_STEPS`` steps scored nothing and showed at most 2 different observations (a greedy
gridworld hero stepping back and forth, or into a wall, until the episode is cut). Frames are
stacked exactly as the replay stacks them (an episode's first frame fills the stack). Evaluation
envs are the factory's own where it has them: Atari's return the raw game score and play whole
games (all lives, up to 108k frames).
"""

from __future__ import annotations

import sys
from collections import deque
from pathlib import Path
from typing import NamedTuple

import gymnasium as gym
import numpy as np
import torch

from qarcade.dqn.checkpoint import checkpoint_config
from qarcade.dqn.config import DQNConfig
from qarcade.dqn.device import QFunction, q_function, resolve_device
from qarcade.dqn.envs import env_factory, make_vector
from qarcade.dqn.learner import epsilon_greedy
from qarcade.dqn.networks import QNetwork, network_for, to_device
from qarcade.envs.resolve import gym_env_info, resolve_env
from qarcade.errors import UserError
from qarcade.runs import RunDir

STUCK_STEPS = 10


class Played(NamedTuple):
    returns: np.ndarray  # (episodes,)
    stuck: np.ndarray  # (episodes,) bool: ended stuck (``STUCK_STEPS``)


class StuckWatch:
    """Per env, the observations and rewards of the episode's last ``STUCK_STEPS`` steps."""

    def __init__(self, frames: np.ndarray):
        self.seen = [deque([f.tobytes()], maxlen=STUCK_STEPS + 1) for f in frames]
        self.scored = [deque(maxlen=STUCK_STEPS) for _ in frames]

    def push(self, frames: np.ndarray, rewards: np.ndarray, new_episode: np.ndarray) -> None:
        for e, frame in enumerate(frames):
            if new_episode[e]:
                self.seen[e].clear()
                self.scored[e].clear()
            else:
                self.scored[e].append(rewards[e] != 0)
            self.seen[e].append(frame.tobytes())

    def stuck(self, e: int) -> bool:
        seen, scored = self.seen[e], self.scored[e]
        return len(scored) == STUCK_STEPS and not any(scored) and len(set(seen)) <= 2


class FrameStacker:
    """The newest ``k`` frames of N envs, (N, k, *frame), oldest first."""

    def __init__(self, frames: np.ndarray, k: int):
        self.stacks = np.repeat(frames[:, None], k, axis=1)

    def push(self, frames: np.ndarray, new_episode: np.ndarray) -> np.ndarray:
        """Append frames (N, *frame); where ``new_episode`` (N,) the first frame fills the stack."""
        self.stacks = np.concatenate([self.stacks[:, 1:], frames[:, None]], axis=1)
        self.stacks[new_episode] = frames[new_episode][:, None]
        return self.stacks


def evaluate(q: QFunction, config: DQNConfig, episodes: int, **options) -> np.ndarray:
    """Returns (episodes,) of ``play(q, config, episodes, **options)``."""
    return play(q, config, episodes, **options).returns


def play(
    q: QFunction,
    config: DQNConfig,
    episodes: int,
    *,
    epsilon: float = 0.0,
    seed: int = 0,
    max_envs: int = 32,
) -> Played:
    """``episodes`` played with epsilon-greedy actions on Q: their returns and which ended stuck."""
    num_envs = min(episodes, max_envs)
    quota = np.full(num_envs, episodes // num_envs) + (np.arange(num_envs) < episodes % num_envs)
    rng = np.random.default_rng(seed)
    envs = make_vector(config, num_envs, evaluation=True)
    frames, _ = envs.reset(seed=seed)
    stacker = FrameStacker(frames, config.frame_stack)
    watch = StuckWatch(frames)
    running = np.zeros(num_envs)
    done_before = np.zeros(num_envs, bool)  # the previous step ended an episode
    returns: list[list[float]] = [[] for _ in range(num_envs)]
    stuck: list[list[bool]] = [[] for _ in range(num_envs)]
    played = np.zeros(num_envs, np.int64)
    while (played < quota).any():
        actions = epsilon_greedy(q(stacker.stacks), epsilon, rng)
        frames, rewards, terminated, truncated, _ = envs.step(actions)
        live = ~done_before  # a step after an episode end only resets
        running += rewards * live
        watch.push(frames, rewards, new_episode=done_before)
        ended = (terminated | truncated) & live
        for e in np.flatnonzero(ended):
            if played[e] < quota[e]:
                returns[e].append(float(running[e]))
                stuck[e].append(watch.stuck(e))
            played[e] += 1
        running[ended] = 0.0
        stacker.push(frames, new_episode=done_before)
        done_before = ended
    envs.close()
    flat = [r for per_env in returns for r in per_env]
    return Played(np.array(flat), np.array([s for per_env in stuck for s in per_env], bool))


def record_episode(
    q: QFunction, config: DQNConfig, *, epsilon: float = 0.0, seed: int = 0
) -> tuple[list[np.ndarray], float]:
    """Play one episode on a rendered single env; (rendered frames, total reward). A
    ``UserError`` in one line where the env cannot draw its frames (a renderer's package not
    installed, no ``rgb_array`` render mode)."""
    try:
        env = env_factory(config.env).make_single(config)
        rng = np.random.default_rng(seed)
        frame, _ = env.reset(seed=seed)
        stacker = FrameStacker(np.asarray(frame)[None], config.frame_stack)
        shown, total, done = [_rendered(env, config)], 0.0, False
        while not done:
            action = epsilon_greedy(q(stacker.stacks), epsilon, rng)[0]
            frame, reward, terminated, truncated, _ = env.step(int(action))
            stacker.push(np.asarray(frame)[None], np.zeros(1, bool))
            shown.append(_rendered(env, config))
            total += float(reward)
            done = terminated or truncated
    except gym.error.DependencyNotInstalled as error:
        raise UserError(
            f"{config.env} cannot draw its frames: {error} (pip install 'qarcade[classic]' "
            "installs pygame, which classic control and Box2D draw with)"
        ) from None
    env.close()
    return shown, total


def _rendered(env, config: DQNConfig) -> np.ndarray:
    frame = env.render()
    if not isinstance(frame, np.ndarray):
        modes = env.metadata.get("render_modes", [])
        raise UserError(
            f"{config.env} does not render rgb_array frames (its render modes: "
            f"{', '.join(modes) or 'none'}); no video"
        )
    return frame


def summarize(returns: np.ndarray, stuck: np.ndarray | None = None) -> dict:
    summary = {
        "episodes": int(len(returns)),
        "mean": float(np.mean(returns)),
        "std": float(np.std(returns)),
        "min": float(np.min(returns)),
        "max": float(np.max(returns)),
    }
    if stuck is not None:
        summary["stuck"] = int(np.sum(stuck))
    return summary


def load_trained(
    run_dir: str | Path, device: torch.device, trust_checkpoint: bool = False, warn=None
) -> tuple[DQNConfig, QNetwork]:
    """The config and online network saved in a run directory's checkpoint. The checkpoint's
    config is the truth; ``warn`` (default: standard error) hears where config.json differs.
    ``trust_checkpoint``: also load a checkpoint of an older qarcade (pickled: a run you trust)."""
    run = RunDir.open(run_dir)
    state = run.load_checkpoint(trust=trust_checkpoint)
    config = checkpoint_config(state, run, warn or _to_stderr)
    envs = make_vector(config, 1)
    network = network_for(config, envs.single_observation_space, envs.single_action_space)
    envs.close()
    try:
        network.load_state_dict(state["learner"]["online"])
    except (KeyError, RuntimeError) as error:
        raise UserError(f"checkpoint in {run.path} does not match its config: {error}") from None
    return config, to_device(network, device).eval()


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def write_episode_video(q: QFunction, config: DQNConfig, path: Path, seed: int, epsilon=0.0):
    """Record one episode to ``path`` (mp4 or gif); returns its total reward."""
    from qarcade import media

    frames, total = record_episode(q, config, epsilon=epsilon, seed=seed)
    if config.env == "gridworld" or not frames:
        media.write_video(frames, path)  # 84x84 frames shown 4x, a step every 1/4 s
        return total
    # Another env's frames at their own size (CartPole's 600x400 scaled 4x was 2400x1600)
    # and at its own pace where it names one (CartPole 50 fps); Atari: 15 steps a second.
    fps = 15.0
    if resolve_env(config.env).family == "gym":
        fps = float(gym_env_info(config.env).get("render_fps") or 30)
    media.write_video(frames, path, fps=fps, scale=max(1, 336 // max(frames[0].shape[:2])))
    return total


def evaluate_run(
    run_dir: str | Path,
    *,
    episodes: int = 100,
    epsilon: float | None = None,
    seed: int = 12345,
    video: str | Path | None = None,
    device: str = "cpu",
    trust_checkpoint: bool = False,
) -> dict:
    """Play a trained run's agent for ``episodes`` episodes; optionally record one to ``video``.

    ``epsilon`` None: the run's ``eval_epsilon`` (0 on the gridworld, 0.01 on Atari).
    ``trust_checkpoint``: also load a checkpoint of an older qarcade (pickled: a run you trust).
    """
    torch_device = resolve_device(device)
    config, network = load_trained(run_dir, torch_device, trust_checkpoint)
    epsilon = config.eval_epsilon if epsilon is None else epsilon
    q = q_function(network, torch_device, cuda_graph=config.cuda_graph)
    result = summarize(*play(q, config, episodes, epsilon=epsilon, seed=seed))
    result.update(epsilon=epsilon, run_dir=str(run_dir), env=config.env, algo=config.algo)
    if video is not None:
        result["video"] = str(video)
        result["video_reward"] = write_episode_video(q, config, Path(video), seed, epsilon)
    return result
