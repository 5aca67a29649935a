"""Run directories: atomic writes, one-line errors for what is not a run or not a checkpoint."""

import os

import pytest
import torch

from qarcade.errors import UserError
from qarcade.runs import CHECKPOINT, METRICS, RunDir, atomic_write_bytes


def test_atomic_write_replaces_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "f.bin"
    atomic_write_bytes(path, b"old")
    atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_atomic_writes_honour_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write_bytes(tmp_path / "f.bin", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "f.bin").stat().st_mode & 0o777 == 0o640


def test_atomic_write_that_fails_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    atomic_write_bytes(path, b"old")

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_create_open_and_errors(tmp_path):
    run = RunDir.create(tmp_path / "run", {"seed": 1})
    assert RunDir.open(run.path).read_config() == {"seed": 1}
    assert (run / METRICS).read_text().startswith("episode,step,reward,length,epsilon,loss,")
    with pytest.raises(UserError, match="already holds a run"):
        RunDir.create(run.path, {})
    with pytest.raises(UserError, match="not a run directory"):
        RunDir.open(tmp_path)
    with pytest.raises(UserError, match="not a directory"):
        RunDir.open(tmp_path / "missing")


def test_truncate_metrics_drops_rows_after_the_checkpoint(tmp_path):
    run = RunDir.create(tmp_path / "run", {})
    run.append_rows(METRICS, [(i, 10 * i, 1.0, 50, 0.5, 0.1, 0.0) for i in range(1, 6)])
    run.truncate_metrics(episodes=3, evaluations=0)
    assert run.read_metrics()["episode"].tolist() == [1, 2, 3]


def test_checkpoint_round_trip_and_damage(tmp_path):
    run = RunDir.create(tmp_path / "run", {})
    with pytest.raises(UserError, match="has no checkpoint"):
        run.load_checkpoint()
    run.save_checkpoint({"learner": {"w": torch.arange(1000)}})
    assert torch.equal(run.load_checkpoint()["learner"]["w"], torch.arange(1000))
    data = (run / CHECKPOINT).read_bytes()
    (run / CHECKPOINT).write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="corrupt or truncated"):
        run.load_checkpoint()
    (run / CHECKPOINT).write_bytes(b"not a checkpoint at all")
    with pytest.raises(UserError, match="corrupt or truncated"):
        run.load_checkpoint()
    run.save_checkpoint({"something": "else"})
    with pytest.raises(UserError, match="not a qarcade DQN checkpoint"):
        run.load_checkpoint()


def test_a_checkpoint_that_cannot_be_written_is_a_one_line_error_keeping_the_old_one(
    tmp_path, monkeypatch
):
    run = RunDir.create(tmp_path / "run", {"x": 1})
    run.save_checkpoint({"learner": {"w": torch.arange(3)}})

    def full_disk(obj, f):  # what torch's zip writer raises when the disk fills up
        f.write(b"partial")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704")

    monkeypatch.setattr(torch, "save", full_disk)
    said = r"could not write the checkpoint .*unexpected pos 704; [\d.]+ GiB free there\): the "
    with pytest.raises(UserError, match=said + "previous one is kept"):
        run.save_checkpoint({"learner": {"w": torch.arange(5)}})
    monkeypatch.undo()
    assert torch.equal(run.load_checkpoint()["learner"]["w"], torch.arange(3))
    assert not [p.name for p in run.path.iterdir() if p.name.endswith(".tmp")]
