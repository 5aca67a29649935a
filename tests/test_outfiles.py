"""Output files: checked before the work (qarcade.outfiles.check_output), written whole or not
at all (writing), as every command that writes where the user says does."""

import errno
import os
import shutil
from collections import namedtuple

import numpy as np
import pytest

from qarcade.cli import main
from qarcade.errors import UserError
from qarcade.media import write_video
from qarcade.outfiles import check_folder, check_output, writing


@pytest.mark.parametrize(
    "name, message",
    [
        ("a-dir/x.gif", "a-dir does not exist"),
        ("file.txt/x.gif", "is not a folder"),
        ("here.gif", "it is a directory"),
        ("x" * 300 + ".gif", "304 bytes, more than the 255"),
        ("x.avi", "must end in .mp4 or .gif"),
        ("", "names no file"),
    ],
)
def test_a_path_that_cannot_be_written_is_named(tmp_path, name, message):
    (tmp_path / "here.gif").mkdir()
    (tmp_path / "file.txt").write_text("x")
    target = str(tmp_path / name) if name else ""
    with pytest.raises(UserError, match=message):
        check_output(target, "video", suffixes=(".mp4", ".gif"))


def test_a_folder_where_no_file_can_be_made_is_refused():
    with pytest.raises(UserError, match="cannot write the figure /proc/x.png"):
        check_output("/proc/x.png", "figure")
    with pytest.raises(UserError, match="cannot make the run directory /proc/run"):
        check_folder("/proc/run", "run directory")


def test_too_little_free_space_is_said_before_the_work(tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9, 1000))
    with pytest.raises(UserError, match="MiB free in"):
        check_output(tmp_path / "x.png", "figure")


def test_a_write_cut_short_leaves_no_file_and_says_so(tmp_path, monkeypatch):
    import imageio.v2 as imageio

    frames = np.zeros((3, 8, 8, 3), np.uint8)
    (tmp_path / "old.mp4").write_bytes(b"the earlier video")

    class FullDisk:
        def __init__(self, path, **kwargs):
            self.path = path

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def append_data(self, frame):
            with open(self.path, "ab") as f:
                f.write(b"half a frame")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(imageio, "get_writer", FullDisk)
    with pytest.raises(UserError) as error:
        write_video(frames, tmp_path / "old.mp4")
    message = str(error.value)
    assert "No space left on device" in message and "partial file was removed" in message
    assert "\n" not in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.mp4"]
    assert (tmp_path / "old.mp4").read_bytes() == b"the earlier video"


def test_a_whole_write_is_renamed_into_place_with_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        with writing(tmp_path / "a.csv") as tmp:
            assert tmp.parent == tmp_path and tmp.suffix == ".csv"
            tmp.write_text("x\n")
    finally:
        os.umask(old)
    assert [p.name for p in tmp_path.iterdir()] == ["a.csv"]
    assert (tmp_path / "a.csv").stat().st_mode & 0o777 == 0o640


def test_commands_check_their_outputs_before_the_work(tmp_path, capsys):
    """Each refusal comes before the work: the mdp's Q-learning, grading, a play."""
    (tmp_path / "dir.png").mkdir()
    cases = [
        (["explain", "mdp", "--out", str(tmp_path / "dir.png")], "is a directory"),
        (["grade", "/no/such.ipynb", "--csv", "/proc/grades.csv"], "the CSV file /proc/grades"),
        (
            [
                "play",
                "gridworld",
                "--actions",
                "3",
                "--video",
                str(tmp_path / ("x" * 300 + ".gif")),
            ],
            "more than the 255",
        ),
        (["train", "gridworld", "--out", "/proc/run"], "cannot make the run directory"),
    ]
    for args, message in cases:
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, (args, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.png"]
