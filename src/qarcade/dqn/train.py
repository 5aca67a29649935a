"""THE training loop of the DQN family (DQN, Double, Dueling, D3QN: two flags of one config).

Per vector step: act epsilon-greedily on all N envs with one batched forward; step; store the
step in the replay; close finished episodes into metrics. Every ``train_every_steps`` env steps
after warm-up: ``updates_per_round`` times sample, TD target, loss, optimiser step (the learner
syncs the target network). Then periodic evaluation and checkpoints; stop at the goal, the step
or time budget, or a signal (SIGINT/SIGTERM: checkpoint, then a clean exit).

Everything the loop needs to continue is in the checkpoint: network and optimiser states, the
replay, the counters, the numpy RNG states and the pickled vector env, so ``--resume`` continues
step for step as if never stopped (on CPU, bit for bit). An env that cannot be pickled restarts
its episodes on resume instead (the replay marks the cut as a truncation).

Atari (``mspacman``): a lost life (``info["life_loss"]``) is terminal for the TD target only;
metrics and evaluations record the raw game score (``info["episode"]["r"]``), not the clipped
rewards the agent learns from.
"""

from __future__ import annotations

import dataclasses
import math
import os
import pickle
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from qarcade.dqn.config import DQNConfig
from qarcade.dqn.envs import env_factory, frame_codec, make_vector
from qarcade.dqn.evaluate import evaluate, q_function, summarize, write_episode_video
from qarcade.dqn.learner import Learner, epsilon_at, exploration_draws
from qarcade.dqn.networks import count_parameters, network_for
from qarcade.dqn.replay import ReplayBuffer
from qarcade.errors import UserError
from qarcade.runs import CURVE, EVALUATIONS, METRICS, TENSORBOARD, VIDEO, RunDir

# Fields that may change when a run is resumed: budgets and bookkeeping, not the learning.
RESUMABLE_FIELDS = {
    "max_steps",
    "max_minutes",
    "goal",
    "goal_metric",
    "goal_window",
    "eval_every_steps",
    "eval_episodes",
    "final_eval_episodes",
    "eval_epsilon",
    "checkpoint_every_steps",
    "video",
    "device",
    "cuda_graph",
    "torch_threads",
}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available")
    return torch.device(name)


def resume_config(run_dir: str | Path, overrides: dict) -> DQNConfig:
    """The saved config of ``run_dir`` with ``overrides`` of resumable fields applied."""
    saved = DQNConfig.from_dict(RunDir.open(run_dir).read_config())
    fixed = {k: v for k, v in overrides.items() if getattr(saved, k) != v}
    changed = sorted(set(fixed) - RESUMABLE_FIELDS)
    if changed:
        raise UserError(f"cannot change {', '.join(changed)} when resuming a run")
    return dataclasses.replace(saved, **fixed)


@dataclass
class Counters:
    """The loop's state besides networks, replay and RNGs; saved in every checkpoint."""

    env_steps: int = 0
    vector_steps: int = 0
    episodes: int = 0
    update_rounds: int = 0
    wall_seconds: float = 0.0
    episode_return: list = field(default_factory=list)  # (N,) running, per env
    episode_length: list = field(default_factory=list)  # (N,)
    recent_returns: list = field(default_factory=list)  # last goal_window episodes
    loss_sum: float = 0.0  # losses since the last finished episode
    loss_count: int = 0
    last_loss: float = math.nan
    evaluations: int = 0
    next_eval_step: int = 0
    next_checkpoint_step: int = 0
    last_eval: dict | None = None
    goal_reached: dict | None = None  # {"step", "episode", "wall_seconds", "value"}


class StopSignals:
    """SIGINT/SIGTERM set ``received`` instead of killing the loop (main thread only)."""

    def __init__(self):
        self.received: int | None = None
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        self.received = signum

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def train(
    config: DQNConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    log=print,
    on_episodes=None,
) -> dict:
    """Train ``config`` into ``run_dir`` (new, or an existing run to resume); returns the summary.

    The library entry point of ``qarcade train`` and of sweeps. ``on_episodes``, if given, is
    called with the metrics rows of the episodes that just finished (tuples in
    ``runs.METRICS_COLUMNS`` order, exactly as appended to metrics.csv), e.g. a
    ``media.LiveCurve`` that redraws the learning curve in a notebook while the run goes on.
    """
    env_factory(config.env)  # an unknown env fails before anything is written
    device = resolve_device(config.device)
    if device.type == "cuda":
        # Shapes never change: cuDNN times its convolution algorithms once and keeps the
        # fastest; TF32 matrix products (GPU runs are not bit-reproducible anyway).
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")
    if config.torch_threads:
        torch.set_num_threads(config.torch_threads)
    run = RunDir.open(run_dir) if resume else RunDir.create(run_dir, config.to_dict())
    checkpoint = run.load_checkpoint() if resume else None

    # --- randomness: one seed, independent streams ---
    explore_seed, replay_seed, eval_seed = np.random.SeedSequence(config.seed).spawn(3)
    explore_rng = np.random.default_rng(explore_seed)  # epsilon-greedy choices
    replay_rng = np.random.default_rng(replay_seed)  # minibatch sampling
    eval_seed_base = int(eval_seed.generate_state(1)[0])  # fresh eval envs, seeded
    torch.manual_seed(config.seed)  # network initialisation

    envs = make_vector(config, config.num_envs)
    obs_space, action_space = envs.single_observation_space, envs.single_action_space
    network = network_for(config, obs_space, action_space)
    learner = Learner(
        network,
        double=config.double,
        loss=config.loss,
        learning_rate=config.learning_rate,
        adam_eps=config.adam_eps,
        grad_clip_norm=config.grad_clip_norm,
        target_update_every=config.target_update_every,
        tau=config.tau,
        device=device,
        cuda_graph=config.cuda_graph,
    )
    replay = ReplayBuffer(
        config.buffer_size,
        config.num_envs,
        obs_space.shape,
        obs_space.dtype,
        config.frame_stack,
        config.n_step,
        config.gamma,
        codec=frame_codec(config),
    )
    log(f"{config.algo} on {config.env}: {count_parameters(network):,} parameters on {device}")
    log(replay.describe())  # np.zeros: the pages are only touched as the replay fills
    memory_gib = _physical_memory_bytes() / 2**30
    if replay.nbytes > memory_gib * 2**30:
        log(
            f"warning: the replay will outgrow this machine's {memory_gib:.1f} GiB of memory "
            "as it fills; lower --buffer-size (alias --replay-size)"
        )
    log("config: " + ", ".join(f"{k}={v}" for k, v in config.to_dict().items()))

    n = config.num_envs
    if checkpoint is None:
        counters = Counters(episode_return=[0.0] * n, episode_length=[0] * n)
        counters.next_eval_step = config.eval_every_steps
        counters.next_checkpoint_step = config.checkpoint_every_steps
        frames, _ = envs.reset(seed=config.seed)
        replay.start(frames)
    else:
        try:
            learner.load_state_dict(checkpoint["learner"])
            replay.load_state_dict(checkpoint["replay"])
            counters = Counters(**checkpoint["counters"])
            explore_rng.bit_generator.state = checkpoint["rng"]["explore"]
            replay_rng.bit_generator.state = checkpoint["rng"]["replay"]
            torch.set_rng_state(checkpoint["rng"]["torch"])
            if checkpoint["envs"] is not None:
                envs.close()
                envs = pickle.loads(checkpoint["envs"])
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise UserError(
                f"checkpoint in {run.path} does not match its config: {error}"
            ) from None
        if checkpoint["envs"] is None:
            # The env could not be pickled: restart its episodes (not step-for-step exact).
            log("env state was not saved: episodes in progress restart")
            frames, _ = envs.reset(seed=config.seed + counters.vector_steps)
            replay.cut_episodes(frames)
            counters.episode_return = [0.0] * n
            counters.episode_length = [0] * n
        run.truncate_metrics(counters.episodes, counters.evaluations)
        log(f"resumed at {counters.env_steps:,} env steps, {counters.episodes:,} episodes")
    q_online = q_function(learner.online, device)

    def save_checkpoint() -> None:
        run.save_checkpoint(
            {
                "learner": learner.state_dict(),
                "replay": replay.state_dict(),
                "counters": dataclasses.asdict(counters),
                "rng": {
                    "explore": explore_rng.bit_generator.state,
                    "replay": replay_rng.bit_generator.state,
                    "torch": torch.get_rng_state(),
                },
                "envs": _pickled(envs),
                "config": config.to_dict(),
            }
        )

    def run_evaluation(episodes: int, seed: int) -> dict:
        learner.online.eval()
        returns = evaluate(q_online, config, episodes, epsilon=config.eval_epsilon, seed=seed)
        result = summarize(returns)
        learner.online.train()
        return result

    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(
        str(run / TENSORBOARD), purge_step=counters.env_steps if resume else None
    )
    bar = _progress_bar(config, counters, enabled=progress)
    started = time.perf_counter() - counters.wall_seconds
    recent = deque(counters.recent_returns, maxlen=config.goal_window)
    episode_return = np.array(counters.episode_return, dtype=np.float64)  # (N,)
    episode_length = np.array(counters.episode_length, dtype=np.int64)  # (N,)
    stop_reason = None

    with StopSignals() as signals:
        while stop_reason is None:
            # --- stop? ---
            wall = time.perf_counter() - started
            if signals.received is not None:
                stop_reason = signal.Signals(signals.received).name
                break
            if counters.env_steps >= config.max_steps:
                stop_reason = "max_steps"
                break
            if config.max_minutes and wall >= 60.0 * config.max_minutes:
                stop_reason = "max_minutes"
                break

            # --- act: one batched forward for all envs ---
            epsilon = epsilon_at(
                counters.env_steps,
                config.warmup_steps,
                config.epsilon_start,
                config.epsilon_end,
                config.epsilon_decay_steps,
            )
            live = ~replay.latest_is_final()  # (N,) False where this step only resets
            explore, random_actions = exploration_draws(n, action_space.n, epsilon, explore_rng)
            if (live & ~explore).any():
                greedy = q_online(replay.latest_stacks()).argmax(axis=1)  # (N,)
            else:  # every env explores or resets: no forward needed
                greedy = np.zeros(n, np.int64)
            actions = np.where(explore, random_actions, greedy)

            # --- step and store ---
            frames, rewards, terminated, truncated, info = envs.step(actions)
            replay.add(actions, rewards, terminated, truncated, frames, info.get("life_loss"))
            counters.vector_steps += 1
            counters.env_steps += int(live.sum())
            episode_return += rewards * live
            episode_length += live

            # --- learn: rounds due at warmup, warmup + k, warmup + 2k, ... env steps ---
            if counters.env_steps >= config.warmup_steps and replay.can_sample():
                due = (counters.env_steps - config.warmup_steps) // config.train_every_steps + 1
                losses = []  # 0-d tensors: one device sync per vector step, not per update
                for _ in range(due - counters.update_rounds):
                    for _ in range(config.updates_per_round):
                        losses.append(learner.update(replay.sample(config.batch_size, replay_rng)))
                if losses:
                    counters.loss_sum += float(torch.stack(losses).sum())
                    counters.loss_count += len(losses)
                counters.update_rounds = max(counters.update_rounds, due)

            # --- finished episodes -> metrics ---
            ended = np.flatnonzero((terminated | truncated) & live)
            if ended.size:
                episode_return = _raw_scores(info, episode_return)
                if counters.loss_count:
                    counters.last_loss = counters.loss_sum / counters.loss_count
                    counters.loss_sum, counters.loss_count = 0.0, 0
                wall = time.perf_counter() - started
                rows = []
                for e in ended:
                    counters.episodes += 1
                    recent.append(float(episode_return[e]))
                    rows.append(
                        (
                            counters.episodes,
                            counters.env_steps,
                            float(episode_return[e]),
                            int(episode_length[e]),
                            round(epsilon, 6),
                            counters.last_loss,
                            round(wall, 3),
                        )
                    )
                    writer.add_scalar("train/episode_reward", episode_return[e], counters.env_steps)
                episode_return[ended] = 0.0
                episode_length[ended] = 0
                run.append_rows(METRICS, rows)
                if on_episodes is not None:
                    on_episodes(rows)
                train_mean = float(np.mean(recent))
                writer.add_scalar(
                    f"train/mean_reward_{config.goal_window}", train_mean, counters.env_steps
                )
                writer.add_scalar("train/epsilon", epsilon, counters.env_steps)
                if not math.isnan(counters.last_loss):
                    writer.add_scalar("train/loss", counters.last_loss, counters.env_steps)
                full = len(recent) == config.goal_window
                if config.goal_metric == "train" and full and train_mean >= config.goal:
                    counters.goal_reached = _goal_record(counters, wall, train_mean)
                    stop_reason = "goal"
                if bar is not None:
                    bar.set_postfix_str(_postfix(counters, recent, epsilon, wall), refresh=False)

            # --- evaluate, checkpoint ---
            if config.eval_every_steps and counters.env_steps >= counters.next_eval_step:
                counters.next_eval_step += config.eval_every_steps
                counters.evaluations += 1
                result = run_evaluation(config.eval_episodes, eval_seed_base + counters.evaluations)
                counters.last_eval = {"step": counters.env_steps, **result}
                wall = time.perf_counter() - started
                row = (counters.env_steps, result["episodes"], result["mean"], result["std"])
                run.append_rows(EVALUATIONS, [(*row, result["min"], result["max"], round(wall, 3))])
                writer.add_scalar("eval/mean_reward", result["mean"], counters.env_steps)
                if config.goal_metric == "eval" and result["mean"] >= config.goal:
                    counters.goal_reached = _goal_record(counters, wall, result["mean"])
                    stop_reason = "goal"
            if (
                config.checkpoint_every_steps
                and counters.env_steps >= counters.next_checkpoint_step
            ):
                counters.next_checkpoint_step += config.checkpoint_every_steps
                _sync(counters, recent, episode_return, episode_length, started)
                save_checkpoint()
            if bar is not None:
                bar.update(int(live.sum()))

    # --- stop: checkpoint first, then the things people look at ---
    if bar is not None:
        bar.close()
    _sync(counters, recent, episode_return, episode_length, started)
    save_checkpoint()
    writer.flush()
    interrupted = stop_reason in ("SIGINT", "SIGTERM")
    final_eval = None
    if not interrupted and config.final_eval_episodes:
        final_eval = run_evaluation(config.final_eval_episodes, eval_seed_base)
        writer.add_scalar("eval/final_mean_reward", final_eval["mean"], counters.env_steps)
    video = None
    if not interrupted and config.video:
        learner.online.eval()
        write_episode_video(
            q_online, config, run / VIDEO, seed=eval_seed_base, epsilon=config.eval_epsilon
        )
        video = str(run / VIDEO)
    writer.close()
    envs.close()
    curve = _plot(run, config)
    summary = {
        "env": config.env,
        "algo": config.algo,
        "stop_reason": stop_reason,
        "env_steps": counters.env_steps,
        "frames": _frames(config, counters.env_steps),
        "episodes": counters.episodes,
        "grad_updates": learner.grad_updates,
        "wall_seconds": round(counters.wall_seconds, 3),
        "env_steps_per_second": round(counters.env_steps / max(counters.wall_seconds, 1e-9), 1),
        "train_mean_reward": float(np.mean(recent)) if recent else None,
        "goal": config.goal,
        "goal_metric": config.goal_metric,
        "goal_reached": counters.goal_reached is not None,
        "goal_reached_at": counters.goal_reached,
        "last_eval": counters.last_eval,
        "final_eval": final_eval,
        "device": str(device),
        "run_dir": str(run.path),
        "checkpoint": str(run / "checkpoint.pt"),
        "learning_curve": curve,
        "video": video,
    }
    run.write_summary(summary)
    return summary


def _raw_scores(info: dict, episode_return: np.ndarray) -> np.ndarray:
    """(N,) returns with the game's raw score where the env reports one (Atari's
    ``info["episode"]["r"]``, recorded before reward clipping) for the envs that just ended."""
    if "episode" not in info:
        return episode_return
    ended = np.asarray(info["_episode"], dtype=bool)  # (N,)
    return np.where(ended, np.asarray(info["episode"]["r"], dtype=np.float64), episode_return)


def _frames(config: DQNConfig, env_steps: int) -> float | None:
    """Emulator frames behind ``env_steps`` (Atari: 4 per step; None for other envs)."""
    per_step = env_factory(config.env).frames_per_step
    return None if per_step is None else env_steps * per_step(config)


def _physical_memory_bytes() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2**63


def _pickled(envs) -> bytes | None:
    """The vector env's whole state (game, RNGs, step counters), or None if it cannot pickle."""
    try:
        return pickle.dumps(envs)
    except Exception:  # e.g. envs holding closures or emulator handles
        return None


def _sync(counters, recent, episode_return, episode_length, started) -> None:
    """Copy the loop's local state into the counters before a checkpoint."""
    counters.recent_returns = list(recent)
    counters.episode_return = episode_return.tolist()
    counters.episode_length = episode_length.tolist()
    counters.wall_seconds = time.perf_counter() - started


def _goal_record(counters: Counters, wall: float, value: float) -> dict:
    return {
        "step": counters.env_steps,
        "episode": counters.episodes,
        "wall_seconds": round(wall, 3),
        "value": round(value, 4),
    }


def _postfix(counters: Counters, recent, epsilon: float, wall: float) -> str:
    mean = float(np.mean(recent)) if recent else float("nan")
    return (
        f"ep {counters.episodes} | mean{len(recent)} {mean:.2f} | eps {epsilon:.3f} | "
        f"loss {counters.last_loss:.4f} | {counters.env_steps / max(wall, 1e-9):.0f} steps/s"
    )


def _progress_bar(config: DQNConfig, counters: Counters, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(
        total=config.max_steps,
        initial=counters.env_steps,
        unit="step",
        dynamic_ncols=True,
        mininterval=0.5,
        smoothing=0.05,
    )


def _plot(run: RunDir, config: DQNConfig) -> str | None:
    from qarcade import media

    metrics = run.read_metrics()
    if metrics.empty:
        return None
    media.plot_learning_curve(
        metrics,
        run / CURVE,
        goal=config.goal,
        window=config.goal_window,
        title=f"{config.algo} on {config.env}",
        evaluations=run.read_evaluations(),
        goal_label="evaluation goal" if config.goal_metric == "eval" else "goal",
    )
    return str(run / CURVE)


def default_run_dir(config: DQNConfig, root: str | Path = "runs") -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(root) / f"{config.env}-{config.algo}-seed{config.seed}-{stamp}-{os.getpid()}"
