"""Where the learner's arithmetic runs: the device, its precision and the speed machinery.

Nothing here changes what is learned, only where and how fast:
- ``resolve_device`` / ``configure_torch`` / ``fit_to_device``: the device and its settings;
- ``resolve_precision``: float32, or bfloat16 autocast where the CPU has bfloat16 matrix units;
- ``Executor``: runs the learner's gradient step on its device (batch transfer, the gather of
  stacks from a device copy of the replay's frames, bf16 autocast and the target network's
  bf16 copy, the CUDA-graph replay of ``qarcade.dqn.graphed``);
- ``FramesMirror`` / ``mirror_replay``: a GPU copy of the replay's frames, written row by row
  through pinned buffers, so that only indices cross to the device per batch;
- ``q_function``: the acting forward, eager or as replayed CUDA graphs.
On a CPU with float32 the executor is a plain call of ``Learner.gradient_step``.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import os
from collections.abc import Callable

import numpy as np
import torch

from qarcade.dqn.config import DQNConfig
from qarcade.dqn.networks import grid_input_px
from qarcade.errors import UserError

QFunction = Callable[[np.ndarray], np.ndarray]  # stacked obs (N, k, *frame) -> Q (N, A)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available")
    return torch.device(name)


# torch's own choice (one thread per physical core), read before anything sets another.
DEFAULT_THREADS = torch.get_num_threads()


# How often an auto run re-measures the cores other processes keep busy (seconds of the run).
RECHECK_SECONDS = 20.0


def _cpu_sample() -> tuple[int, int, float, float] | None:
    """(busy ticks of all cores, all ticks, this process's CPU seconds, wall seconds) now, from
    Linux's /proc/stat; None where it cannot be read."""
    import time

    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    except (OSError, ValueError, IndexError):
        return None
    return sum(ticks) - idle, sum(ticks), time.process_time(), time.perf_counter()


def _others_busy(before, after) -> float | None:
    """Cores kept busy by other processes between two ``_cpu_sample``s: everyone's busy cores
    less this process's own (its OpenMP threads, still spinning or at work)."""
    if before is None or after is None:
        return None
    cores = os.cpu_count() or 1
    everyone = cores * (after[0] - before[0]) / max(after[1] - before[1], 1)
    own = (after[2] - before[2]) / max(after[3] - before[3], 1e-9)
    return max(0.0, everyone - own)


def busy_cores(seconds: float = 0.25) -> float | None:
    """Cores kept busy by other processes over the next ``seconds``; None where Linux's
    /proc/stat cannot be read. This process's own CPU time meanwhile is not counted."""
    import time

    before = _cpu_sample()
    time.sleep(seconds)
    return _others_busy(before, _cpu_sample())


def free_threads(busy: float | None) -> int:
    """One thread per core that other processes leave free: at least 1, at most torch's
    default (all cores where the load cannot be read)."""
    if busy is None:
        return DEFAULT_THREADS
    return max(1, min(DEFAULT_THREADS, round(DEFAULT_THREADS - busy)))


class Threads:
    """A CPU run's torch threads: ``torch_threads`` where it is set, else one per core that
    other processes leave free, re-measured every ``RECHECK_SECONDS`` as the run goes.

    OpenMP threads wait for each other at every operation, so one that shares its core with a
    busy process slows every update several times over (0.12-0.28x measured); a laptop or a
    shared lab machine starts and stops such work during a run, hence the re-check. The count
    changes the numbers (a CPU sums gradients in another order on 1 and 2 threads): a run
    repeats its numbers exactly where ``torch_threads`` is set, which tests, benchmarks and
    the docs' shown outputs do. ``count`` is None on a GPU, where torch's CPU threads do not
    matter."""

    def __init__(self, config: DQNConfig, device: torch.device, log=print):
        self.log = log
        self.follow = device.type == "cpu" and not config.torch_threads
        self.count: int | None = None
        self.started_with: int | None = None
        self.why = ""
        self.changes: list[dict] = []  # {"env_steps", "threads"}: the count's changes
        self._sample = None
        if config.torch_threads:
            self.count, self.why = config.torch_threads, "as --torch-threads sets"
        elif device.type == "cpu":
            busy = busy_cores()
            self.count = free_threads(busy)
            self.why = self._reason(busy)
            self._sample = _cpu_sample()
        else:
            return
        torch.set_num_threads(self.count)
        self.started_with = self.count

    def _reason(self, busy: float | None) -> str:
        if busy is None:
            return "one per core; the load is unknown here"
        cores = "core" if DEFAULT_THREADS == 1 else "cores"
        if self.count < DEFAULT_THREADS:
            said = f"other work keeps {busy:.1f} of {DEFAULT_THREADS} {cores} busy"
        else:
            said = f"{DEFAULT_THREADS} {cores} free"
        return f"{said}; re-checked every {RECHECK_SECONDS:.0f} s, --torch-threads N fixes it"

    def describe(self) -> str:
        """For the run's first line: the count and why."""
        if self.count is None:
            return ""
        return f"{self.count} thread{'' if self.count == 1 else 's'}: {self.why}"

    def recheck(self, env_steps: int) -> None:
        """Every ``RECHECK_SECONDS``: the threads other processes leave free since the last
        check; a changed count is set and logged. Cheap otherwise (one clock read)."""
        import time

        if not self.follow or self._sample is None:
            return
        if time.perf_counter() - self._sample[3] < RECHECK_SECONDS:
            return
        now = _cpu_sample()
        busy = _others_busy(self._sample, now)
        self._sample = now
        threads = free_threads(busy)
        if busy is None or threads == self.count:
            return
        self.log(
            f"torch threads {self.count} -> {threads} at {env_steps:,} env steps: other work "
            f"now keeps {busy:.1f} of {DEFAULT_THREADS} cores busy"
        )
        self.count = threads
        self.changes.append({"env_steps": env_steps, "threads": threads})
        torch.set_num_threads(threads)


def configure_torch(config: DQNConfig, device: torch.device) -> None:
    """Process-wide torch settings for a run on ``device``."""
    if device.type == "cuda":
        # Shapes never change: cuDNN times its convolution algorithms once and keeps the
        # fastest; TF32 matrix products (GPU runs are not bit-reproducible anyway).
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")


def fit_to_device(config: DQNConfig, device: torch.device, log=print, run=None) -> DQNConfig:
    """``config`` as it runs on ``device``. Grid input is a CPU saving: a GPU runs the image's
    first conv faster than ``CellConv2d``'s small kernels, so a new run there reads pixels (its
    config.json says so). A resumed run (``run``, its RunDir) keeps what it read: its replay
    holds those frames."""
    if run is not None:
        saved = DQNConfig.from_saved(run.read_config())
        return dataclasses.replace(config, grid_input=saved.grid_input)
    if device.type == "cpu" or grid_input_px(config) is None:
        return config
    log(f"grid input off on {device.type}: the network reads pixels, faster there")
    return dataclasses.replace(config, grid_input=False)


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> ``bf16`` on a CPU with AMX tiles (bfloat16 matrix units), else ``float32``.

    Without such units bfloat16 is emulated and slower; on a GPU its effect on learning is
    not measured, so GPUs stay float32."""
    if precision != "auto":
        return precision
    try:
        native = device.type == "cpu" and torch.cpu._is_amx_tile_supported()
    except AttributeError:  # a torch without the check
        native = False
    return "bf16" if native else "float32"


class Executor:
    """Runs ``learner.gradient_step`` on the learner's device, one ``step(batch)`` per update.

    ``batch`` is a ``replay.Batch`` of numpy arrays; its stacks are frames, or indices into the
    replay's device frames once ``read_frames`` has been given them (``mirror_replay``).
    """

    def __init__(self, learner, device: torch.device, precision: str, cuda_graph: bool):
        self.learner = learner
        self.device = device
        self.precision = resolve_precision(precision, device)
        self.bf16 = self.precision == "bf16"
        self.frames: torch.Tensor | None = None  # (slots * N, *stored), see read_frames
        self.graphed = None
        if cuda_graph and device.type == "cuda":
            from qarcade.dqn.graphed import GraphedUpdate

            self.graphed = GraphedUpdate(self)
        # The target network as its forwards use it: in bf16 a copy cast once per sync (the
        # same rounding autocast would do at every forward), else the target itself.
        self.target = learner.target
        if self.bf16:
            self.target = copy.deepcopy(learner.target).to(torch.bfloat16)

    @property
    def capturable(self) -> bool:
        """The optimiser's state must live on the device (a CUDA graph replays its step)."""
        return self.graphed is not None

    def read_frames(self, frames: torch.Tensor) -> None:
        """From now on batches hold indices (B, k) into ``frames`` (slots, N, *stored), the
        replay's device copy, and are gathered here."""
        self.frames = frames.view(-1, *frames.shape[2:])

    def step(self, batch) -> torch.Tensor:
        """One gradient step on ``batch``; the loss as a 0-d device tensor (no sync)."""
        if self.graphed is not None:
            return self.graphed.step(batch)
        tensors = (
            torch.from_numpy(array).to(self.device, non_blocking=True)
            for array in batch.learning_arrays()
        )
        return self.batch_step(*tensors)

    def batch_step(self, obs, actions, returns, discounts, next_obs) -> torch.Tensor:
        """``gradient_step`` on device tensors, gathering the stacks first where they are
        indices into the replay's device frames. What a CUDA graph records."""
        if self.frames is not None:
            obs, next_obs = self.frames[obs], self.frames[next_obs]  # (B, k, *frame)
        return self.learner.gradient_step(obs, actions, returns, discounts, next_obs)

    def autocast(self):
        """The forwards' context: bfloat16 autocast where ``precision`` says so (their backward
        then runs in bfloat16 too), else nothing. Its cache casts each online weight once per
        update, for both online forwards; a CUDA graph cannot record a cache."""
        if not self.bf16:
            return contextlib.nullcontext()
        cache = self.graphed is None
        return torch.autocast(self.device.type, dtype=torch.bfloat16, cache_enabled=cache)

    def target_changed(self) -> None:
        """The target network's weights changed (a sync or a load): refresh its bf16 copy."""
        if self.target is not self.learner.target:
            self.target.load_state_dict(self.learner.target.state_dict())  # casts to bf16

    def optimizer_loaded(self, optimizer: torch.optim.Optimizer) -> None:
        """A loaded optimiser state: run it as this executor needs, whatever saved it."""
        for group in optimizer.param_groups:
            group["capturable"] = self.capturable
        if self.graphed is not None:
            self.graphed.reset()  # a recorded graph would still point at the old tensors


class FramesMirror:
    """A device copy of the replay's frames (slots, N, *stored), written row by row with them.

    On a GPU each new row goes through one of two pinned host buffers in turn: a copy from
    pageable memory may wait for the GPU's queued work (the step's updates) before it returns.
    """

    def __init__(self, frames: np.ndarray, used: int, device: torch.device):
        host = torch.from_numpy(frames)
        self.frames = torch.zeros(host.shape, dtype=host.dtype, device=device)
        self.frames[:used].copy_(host[:used])  # the rest is written before it is read
        self.staging: list[tuple[torch.Tensor, torch.cuda.Event]] = []
        if device.type == "cuda":
            row = host.shape[1:]
            self.staging = [
                (torch.empty(row, dtype=host.dtype, pin_memory=True), torch.cuda.Event())
                for _ in range(2)
            ]
        self.staged = 0  # rows copied through the staging buffers

    @classmethod
    def attach(cls, replay, device: torch.device) -> FramesMirror:
        """A mirror of ``replay``'s frames on ``device``, written with its rows from now on."""
        replay.mirror = cls(replay.frames, replay.used_slots(), device)
        return replay.mirror

    def write(self, row: int, frames: np.ndarray) -> None:
        """Copy frames (N, *stored) into row ``row``, queued after the device's pending reads."""
        host = torch.from_numpy(frames)
        if not self.staging:
            self.frames[row].copy_(host, non_blocking=True)
            return
        buffer, copied = self.staging[self.staged % len(self.staging)]
        self.staged += 1
        copied.synchronize()  # its last copy has left it (long since: a step ago)
        self.frames[row].copy_(buffer.copy_(host), non_blocking=True)
        copied.record()

    def write_all(self, frames: np.ndarray) -> None:
        self.frames.copy_(torch.from_numpy(frames))


def mirror_replay(config: DQNConfig, replay, learner, log) -> None:
    """On a GPU with ``replay_on_device``, mirror the replay's frames there and let the learner
    gather its batches from them; elsewhere, or when they take more than half the GPU's free
    memory, or when the replay stores compact codes or turns its batches (``augment``), batches
    keep carrying frames."""
    device = learner.device
    host_only = replay.codec is not None or replay.symmetries is not None
    if not (config.replay_on_device and device.type == "cuda") or host_only:
        return
    free, _ = torch.cuda.mem_get_info(device)
    if replay.frames.nbytes > free // 2:
        log(
            f"replay frames ({replay.frames.nbytes / 2**30:.1f} GiB) kept in host memory: "
            f"more than half the GPU's free {free / 2**30:.1f} GiB"
        )
        return
    learner.executor.read_frames(FramesMirror.attach(replay, device).frames)
    log(f"replay frames mirrored on {device} ({replay.frames.nbytes / 2**30:.2f} GiB)")


def q_function(network: torch.nn.Module, device: torch.device, cuda_graph=False) -> QFunction:
    """Q-values (N, A) of stacked observations; on a GPU with ``cuda_graph``, replayed graphs."""
    if cuda_graph and device.type == "cuda":
        from qarcade.dqn.graphed import GraphedForward

        return GraphedForward(network, device)

    @torch.no_grad()
    def q(obs: np.ndarray) -> np.ndarray:
        return network(torch.from_numpy(obs).to(device)).float().cpu().numpy()

    return q
