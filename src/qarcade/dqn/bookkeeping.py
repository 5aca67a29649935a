"""Everything around the DQN training loop (``qarcade.dqn.train``) that is not the loop itself.

The device and torch settings; which config fields a resumed run may change; the loop's counters
and how they go into and come back out of a checkpoint; SIGINT/SIGTERM as a request to stop; the
progress bar; the learning-curve plot and the run's summary; the default run directory.
``qarcade.dqn.train`` re-exports the public names, so callers keep importing them from there.
"""

from __future__ import annotations

import dataclasses
import math
import os
import pickle
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from qarcade.dqn.config import DQNConfig
from qarcade.dqn.envs import env_factory
from qarcade.dqn.networks import count_parameters, grid_input_px
from qarcade.errors import UserError
from qarcade.runs import CURVE, RunDir

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
    "precision",
    "replay_on_device",
    "torch_threads",
}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available")
    return torch.device(name)


def configure_torch(config: DQNConfig, device: torch.device) -> None:
    """Process-wide torch settings for a run on ``device``."""
    if device.type == "cuda":
        # Shapes never change: cuDNN times its convolution algorithms once and keeps the
        # fastest; TF32 matrix products (GPU runs are not bit-reproducible anyway).
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")
    if config.torch_threads:
        torch.set_num_threads(config.torch_threads)


def fit_to_device(config: DQNConfig, device: torch.device, log=print, run=None) -> DQNConfig:
    """``config`` as it runs on ``device``. Grid input (``grid_input``) is a CPU saving: a GPU
    runs the image's first conv faster than ``CellConv2d``'s small kernels (H100, make demo's
    run: 2,599 env steps/s reading pixels, 1,023 reading the grid), so a new run there reads
    pixels, and its config.json says so. A resumed run (``run``, its RunDir) keeps what it
    read, wherever it resumes: its replay holds those frames."""
    if run is not None:
        saved = DQNConfig.from_saved(run.read_config())
        return dataclasses.replace(config, grid_input=saved.grid_input)
    if device.type == "cpu" or grid_input_px(config) is None:
        return config
    log(f"grid input off on {device.type}: the network reads pixels, faster there")
    return dataclasses.replace(config, grid_input=False)


def resume_config(run_dir: str | Path, overrides: dict) -> DQNConfig:
    """The saved config of ``run_dir`` with ``overrides`` of resumable fields applied."""
    saved = DQNConfig.from_saved(RunDir.open(run_dir).read_config())
    fixed = {k: v for k, v in overrides.items() if getattr(saved, k) != v}
    changed = sorted(set(fixed) - RESUMABLE_FIELDS)
    if changed:
        raise UserError(f"cannot change {', '.join(changed)} when resuming a run")
    return dataclasses.replace(saved, **fixed)


def default_run_dir(config: DQNConfig, root: str | Path = "runs") -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(root) / f"{config.env}-{config.algo}-seed{config.seed}-{stamp}-{os.getpid()}"


def log_setup(config: DQNConfig, learner, replay, log) -> None:
    """Log the network, the replay's memory and the config."""
    network, device = learner.online, learner.device
    arithmetic = ", bfloat16 updates" if learner.bf16 else ""
    px = grid_input_px(config)
    if px is not None:
        cells = replay.frames.shape[2]
        arithmetic += f", reading the {cells}x{cells} grid of the {px}x{px} frame"
    log(
        f"{config.algo} on {config.env}: {count_parameters(network):,} parameters on "
        f"{device}{arithmetic}"
    )
    log(replay.describe())  # np.zeros: the pages are only touched as the replay fills
    log("config: " + ", ".join(f"{k}={v}" for k, v in config.to_dict().items()))


def batch_reader(config: DQNConfig, replay, learner, log):
    """What turns a ``replay.sample_slots`` batch into one the learner takes: ``replay.gather``
    (frames), or nothing on a GPU with ``replay_on_device``, whose frames are mirrored there."""
    gather, device = replay.gather, learner.device
    if not (config.replay_on_device and device.type == "cuda" and replay.codec is None):
        return gather
    free, _ = torch.cuda.mem_get_info(device)
    if replay.frames.nbytes > free // 2:
        log(
            f"replay frames ({replay.frames.nbytes / 2**30:.1f} GiB) kept in host memory: "
            f"more than half the GPU's free {free / 2**30:.1f} GiB"
        )
        return gather
    learner.read_frames(replay.mirror_frames(device))
    log(f"replay frames mirrored on {device} ({replay.frames.nbytes / 2**30:.2f} GiB)")
    return lambda slots: slots


def budget_spent(config: DQNConfig, counters) -> str | None:
    """Which of the run's budgets its counters have already reached, said for the user."""
    if counters.env_steps >= config.max_steps:
        return f"max_steps {config.max_steps:,} already reached ({counters.env_steps:,} env steps)"
    if config.max_minutes and counters.wall_seconds >= 60.0 * config.max_minutes:
        minutes = counters.wall_seconds / 60.0
        return f"max_minutes {config.max_minutes:g} already reached ({minutes:.1f} minutes trained)"
    return None


def available_memory_bytes() -> int | None:
    """Memory the system can give this process now without swapping (free memory plus
    reclaimable caches): psutil's estimate, else Linux's MemAvailable, else None (unknown)."""
    try:
        import psutil

        return psutil.virtual_memory().available
    except ImportError:  # a bare interpreter that runs qarcade from src/ (GPU machines)
        pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_replay_memory(nbytes: int, capacity: int, available: int | None = None) -> None:
    """Refuse a replay of ``nbytes`` for ``capacity`` transitions that cannot fit in the memory
    available now (a ``UserError`` naming a ``--replay-size`` that would). Its arrays are only
    touched as it fills: a run that does not fit would be killed hours in, not at the start."""
    available = available_memory_bytes() if available is None else available
    if available is None or nbytes <= available:
        return
    fits = int(0.8 * available / (nbytes / capacity))
    fits = int(float(f"{fits:.2g}")) if fits >= 100 else fits  # two significant digits
    raise UserError(
        f"the replay needs {nbytes / 2**30:,.1f} GiB but {available / 2**30:.1f} GiB of memory "
        f"is available: pass --replay-size {fits} or less"
    )


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


class LossSum:
    """The updates' losses since the last finished episode, added up on their device.

    Reading a GPU tensor waits for every update queued before it: a read per env step would
    leave the GPU idle while the loop does its bookkeeping and prepares the next act. The sum
    stays on the device, in float64 and in the order a Python float adds it (the counters'
    sum, then each step's float32 sum), and ``read`` brings it into ``counters.loss_sum`` when
    an episode ends or the counters are saved: the same numbers as a read per step."""

    def __init__(self, counters: Counters):
        self.counters = counters
        self.pending: torch.Tensor | None = None  # counters.loss_sum plus the steps since

    def add(self, losses: list[torch.Tensor]) -> None:
        step = torch.stack(losses).sum().double()
        if self.pending is None:
            self.pending = step + self.counters.loss_sum
        else:
            self.pending = self.pending + step
        self.counters.loss_count += len(losses)

    def read(self) -> None:
        if self.pending is not None:
            self.counters.loss_sum, self.pending = float(self.pending), None


def sync_counters(counters, recent, episode_return, episode_length, started) -> None:
    """Copy the loop's local state into the counters before a checkpoint."""
    counters.recent_returns = list(recent)
    counters.episode_return = episode_return.tolist()
    counters.episode_length = episode_length.tolist()
    counters.wall_seconds = time.perf_counter() - started


def goal_record(counters: Counters, wall: float, value: float) -> dict:
    return {
        "step": counters.env_steps,
        "episode": counters.episodes,
        "wall_seconds": round(wall, 3),
        "value": round(value, 4),
    }


def checkpoint_state(config, learner, replay, counters, explore_rng, replay_rng, envs) -> dict:
    """All the loop needs to continue: states, counters, RNG states, the pickled vector env."""
    return {
        "learner": learner.state_dict(),
        "replay": replay.state_dict(),
        "counters": dataclasses.asdict(counters),
        "rng": {
            "explore": explore_rng.bit_generator.state,
            "replay": replay_rng.bit_generator.state,
            "torch": torch.get_rng_state(),
        },
        "envs": pickled(envs),
        "config": config.to_dict(),
    }


def restore_checkpoint(checkpoint, run, learner, replay, explore_rng, replay_rng, envs):
    """Load ``checkpoint`` into the learner, replay and RNGs; returns (counters, envs).

    ``envs`` is replaced (and closed) by the pickled vector env where the checkpoint has one.
    """
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
        raise UserError(f"checkpoint in {run.path} does not match its config: {error}") from None
    return counters, envs


def pickled(envs) -> bytes | None:
    """The vector env's whole state (game, RNGs, step counters), or None if it cannot pickle."""
    try:
        return pickle.dumps(envs)
    except Exception:  # e.g. envs holding closures or emulator handles
        return None


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


def progress_bar(config: DQNConfig, counters: Counters, enabled: bool):
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


def postfix(counters: Counters, recent, epsilon: float, wall: float) -> str:
    mean = float(np.mean(recent)) if recent else float("nan")
    return (
        f"ep {counters.episodes} | mean{len(recent)} {mean:.2f} | eps {epsilon:.3f} | "
        f"loss {counters.last_loss:.4f} | {counters.env_steps / max(wall, 1e-9):.0f} steps/s"
    )


def plot_curve(run: RunDir, config: DQNConfig) -> str | None:
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


def frames(config: DQNConfig, env_steps: int) -> float | None:
    """Emulator frames behind ``env_steps`` (Atari: 4 per step; None for other envs)."""
    per_step = env_factory(config.env).frames_per_step
    return None if per_step is None else env_steps * per_step(config)


def evaluation_line(config: DQNConfig, env_steps: int, result: dict, wall: float) -> str:
    """What the log says of a periodic evaluation (long runs without a progress bar too)."""
    trained = frames(config, env_steps)
    trained = f" ({trained / 1e6:.2f}M frames)" if trained else ""
    return (
        f"evaluation at {env_steps:,} env steps{trained}, {wall:.0f} s: mean {result['mean']:.2f}"
        f" over {result['episodes']} episodes (min {result['min']:g}, max {result['max']:g})"
    )


def run_summary(
    config, run, counters, recent, *, stop_reason, learner, final_eval, video, curve
) -> dict:
    """The run's summary (summary.json, and what ``train`` returns)."""
    return {
        "env": config.env,
        "algo": config.algo,
        "stop_reason": stop_reason,
        "env_steps": counters.env_steps,
        "frames": frames(config, counters.env_steps),
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
        "device": str(learner.device),
        "precision": learner.precision,
        "run_dir": str(run.path),
        "checkpoint": str(run / "checkpoint.pt"),
        "learning_curve": curve,
        "video": video,
    }
