"""Files a command writes where the user says (``--video``, ``--out``, ``--csv``): checked before
the work starts, written so that a failure leaves no half file.

``check_output`` says in one line what is wrong with a path before anything is computed: a
folder that does not exist, a directory in the file's place, a name longer than the file system
allows, a folder this process cannot create files in (``/proc``, a read-only mount), too little
free space. It creates and removes a file there to know, as permissions alone do not tell (root,
read-only mounts, ``/proc``).

``writing`` gives the writer a temporary name beside the file and renames it into place once it
is whole: a write cut short (a full disk, a kill) removes the temporary file, says so in one
line, and leaves any earlier file as it was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from qarcade.errors import UserError

MIN_FREE_BYTES = 1 << 20  # a figure or a short video; a caller that knows more passes it


def check_output(
    path: str | Path, what: str = "output", *, suffixes=(), free_bytes: int = MIN_FREE_BYTES
) -> Path:
    """``path`` as a Path a file can be written to, or a UserError naming ``what`` is wrong."""
    text = os.fspath(path)
    if not text or text.endswith(os.sep):
        raise UserError(f"the {what} {text!r} names no file")
    path = Path(text)
    if suffixes and path.suffix.lower() not in suffixes:
        listed = (
            ", ".join(suffixes[:-1]) + " or " + suffixes[-1] if len(suffixes) > 1 else suffixes[0]
        )
        raise UserError(f"cannot write the {what} {path.name!r}: its name must end in {listed}")
    folder = path.parent
    name_max = _limit(folder, "PC_NAME_MAX", 255)
    for part in path.parts:
        if len(os.fsencode(part)) > name_max:
            raise UserError(
                f"cannot write the {what}: a name in its path is {len(os.fsencode(part))} "
                f"bytes, more than the {name_max} this file system allows"
            )
    if len(os.fsencode(os.path.abspath(text))) >= _limit(folder, "PC_PATH_MAX", 4096):
        raise UserError(f"the {what}'s path is longer than this system allows")
    if not folder.is_dir():
        missing = "is not a folder" if folder.exists() else "does not exist"
        raise UserError(f"cannot write the {what} {path}: the folder {folder} {missing}")
    if path.is_dir():
        raise UserError(f"cannot write the {what} {path}: it is a directory")
    if path.exists() and not path.is_file():
        raise UserError(f"cannot write the {what} {path}: it is not a regular file")
    _probe(folder, f"cannot write the {what} {path}")
    free = shutil.disk_usage(folder).free
    if free < free_bytes:
        raise UserError(
            f"cannot write the {what} {path}: {free / 2**20:.1f} MiB free in {folder}, "
            f"it needs about {free_bytes / 2**20:.1f}"
        )
    return path


def check_folder(path: str | Path, what: str = "output folder") -> Path:
    """``path`` as a folder that exists or can be made (its parents too), or a UserError."""
    path = Path(os.fspath(path) or ".")
    existing = next(where for where in (path, *path.parents) if _exists(where))
    name_max = _limit(existing, "PC_NAME_MAX", 255)
    for part in path.parts:
        if len(os.fsencode(part)) > name_max:
            raise UserError(
                f"cannot make the {what} {path}: a name of {len(os.fsencode(part))} bytes, "
                f"more than the {name_max} this file system allows"
            )
    if not existing.is_dir():
        what_is = "it is a file" if existing == path else f"{existing} is a file"
        raise UserError(f"cannot make the {what} {path}: {what_is}")
    _probe(existing, f"cannot make the {what} {path} in {existing}")
    return path


def _probe(folder: Path, cannot: str) -> None:
    """Create and remove a file in ``folder``: the one sure test that it can be written
    (permissions, a read-only mount, a full inode table); a UserError ``cannot: why`` if not."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".qarcade-", suffix=".tmp", dir=folder)
    except OSError as error:
        raise UserError(f"{cannot}: {_reason(error)}") from None
    os.close(fd)
    os.unlink(probe)


@contextlib.contextmanager
def writing(path: str | Path, what: str = "output") -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix, so writers that go by it still do) to
    write to; renamed to ``path`` when the block ends, removed when it fails (a UserError that
    says so; an interrupt passes through after the removal)."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".qarcade-", suffix=".tmp" + path.suffix, dir=path.parent)
    except OSError as error:  # the folder went away or became read-only since the check
        raise UserError(f"cannot write the {what} {path}: {_reason(error)}") from None
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600: a file like any other
        os.replace(tmp, path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise UserError(
            f"could not write the {what} {path} ({_reason(error)}): the partial file was removed"
        ) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _exists(path: Path) -> bool:
    """``path.exists()``, False where the path cannot even be asked about (a name too long)."""
    try:
        return path.exists()
    except OSError:
        return False


def _limit(folder: Path, name: str, default: int) -> int:
    """The file system's limit ``name`` where ``folder`` (or its nearest existing parent) is."""
    for where in (folder, *folder.parents):
        if _exists(where):
            try:
                return os.pathconf(where, name)
            except (OSError, ValueError):
                return default
    return default


def _reason(error: OSError) -> str:
    return error.strerror or str(error) or type(error).__name__
