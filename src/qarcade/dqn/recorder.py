"""What happened in a training run, kept apart from the loop that makes it happen (as Dopamine's
Runner is kept apart from its agent).

The loop hands the ``Recorder`` each step's finished episodes; it writes them to metrics.csv and
TensorBoard, checks the goal and the budgets, runs the periodic greedy evaluations, writes the
checkpoints (through a function the loop gives it), draws the progress bar, and at the end the
final evaluation, the video, the learning curve and summary.json. Of the loop's state it writes
only the counters of what happened (episodes, evaluations, the goal); it reads the learner's
loss average and plays its online network, and never touches the replay or the envs.

Atari records the raw game score in ``info["episode"]`` while the agent learns clipped rewards;
metrics and evaluations record that score.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np

from qarcade.dqn.checkpoint import Counters
from qarcade.dqn.config import DQNConfig, shown_fields
from qarcade.dqn.envs import env_factory
from qarcade.dqn.evaluate import play, summarize, write_episode_video
from qarcade.errors import UserError
from qarcade.runs import CURVE, EVALUATIONS, METRICS, TENSORBOARD, VIDEO, RunDir


class Recorder:
    """Records one run into its directory; ``stop_reason`` says why the loop should stop."""

    def __init__(
        self,
        config: DQNConfig,
        run: RunDir,
        counters: Counters,
        learner,
        q_online,
        *,
        eval_seed: int,
        save_checkpoint: Callable[[], None],
        resume: bool,
        progress: bool,
        log,
        on_episodes=None,
        threads=None,
    ):
        from torch.utils.tensorboard import SummaryWriter

        self.config, self.run, self.counters = config, run, counters
        self.learner, self.q_online = learner, q_online
        self.eval_seed = eval_seed
        self.save_checkpoint = save_checkpoint
        self.log, self.on_episodes = log, on_episodes
        self.threads = threads  # device.Threads: re-checked as the run goes
        self.writer = SummaryWriter(
            str(run / TENSORBOARD), purge_step=counters.env_steps if resume else None
        )
        self.bar = progress_bar(config, counters) if progress else None
        self.started = time.perf_counter() - counters.wall_seconds
        self.recent = deque(counters.recent_returns, maxlen=config.goal_window)
        self.stop_reason: str | None = None
        self.signals = StopSignals()
        self.resumed_at = counters.env_steps if resume else None
        self._time_next_checkpoint()

    def __enter__(self) -> Recorder:
        self.signals.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.signals.__exit__(*exc)

    def wall(self) -> float:
        return time.perf_counter() - self.started

    def should_stop(self) -> bool:
        """A signal, a budget spent or the goal reached (``stop_reason`` says which)."""
        config, counters = self.config, self.counters
        if self.stop_reason is not None:  # the goal
            pass
        elif self.signals.received is not None:
            self.stop_reason = signal.Signals(self.signals.received).name
        elif counters.env_steps >= config.max_steps:
            self.stop_reason = "max_steps"
        elif config.max_minutes and self.wall() >= 60.0 * config.max_minutes:
            self.stop_reason = "max_minutes"
        return self.stop_reason is not None

    # --- each step ---

    def step(self, ended: np.ndarray, info: dict, epsilon: float, live_steps: int) -> None:
        """After an env step: the episodes that ended there (``ended`` (N,) bool, their return
        and length in ``info["episode"]``), then evaluation and checkpoint when due."""
        if ended.any():
            self._episodes(ended, info["episode"], epsilon)
        config, counters = self.config, self.counters
        if config.eval_every_steps and counters.env_steps >= counters.next_eval_step:
            counters.next_eval_step += config.eval_every_steps
            self._periodic_evaluation()
        if config.checkpoint_every_steps and counters.env_steps >= counters.next_checkpoint_step:
            counters.next_checkpoint_step += config.checkpoint_every_steps
            self.checkpoint()
        elif self.next_timed_checkpoint is not None and self.wall() >= self.next_timed_checkpoint:
            self.checkpoint()
        if self.threads is not None:
            self.threads.recheck(counters.env_steps)
        if self.bar is not None:
            self.bar.update(live_steps)

    def _episodes(self, ended: np.ndarray, episode: dict, epsilon: float) -> None:
        config, counters, writer = self.config, self.counters, self.writer
        mean_loss = self.learner.losses.read_mean()
        if mean_loss is not None:
            counters.last_loss = mean_loss
        wall = self.wall()
        rows = []
        for e in np.flatnonzero(ended):
            counters.episodes += 1
            reward = float(episode["r"][e])
            self.recent.append(reward)
            row = (counters.episodes, counters.env_steps, reward, int(episode["l"][e]))
            rows.append((*row, round(epsilon, 6), counters.last_loss, round(wall, 3)))
            writer.add_scalar("train/episode_reward", reward, counters.env_steps)
        self.run.append_rows(METRICS, rows)
        if self.on_episodes is not None:
            self.on_episodes(rows)
        train_mean = float(np.mean(self.recent))
        writer.add_scalar(f"train/mean_reward_{config.goal_window}", train_mean, counters.env_steps)
        writer.add_scalar("train/epsilon", epsilon, counters.env_steps)
        if not math.isnan(counters.last_loss):
            writer.add_scalar("train/loss", counters.last_loss, counters.env_steps)
        full = len(self.recent) == config.goal_window
        if config.train_goal and full and train_mean >= config.train_goal:
            self._train_goal_reached(wall, train_mean)
        if config.goal_metric == "train" and full and train_mean >= config.goal:
            self._goal_reached(wall, train_mean)
        if self.bar is not None:
            self.bar.set_postfix_str(postfix(counters, self.recent, epsilon), refresh=False)

    def _goal_reached(self, wall: float, value: float) -> None:
        counters = self.counters
        counters.goal_reached = {
            "step": counters.env_steps,
            "episode": counters.episodes,
            "wall_seconds": round(wall, 3),
            "value": round(value, 4),
            "goal": self.config.goal,
            "goal_metric": self.config.goal_metric,
        }
        self.stop_reason = "goal"

    def _train_goal_reached(self, wall: float, value: float) -> None:
        """The training goal noted once, said in the log, and the run goes on."""
        config, counters = self.config, self.counters
        if counters.train_goal_reached is not None:
            return
        counters.train_goal_reached = {
            "step": counters.env_steps,
            "episode": counters.episodes,
            "wall_seconds": round(wall, 3),
            "value": round(value, 4),
            "train_goal": config.train_goal,
        }
        if config.goal_metric == "train" and value >= config.goal:
            return  # the run stops here and says so
        with self.bar.external_write_mode() if self.bar is not None else contextlib.nullcontext():
            self.log(
                f"training goal {config.train_goal:g} reached at {counters.env_steps:,} env steps, "
                f"{wall:.0f} s (mean reward of the last {config.goal_window} training episodes "
                f"{value:.2f}); going on to the {config.goal_metric} goal {config.goal:g}"
            )

    def evaluate(self, episodes: int, seed: int) -> dict:
        """Mean, std, min and max return of ``episodes`` played at ``eval_epsilon``, and how
        many ended stuck."""
        config, online = self.config, self.learner.online
        online.eval()
        played = play(self.q_online, config, episodes, epsilon=config.eval_epsilon, seed=seed)
        online.train()
        return summarize(*played)

    def _periodic_evaluation(self) -> None:
        config, counters = self.config, self.counters
        counters.evaluations += 1
        result = self.evaluate(config.eval_episodes, self.eval_seed + counters.evaluations)
        counters.last_eval = {"step": counters.env_steps, **result}
        wall = self.wall()
        row = (counters.env_steps, result["episodes"], result["mean"], result["std"])
        self.run.append_rows(EVALUATIONS, [(*row, result["min"], result["max"], round(wall, 3))])
        self.writer.add_scalar("eval/mean_reward", result["mean"], counters.env_steps)
        with self.bar.external_write_mode() if self.bar is not None else contextlib.nullcontext():
            self.log(evaluation_line(config, counters.env_steps, result, wall))
        stuck_ok = result["stuck"] <= config.goal_max_stuck * result["episodes"]
        if config.goal_metric == "eval" and result["mean"] >= config.goal and stuck_ok:
            self._goal_reached(wall, result["mean"])

    def checkpoint(self) -> None:
        self.counters.recent_returns = list(self.recent)
        self.counters.wall_seconds = self.wall()
        self.save_checkpoint()
        self._time_next_checkpoint(self.wall() - self.counters.wall_seconds)

    def _time_next_checkpoint(self, write_seconds: float = 0.0) -> None:
        """The next checkpoint ``checkpoint_every_minutes`` of training after this one, or 20
        times as long as this one took to write if that is longer: an Atari replay of
        gigabytes is never more than 5% of a run's time."""
        minutes = self.config.checkpoint_every_minutes
        interval = max(60.0 * minutes, 20.0 * write_seconds)
        self.next_timed_checkpoint = self.wall() + interval if minutes else None

    # --- the end ---

    def finish(self) -> dict:
        """Checkpoint first, then the things people look at; returns the summary."""
        config, counters, run = self.config, self.counters, self.run
        if self.bar is not None:
            self.bar.close()
        self.checkpoint()
        self.writer.flush()
        interrupted = self.stop_reason in ("SIGINT", "SIGTERM")
        final_eval, video = None, None
        if counters.env_steps == self.resumed_at:  # a resume whose budget was already spent
            final_eval, video = self._earlier_final_eval_and_video()
        elif not interrupted and config.final_eval_episodes:
            final_eval = self.evaluate(config.final_eval_episodes, self.eval_seed)
            self.writer.add_scalar("eval/final_mean_reward", final_eval["mean"], counters.env_steps)
        if not interrupted and config.video and counters.env_steps != self.resumed_at:
            self.learner.online.eval()
            epsilon = config.eval_epsilon
            try:
                write_episode_video(self.q_online, config, run / VIDEO, self.eval_seed, epsilon)
                video = str(run / VIDEO)
            except UserError as error:  # the env cannot draw: the run itself is done and kept
                self.log(f"no video: {error}")
        self.writer.close()
        summary = run_summary(
            config,
            run,
            counters,
            self.recent,
            stop_reason=self.stop_reason,
            learner=self.learner,
            final_eval=final_eval,
            video=video,
            curve=plot_curve(run, config),
        )
        if self.threads is not None and self.threads.count is not None:
            summary["torch_threads"] = {"start": self.threads.started_with}
            summary["torch_threads"]["changes"] = self.threads.changes
        run.write_summary(summary)
        return summary

    def _earlier_final_eval_and_video(self) -> tuple[dict | None, str | None]:
        """What the run's summary already says of the agent, which has not changed since."""
        try:
            earlier = self.run.read_summary()
        except (OSError, ValueError):
            return None, None
        video = earlier.get("video")
        return earlier.get("final_eval"), video if video and Path(video).exists() else None


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
        self._previous = {}


def default_run_dir(config: DQNConfig, root: str | Path = "runs") -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    env = re.sub(r"[^A-Za-z0-9_.-]+", "-", config.env)  # module:Env-v0, ns/Env-v0: one folder
    return Path(root) / f"{env}-{config.algo}-seed{config.seed}-{stamp}-{os.getpid()}"


def log_setup(config: DQNConfig, learner, replay, threads, log) -> None:
    """Log the network (and on a CPU the threads and why), the replay's memory and the config."""
    from qarcade.dqn.networks import count_parameters, grid_input_px

    arithmetic = ", bfloat16 updates" if learner.precision == "bf16" else ""
    px = grid_input_px(config)
    if px is not None:
        cells = replay.frames.shape[2]
        arithmetic += f", reading the {cells}x{cells} grid of the {px}x{px} frame"
    device = str(learner.device)
    if learner.device.type == "cpu" and threads.count is not None:
        device += f" ({threads.describe()})"
    log(
        f"{config.algo} on {config.env}: {count_parameters(learner.online):,} parameters on "
        f"{device}{arithmetic}"
    )
    log(replay.describe())  # np.zeros: the pages are only touched as the replay fills
    shown = shown_fields(config, learner.device.type)
    log("config: " + ", ".join(f"{k}={v}" for k, v in shown.items()))


def progress_bar(config: DQNConfig, counters: Counters):
    """Env steps out of the step budget; where a goal may stop the run long before that budget
    (the gridworld's in seconds), no percentage or time left toward it."""
    from tqdm import tqdm

    bar_format = None
    if math.isfinite(config.goal):
        budget = f"{config.max_steps:,}"
        bar_format = "{n_fmt} env steps (budget " + budget + ") [{elapsed}, {rate_fmt}{postfix}]"
    return tqdm(
        total=config.max_steps,
        initial=counters.env_steps,
        unit="step",
        dynamic_ncols=True,
        mininterval=0.5,
        smoothing=0.05,
        bar_format=bar_format,
    )


def postfix(counters: Counters, recent, epsilon: float) -> str:
    """Episodes, the mean return of the recent ones, epsilon and the loss (the bar itself shows
    the steps and their rate)."""
    mean = float(np.mean(recent)) if recent else float("nan")
    return (
        f"episode {counters.episodes}, mean of last {len(recent)} {mean:.2f}, "
        f"epsilon {epsilon:.3f}, loss {counters.last_loss:.4f}"
    )


def plot_curve(run: RunDir, config: DQNConfig) -> str | None:
    from qarcade import media

    metrics = run.read_metrics()
    if metrics.empty:
        return None
    media.plot_learning_curve(
        metrics,
        run / CURVE,
        goal=config.goal if math.isfinite(config.goal) else None,  # inf: no goal
        window=config.goal_window,
        title=f"{config.algo} on {config.env}",
        evaluations=run.read_evaluations(),
        goal_label="evaluation goal" if config.goal_metric == "eval" else "goal",
        train_goal=config.train_goal if config.goal_metric == "eval" else None,
    )
    return str(run / CURVE)


def emulator_frames(config: DQNConfig, env_steps: int) -> float | None:
    """Emulator frames behind ``env_steps`` (Atari: 4 per step; None for other envs)."""
    per_step = env_factory(config.env).frames_per_step
    return None if per_step is None else env_steps * per_step(config)


def evaluation_line(config: DQNConfig, env_steps: int, result: dict, wall: float) -> str:
    """What the log says of a periodic evaluation (long runs without a progress bar too)."""
    trained = emulator_frames(config, env_steps)
    trained = f" ({trained / 1e6:.2f}M frames)" if trained else ""
    return (
        f"evaluation at {env_steps:,} env steps{trained}, {wall:.0f} s: mean {result['mean']:.2f}"
        f" over {result['episodes']} episodes (min {result['min']:g}, max {result['max']:g})"
        + (f", {result['stuck']} stuck" if result.get("stuck") else "")
    )


def run_summary(
    config, run, counters, recent, *, stop_reason, learner, final_eval, video, curve
) -> dict:
    """The run's summary (summary.json, and what ``train`` returns)."""
    reached = counters.goal_reached  # of this goal: a resume may have set another one
    if reached and (reached.get("goal"), reached.get("goal_metric")) not in (
        (None, None),  # recorded before the record named its goal
        (config.goal, config.goal_metric),
    ):
        reached = None
    return {
        "env": config.env,
        "algo": config.algo,
        "stop_reason": stop_reason,
        "env_steps": counters.env_steps,
        "frames": emulator_frames(config, counters.env_steps),
        "episodes": counters.episodes,
        "grad_updates": learner.grad_updates,
        "wall_seconds": round(counters.wall_seconds, 3),
        "env_steps_per_second": round(counters.env_steps / max(counters.wall_seconds, 1e-9), 1),
        "train_mean_reward": float(np.mean(recent)) if recent else None,
        "goal": config.goal,
        "goal_metric": config.goal_metric,
        "goal_reached": reached is not None,
        "goal_reached_at": reached,
        "train_goal": config.train_goal or None,
        "train_goal_reached_at": counters.train_goal_reached,
        "last_eval": counters.last_eval,
        "final_eval": final_eval,
        "device": str(learner.device),
        "precision": learner.precision,
        "run_dir": str(run.path),
        "checkpoint": str(run / "checkpoint.pt"),
        "learning_curve": curve,
        "video": video,
    }
