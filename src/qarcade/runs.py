"""A run directory: what a training run leaves on disk, written so that a crash loses little.

    config.json          the resolved config (every hyperparameter)
    metrics.csv          one row per training episode (METRICS_COLUMNS)
    evaluations.csv      one row per greedy evaluation
    events.out.tfevents* TensorBoard scalars (tb/)
    summary.json         steps, episodes, wall seconds, goal reached and when, final evaluation
    checkpoint.pt        weights, optimiser, replay, RNG states, counters (written atomically)
    learning_curve.png   reward per episode and its moving mean
    video.mp4            a greedy episode of the trained agent
    .lock                the PID of the process writing the run, locked while it does

Atomic writes go to a temporary file in the same directory, are fsynced, then renamed over the
old file, so a reader sees either the old or the new file, never half of one.

Run directories travel (students hand them in, sweeps come back from clusters), so reading one
never runs code: the checkpoint holds tensors and plain values only and is read with
``torch.load(weights_only=True)``; numpy arrays, numpy scalars and deques (an env's state) are
written as tagged plain values (``storable``) and read back as they were (``restored``). The
sha256 of the file torch writes rides in the zip archive's comment, so a damaged checkpoint is
refused before it is read. A checkpoint without one was written by an older qarcade, which
pickled the vector env into it: it loads only with ``trust=True`` (``--trust-checkpoint``).

One writer at a time: ``create`` and ``open(..., write=True)`` hold an exclusive ``flock`` on
``.lock`` (holding the writer's PID) until ``close``; the kernel drops it when the process dies.
Nothing is written through a symbolic link inside the directory.
"""

from __future__ import annotations

import collections
import csv
import fcntl
import hashlib
import json
import os
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np
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
LOCK = ".lock"
# Every name qarcade writes in a run directory: none may be a symbolic link.
WRITTEN = (CONFIG, METRICS, EVALUATIONS, SUMMARY, CHECKPOINT, CURVE, VIDEO, TENSORBOARD, LOCK)


def atomic_write(path: Path, write) -> None:
    """Call ``write(file)`` on a temporary file next to ``path``, fsync it, rename it over
    ``path``, then fsync the directory: readers see the old file or the new one, never half."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600: a file like any other instead
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


def _umask() -> int:
    """The process's umask, read without changing it where Linux says it."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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
        """A new run directory, held for writing (``close`` lets it go)."""
        run = cls(path)
        if (run / CONFIG).exists():
            raise UserError(f"{run.path} already holds a run; resume it with --resume {run.path}")
        try:
            run.path.mkdir(parents=True, exist_ok=True)
        except OSError as error:  # a file of that name, a parent that cannot be made, ...
            raise UserError(f"cannot make the run directory {run.path}: {error.strerror}") from None
        run._hold()
        if (run / CONFIG).exists():  # another writer made it while this one waited
            run.close()
            raise UserError(f"{run.path} already holds a run; resume it with --resume {run.path}")
        atomic_write_json(run / CONFIG, config)
        run._write_header(METRICS, METRICS_COLUMNS)
        run._write_header(EVALUATIONS, EVAL_COLUMNS)
        return run

    @classmethod
    def open(cls, path: str | Path, write: bool = False) -> RunDir:
        """An existing run directory; ``write``: held for writing (a resume), until ``close``."""
        run = cls(path)
        if not run.path.is_dir():
            raise UserError(f"{run.path} is not a directory")
        if not (run / CONFIG).is_file():
            raise UserError(f"{run.path} is not a run directory (no {CONFIG})")
        if write:
            run._hold()
        return run

    def _hold(self) -> None:
        """Take the directory's lock or say who holds it; then clear what a killed writer left."""
        self._refuse_links()
        try:
            fd = os.open(self / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
        except OSError as error:
            raise UserError(f"cannot lock {self / LOCK}: {error.strerror}") from None
        lock = os.fdopen(fd, "r+")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = lock.read().strip()
            lock.close()
            holder = f"process {pid}" if pid.isdigit() else "another process"
            raise UserError(
                f"{self.path} is being written by {holder} (a train or resume): one writer at "
                "a time; wait for it to end or stop it"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        self._lock = lock
        for name in WRITTEN:  # temporary files of atomic writes cut short by a kill
            for tmp in self.path.glob(f".{name}.*.tmp"):
                tmp.unlink(missing_ok=True)

    def close(self) -> None:
        """Let the directory go (the lock file stays: removing it would race the next writer)."""
        lock = getattr(self, "_lock", None)
        if lock is not None:
            lock.close()  # closing the file drops the flock
            self._lock = None

    def _refuse_links(self) -> None:
        for name in WRITTEN:
            self.refuse_link(name)

    def refuse_link(self, name: str) -> None:
        """A UserError where ``name`` in the directory is a symbolic link (before writing it)."""
        if (self / name).is_symlink():
            raise UserError(
                f"{self / name} is a symbolic link: qarcade writes nothing through links in a "
                "run directory; remove it"
            )

    def _write_header(self, name: str, columns: tuple[str, ...]) -> None:
        atomic_write_bytes(self / name, (",".join(columns) + "\r\n").encode())

    def read_config(self) -> dict:
        try:
            config = json.loads((self / CONFIG).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:  # not UTF-8 is a ValueError too
            raise UserError(f"cannot read {self / CONFIG}: {error}") from None
        if not isinstance(config, dict):
            raise UserError(f"{self / CONFIG} is damaged: not a JSON object")
        return config

    # --- metrics ---

    def append_rows(self, name: str, rows: list[tuple]) -> None:
        if rows:
            try:
                fd = os.open(self / name, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
            except OSError as error:
                raise UserError(f"cannot append to {self / name}: {error.strerror}") from None
            with open(fd, "a", newline="") as f:
                csv.writer(f).writerows(rows)

    def truncate_metrics(self, episodes: int, evaluations: int) -> None:
        """Drop rows written after the checkpoint (a crash between checkpoint and exit)."""
        for name, keep in ((METRICS, episodes), (EVALUATIONS, evaluations)):
            try:
                lines = (self / name).read_text(encoding="utf-8").splitlines(keepends=True)
            except FileNotFoundError:
                raise UserError(f"{self.path} has no {name}: the run cannot go on") from None
            except (OSError, ValueError) as error:  # not UTF-8 text
                raise UserError(f"cannot read {self / name}: {error}") from None
            if len(lines) - 1 < keep:
                raise UserError(
                    f"{self / name} holds {max(len(lines) - 1, 0)} rows but the checkpoint "
                    f"counts {keep}: the run cannot go on"
                )
            if len(lines) - 1 > keep:
                atomic_write_bytes(self / name, "".join(lines[: keep + 1]).encode())

    def read_metrics(self):
        return self._read_table(METRICS, METRICS_COLUMNS)

    def read_evaluations(self):
        return self._read_table(EVALUATIONS, EVAL_COLUMNS)

    def _read_table(self, name: str, columns: tuple[str, ...]):
        """A CSV of the run as a DataFrame with ``columns``, or a UserError naming what is
        wrong with the file (missing, not UTF-8 text, not its columns, not numbers)."""
        import pandas as pd

        path = self / name
        try:
            table = pd.read_csv(path, encoding="utf-8")
        except FileNotFoundError:
            raise UserError(f"{self.path} has no {name}") from None
        except (OSError, ValueError, pd.errors.ParserError) as error:  # UnicodeDecodeError too
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise UserError(f"cannot read {path}: {message}") from None
        if tuple(table.columns) != columns:
            raise UserError(f"{path} is damaged: its columns are not {', '.join(columns)}")
        if len(table) and not all(pd.api.types.is_numeric_dtype(t) for t in table.dtypes):
            raise UserError(f"{path} is damaged: it holds values that are not numbers")
        return table

    # --- summary ---

    def write_summary(self, summary: dict) -> None:
        atomic_write_json(self / SUMMARY, summary)

    def read_summary(self) -> dict:
        try:
            summary = json.loads((self / SUMMARY).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"{self.path} has no {SUMMARY} (the run has not ended)") from None
        except (OSError, ValueError) as error:
            raise UserError(f"cannot read {self / SUMMARY}: {error}") from None
        if not isinstance(summary, dict):
            raise UserError(f"{self / SUMMARY} is damaged: not a JSON object")
        return summary

    # --- checkpoint ---

    def save_checkpoint(self, state: dict) -> None:
        path = self / CHECKPOINT
        try:
            atomic_write(path, lambda f: _save_with_digest(storable(state), f))  # streamed
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

    def load_checkpoint(self, map_location="cpu", trust: bool = False) -> dict:
        """The checkpoint's tensors and plain values. ``trust``: also a checkpoint of an older
        qarcade, read with pickle (it can run code: only for a run you trust)."""
        path = self / CHECKPOINT
        if not path.is_file():
            raise UserError(f"{self.path} has no checkpoint ({CHECKPOINT})")
        digest = _check_digest(path)
        if digest == "legacy" and not trust:
            raise UserError(
                f"checkpoint {path} was written by an older qarcade, which pickled objects into "
                "it (loading it could run code): if you trust this run, add --trust-checkpoint"
            )
        if digest == "damaged":
            raise UserError(f"checkpoint {path} is corrupt or truncated (its sha256 differs)")
        try:
            # Tensors are mapped from the file, not read in: an Atari replay (gigabytes) is
            # copied once, into its arrays.
            state = torch.load(
                path, map_location=map_location, weights_only=digest == "ok", mmap=True
            )
        except Exception as error:  # a damaged file, or an object that is not data
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            if "weights_only" in str(error) or "Unsupported global" in str(error):
                raise UserError(
                    f"checkpoint {path} holds objects that are not data (refused: loading them "
                    "could run code)"
                ) from None
            raise UserError(f"checkpoint {path} is corrupt or truncated ({message})") from None
        if not isinstance(state, dict) or "learner" not in state:
            raise UserError(f"checkpoint {path} is not a qarcade DQN checkpoint")
        if state.get("envs") is not None and not trust:  # an older one's pickled vector env
            raise UserError(
                f"checkpoint {path} holds a pickled env (an older qarcade's): if you trust "
                "this run, add --trust-checkpoint"
            )
        return restored(state)


# --- the checkpoint file: torch's zip archive, its sha256 in the archive comment ---

_EOCD = b"PK\x05\x06"  # the zip's end of central directory record: 22 bytes + the comment
_DIGEST_TAG = b"qarcade-sha256:"
_COMMENT = len(_DIGEST_TAG) + 64


class _Hashing:
    """A write-only file that hashes what passes through it (torch.save only writes) and keeps
    its last 22 bytes (the zip's end record)."""

    def __init__(self, f):
        self.f, self.sha, self.tail = f, hashlib.sha256(), b""

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        self.sha.update(view)
        self.tail = (self.tail + bytes(view[-22:]))[-22:]
        return self.f.write(view)

    def flush(self) -> None:
        self.f.flush()


def _save_with_digest(state: dict, f) -> None:
    """``torch.save`` to ``f``, then the sha256 of what it wrote as the zip's comment (zip
    readers skip it): the file stays an ordinary torch checkpoint."""
    hashing = _Hashing(f)
    torch.save(state, hashing)
    if hashing.tail[:4] != _EOCD or hashing.tail[20:] != b"\0\0":
        raise RuntimeError("torch.save wrote no zip archive")
    f.seek(-2, os.SEEK_END)  # the comment's length, 0 as torch wrote it
    f.write(struct.pack("<H", _COMMENT) + _DIGEST_TAG + hashing.sha.hexdigest().encode())


def _check_digest(path: Path) -> str:
    """'ok', 'damaged' (no zip end, or the sha256 differs) or 'legacy' (a zip without one)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        if size >= 22 + _COMMENT:
            f.seek(size - 22 - _COMMENT)
            record = f.read(22 + _COMMENT)
            comment = record[22:]
            if (
                record[:4] == _EOCD
                and record[20:22] == struct.pack("<H", _COMMENT)
                and comment.startswith(_DIGEST_TAG)
            ):
                f.seek(0)
                sha, left = hashlib.sha256(), size - _COMMENT - 2
                while left > 0:
                    chunk = f.read(min(left, 1 << 22))
                    if not chunk:
                        return "damaged"
                    sha.update(chunk)
                    left -= len(chunk)
                sha.update(b"\0\0")  # the comment length as torch wrote it
                same = sha.hexdigest().encode() == comment[len(_DIGEST_TAG) :]
                return "ok" if same else "damaged"
        if size >= 22:
            f.seek(size - 22)
            record = f.read(22)
            if record[:4] == _EOCD and record[20:] == b"\0\0":
                return "legacy"
    return "damaged"


# --- plain values for weights_only: numpy arrays and scalars, deques ---

_TAG = "__qarcade__"


def storable(value):
    """``value`` with every numpy array, numpy scalar and deque inside it replaced by a tagged
    dict of plain values (bytes, dtype, shape), which ``torch.load(weights_only=True)`` reads;
    containers with nothing to replace are kept as they are (a state dict's metadata too)."""
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise TypeError("an array of Python objects cannot go in a checkpoint")
        return {_TAG: "ndarray", "dtype": value.dtype.str, "shape": list(value.shape),
                "bytes": value.tobytes()}  # fmt: skip
    if isinstance(value, np.generic):
        return {_TAG: "scalar", "dtype": value.dtype.str, "bytes": value.tobytes()}
    if isinstance(value, collections.deque):
        return {_TAG: "deque", "items": [storable(v) for v in value], "maxlen": value.maxlen}
    if isinstance(value, dict):
        items = {k: storable(v) for k, v in value.items()}
        changed = any(items[k] is not v for k, v in value.items())
        return items if changed else value
    if isinstance(value, list | tuple):
        items = [storable(v) for v in value]
        if not any(a is not b for a, b in zip(items, value, strict=True)):
            return value
        return items if isinstance(value, list) else tuple(items)
    return value


def restored(value):
    """The values ``storable`` replaced, back as they were (arrays writable, not shared)."""
    if isinstance(value, dict):
        kind = value.get(_TAG)
        if kind == "ndarray":
            array = np.frombuffer(value["bytes"], np.dtype(value["dtype"]))
            return array.reshape(value["shape"]).copy()
        if kind == "scalar":
            return np.frombuffer(value["bytes"], np.dtype(value["dtype"]))[0]
        if kind == "deque":
            return collections.deque((restored(v) for v in value["items"]), value["maxlen"])
        items = {k: restored(v) for k, v in value.items()}
        return value if all(items[k] is v for k, v in value.items()) else items
    if isinstance(value, list | tuple):
        items = [restored(v) for v in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return items if isinstance(value, list) else tuple(items)
    return value
