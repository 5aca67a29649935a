"""A run directory: what a training run leaves on disk, written so that a crash loses little.

    config.json          the resolved config (every hyperparameter)
    metrics.csv          one row per training episode (METRICS_COLUMNS)
    evaluations.csv      one row per greedy evaluation
    events.out.tfevents* TensorBoard scalars (tb/)
    summary.json         steps, episodes, wall seconds, goal reached and when, final evaluation
    checkpoint.pt        weights, optimiser, replay, RNG states, counters (written atomically)
    learning_curve.png   reward per episode and its moving mean
    video.mp4            a greedy episode of the trained agent

Atomic writes go to a temporary file in the same directory, are fsynced, then renamed over the
old file, so a reader sees either the old or the new file, never half of one.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch

from qarcade.errors import UserError

METRICS_COLUMNS = ("episode", "step", "reward", "length", "epsilon", "loss", "wall_time_s")
EVAL_COLUMNS = ("step", "episodes", "mean", "std", "min", "max", "wall_time_s")

CONFIG = "config.json"
METRICS = "metrics.csv"
EVALUATIONS = "evaluations.csv"
SUMMARY = "summary.json"
CHECKPOINT = "checkpoint.pt"
CURVE = "learning_curve.png"
VIDEO = "video.mp4"
TENSORBOARD = "tb"


def atomic_write(path: Path, write) -> None:
    """Call ``write(file)`` on a temporary file next to ``path``, fsync it, rename it over
    ``path``, then fsync the directory: readers see the old file or the new one, never half."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def atomic_write_json(path: Path, value) -> None:
    atomic_write_bytes(path, (json.dumps(value, indent=2) + "\n").encode())


class RunDir:
    """Paths and readers/writers of one run directory."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    # --- creating and opening ---

    @classmethod
    def create(cls, path: str | Path, config: dict) -> RunDir:
        run = cls(path)
        if (run / CONFIG).exists():
            raise UserError(f"{run.path} already holds a run; resume it with --resume {run.path}")
        try:
            run.path.mkdir(parents=True, exist_ok=True)
        except OSError as error:  # a file of that name, a parent that cannot be made, ...
            raise UserError(f"cannot make the run directory {run.path}: {error.strerror}") from None
        atomic_write_json(run / CONFIG, config)
        with open(run / METRICS, "w", newline="") as f:
            csv.writer(f).writerow(METRICS_COLUMNS)
        with open(run / EVALUATIONS, "w", newline="") as f:
            csv.writer(f).writerow(EVAL_COLUMNS)
        return run

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        run = cls(path)
        if not run.path.is_dir():
            raise UserError(f"{run.path} is not a directory")
        if not (run / CONFIG).is_file():
            raise UserError(f"{run.path} is not a run directory (no {CONFIG})")
        return run

    def read_config(self) -> dict:
        try:
            return json.loads((self / CONFIG).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise UserError(f"cannot read {self / CONFIG}: {error}") from None

    # --- metrics ---

    def append_rows(self, name: str, rows: list[tuple]) -> None:
        if rows:
            with open(self / name, "a", newline="") as f:
                csv.writer(f).writerows(rows)

    def truncate_metrics(self, episodes: int, evaluations: int) -> None:
        """Drop rows written after the checkpoint (a crash between checkpoint and exit)."""
        for name, keep in ((METRICS, episodes), (EVALUATIONS, evaluations)):
            lines = (self / name).read_text().splitlines(keepends=True)
            if len(lines) - 1 > keep:
                atomic_write_bytes(self / name, "".join(lines[: keep + 1]).encode())

    def read_metrics(self):
        import pandas as pd

        return pd.read_csv(self / METRICS)

    def read_evaluations(self):
        import pandas as pd

        return pd.read_csv(self / EVALUATIONS)

    # --- summary ---

    def write_summary(self, summary: dict) -> None:
        atomic_write_json(self / SUMMARY, summary)

    def read_summary(self) -> dict:
        return json.loads((self / SUMMARY).read_text())

    # --- checkpoint ---

    def save_checkpoint(self, state: dict) -> None:
        path = self / CHECKPOINT
        try:
            atomic_write(path, lambda f: torch.save(state, f))  # streamed, no copy
        except (OSError, RuntimeError) as error:  # torch's writer says a full disk its own way
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            free = shutil.disk_usage(self.path).free / 2**30
            kept = "the previous one is kept" if path.exists() else "there is no earlier one"
            raise UserError(
                f"could not write the checkpoint {path} ({message}; {free:.1f} GiB free "
                f"there): {kept}"
            ) from None

    def has_checkpoint(self) -> bool:
        return (self / CHECKPOINT).is_file()

    def load_checkpoint(self, map_location="cpu") -> dict:
        path = self / CHECKPOINT
        if not path.is_file():
            raise UserError(f"{self.path} has no checkpoint ({CHECKPOINT})")
        try:
            # Our own pickles: RNG states and the pickled vector env. Tensors are mapped from
            # the file, not read in: an Atari replay (gigabytes) is copied once, into its arrays.
            state = torch.load(path, map_location=map_location, weights_only=False, mmap=True)
        except Exception as error:  # any unpickling failure means a damaged file
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise UserError(f"checkpoint {path} is corrupt or truncated ({message})") from None
        if not isinstance(state, dict) or "learner" not in state:
            raise UserError(f"checkpoint {path} is not a qarcade DQN checkpoint")
        return state
