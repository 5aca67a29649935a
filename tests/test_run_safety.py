"""Trustworthy run directories (docs/reliability.md): a checkpoint is data and never runs code,
a damaged one is refused, the checkpoint's config is the truth, one writer per run directory,
and a run killed before its first checkpoint resumes from the start."""

import collections
import contextlib
import io
import json
import os
import pickle
import subprocess
import sys
import time

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
import torch
from tiny_runs import QUIET, tiny, tiny_flags

import qarcade  # noqa: F401 - registers the environments
from qarcade.cli import main
from qarcade.dqn.envs import make_vector
from qarcade.dqn.train import train
from qarcade.envs.snapshot import restore_vector, vector_snapshot
from qarcade.errors import UserError
from qarcade.runs import CHECKPOINT, LOCK, METRICS, RunDir, restored, storable

STEPS = 200  # one episode per env


def cli(*args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def train_command(out, **changes):
    command = [sys.executable, "-m", "qarcade.cli", "train", "gridworld", "--out", str(out)]
    return command + ["--no-progress", *tiny_flags(**changes)]


def metrics(run_dir):
    return RunDir(run_dir).read_metrics().drop(columns="wall_time_s")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "run"
    train(tiny(max_steps=STEPS), run_dir, **QUIET)
    return run_dir


def copy_run(run_dir, to):
    to.mkdir()
    for name in ("config.json", "metrics.csv", "evaluations.csv", CHECKPOINT):
        (to / name).write_bytes((run_dir / name).read_bytes())
    return to


class WritesAFile:
    """Unpickling it creates ``path``: what code in a checkpoint could do."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


# --- checkpoints are data ---


@pytest.mark.parametrize(
    "field", ["learner", "replay", "counters", "rng", "env_state", "config", "extra"]
)
def test_a_checkpoint_carrying_code_is_refused_by_every_command(run, tmp_path, field):
    state = RunDir(run).load_checkpoint()
    marker = tmp_path / "pwned"
    evil = copy_run(run, tmp_path / "evil")
    if field == "extra":
        state[field] = WritesAFile(marker)
    elif isinstance(state[field], dict):
        state[field] = {**state[field], "evil": WritesAFile(marker)}
    # with a valid digest (as qarcade writes it), then as a plain torch.save (no digest)
    for write in (RunDir(evil).save_checkpoint, lambda s: torch.save(s, evil / CHECKPOINT)):
        write(state)
        for args in (["eval", str(evil)], ["explain", str(evil)], ["train", "--resume", str(evil)]):
            code, _, err = cli(*args, "--no-progress") if args[0] == "train" else cli(*args)
            assert code == 2, (args, err)
            assert err.strip().count("\n") == 0 and "Traceback" not in err, err
            assert "not data" in err or "--trust-checkpoint" in err, err
            assert not marker.exists(), args


def test_an_older_checkpoint_with_a_pickled_env_loads_only_when_trusted(run, tmp_path):
    old = copy_run(run, tmp_path / "old")
    state = RunDir(run).load_checkpoint()
    state.pop("env_state")
    state["envs"] = pickle.dumps(None)  # the old format: a pickle of the vector env
    torch.save(state, old / CHECKPOINT)  # and no digest
    code, _, err = cli("eval", str(old), "--episodes", "2")
    assert code == 2 and "--trust-checkpoint" in err and err.count("\n") == 1, err
    code, out, err = cli("eval", str(old), "--episodes", "2", "--trust-checkpoint")
    assert code == 0 and "mean" in out, err


def test_every_flipped_byte_is_refused(run, tmp_path):
    data = (run / CHECKPOINT).read_bytes()
    damaged = copy_run(run, tmp_path / "damaged")
    rng = np.random.default_rng(0)
    at = [*rng.integers(0, len(data), 25), len(data) - 1, len(data) - 40, len(data) - 100, 0]
    for i in at:
        flipped = bytearray(data)
        flipped[i] ^= 0x10
        (damaged / CHECKPOINT).write_bytes(bytes(flipped))
        with pytest.raises(UserError, match="corrupt or truncated") as error:
            RunDir(damaged).load_checkpoint()
        assert "\n" not in str(error.value)
    code, _, err = cli("eval", str(damaged))
    assert code == 2 and "corrupt or truncated" in err and err.count("\n") == 1


def test_a_config_json_that_disagrees_with_the_checkpoint_is_reported_not_obeyed(run, tmp_path):
    lied = copy_run(run, tmp_path / "lied")
    config = json.loads((lied / "config.json").read_text())
    config["grid_size"] = 5  # the checkpoint was trained on 3
    (lied / "config.json").write_text(json.dumps(config))
    code, out, err = cli("eval", str(lied), "--episodes", "2", "--json")
    assert code == 0, err
    assert err.count("\n") == 1 and "disagrees" in err and "grid_size 5 (checkpoint: 3)" in err
    assert json.loads(out)["episodes"] == 2  # played on the 3x3 board it learned
    lines = []
    train(tiny(max_steps=STEPS + 100), lied, resume=True, progress=False, log=lines.append)
    assert any("grid_size 5 (checkpoint: 3)" in line for line in lines), lines
    assert RunDir(lied).load_checkpoint()["config"]["grid_size"] == 3


def test_plain_values_round_trip_through_a_weights_only_load(tmp_path):
    value = {
        "a": np.arange(6, dtype=np.int8).reshape(2, 3),
        "s": np.float32(1.5),
        "q": collections.deque([np.zeros(2), 3], maxlen=4),
        "t": (1, b"bytes", None),
    }
    path = tmp_path / "x.pt"
    torch.save(storable(value), path)
    back = restored(torch.load(path, weights_only=True))
    assert back["a"].dtype == np.int8 and (back["a"] == value["a"]).all()
    assert back["s"].dtype == np.float32 and back["s"] == 1.5
    assert isinstance(back["q"], collections.deque) and back["q"].maxlen == 4
    assert back["t"] == (1, b"bytes", None)


def test_the_gridworld_snapshot_continues_step_for_step(tmp_path):
    config = tiny()
    envs = make_vector(config, 3)
    envs.reset(seed=7)
    rng = np.random.default_rng(0)
    for _ in range(60):  # past a truncation: the reset due next step is in the snapshot
        envs.step(rng.integers(0, 4, 3))
    torch.save(storable(vector_snapshot(envs)), tmp_path / "s.pt")
    again = make_vector(config, 3)
    restore_vector(again, restored(torch.load(tmp_path / "s.pt", weights_only=True)))
    for _ in range(60):
        actions = rng.integers(0, 4, 3)
        a, b = envs.step(actions), again.step(actions)
        for x, y in zip(a[:4], b[:4], strict=True):
            assert np.array_equal(x, y)
        assert a[4].keys() == b[4].keys()
        if "episode" in a[4]:
            assert np.array_equal(a[4]["episode"]["r"], b[4]["episode"]["r"])


def test_an_env_without_a_snapshot_says_none():
    envs = gym.vector.SyncVectorEnv([lambda: gym.make("qarcade/MDP-v0")])
    assert vector_snapshot(envs) is None


# --- one writer per run directory ---


def test_a_second_writer_is_refused_naming_the_holder(run, tmp_path):
    live = copy_run(run, tmp_path / "live")
    holder = RunDir.open(live, write=True)
    code, _, err = cli("train", "--resume", str(live), "--max-steps", "300", "--no-progress")
    assert code == 2 and f"process {os.getpid()}" in err and err.count("\n") == 1, err
    holder.close()
    (live / LOCK).write_text("999999\n")  # left by a process that died: no flock held
    code, _, err = cli("train", "--resume", str(live), "--max-steps", "300", "--no-progress")
    assert code == 0, err


def test_two_trains_into_one_directory_one_proceeds(tmp_path):
    out = tmp_path / "shared"
    processes = [
        subprocess.Popen(train_command(out, max_steps=400), stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in processes]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    refused = next(err for code, err in results if code == 2)
    assert "being written by" in refused or "already holds a run" in refused
    assert "Traceback" not in refused and refused.count("\n") == 1
    episodes = RunDir(out).read_metrics()["episode"].tolist()
    assert episodes == list(range(1, len(episodes) + 1))
    assert RunDir(out).read_summary()["episodes"] == len(episodes)


# --- no dead ends ---


def test_a_run_killed_before_its_first_checkpoint_resumes_from_the_start(run, tmp_path):
    config = tiny(max_steps=STEPS)
    killed = RunDir.create(tmp_path / "killed", config.to_dict())  # what a kill leaves
    killed.append_rows(METRICS, [(1, 50, 1.0, 50, 0.9, 0.1, 0.5)])
    killed.close()
    leftover = tmp_path / "killed" / f".{CHECKPOINT}.abc123.tmp"
    leftover.write_bytes(b"half a checkpoint")
    lines = []
    train(config, tmp_path / "killed", resume=True, progress=False, log=lines.append)
    assert any("starts over" in line for line in lines), lines
    assert not leftover.exists()
    pd.testing.assert_frame_equal(metrics(run), metrics(tmp_path / "killed"))


def test_a_run_killed_with_sigkill_resumes_and_ends_like_the_uninterrupted_run(tmp_path):
    steps, killed = 1200, tmp_path / "killed"
    process = subprocess.Popen(train_command(killed, max_steps=steps), stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        rows = (killed / METRICS).read_text().count("\n") if (killed / METRICS).exists() else 0
        if rows > 4:  # a few episodes in, long before the end
            break
        time.sleep(0.02)
    process.kill()
    process.wait()
    assert not (killed / "summary.json").exists(), "the run ended before the kill"
    code, _, err = cli("train", "--resume", str(killed), "--no-progress")
    assert code == 0, err
    train(tiny(max_steps=steps), tmp_path / "straight", **QUIET)
    pd.testing.assert_frame_equal(metrics(tmp_path / "straight"), metrics(killed))
    straight = RunDir(tmp_path / "straight").load_checkpoint()["learner"]["online"]
    for name, tensor in RunDir(killed).load_checkpoint()["learner"]["online"].items():
        assert torch.equal(tensor, straight[name]), name


def test_nothing_is_written_through_a_symlink_in_a_run_directory(run, tmp_path):
    linked = copy_run(run, tmp_path / "linked")
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    (linked / METRICS).unlink()
    (linked / METRICS).symlink_to(target)
    code, _, err = cli("train", "--resume", str(linked), "--max-steps", "300", "--no-progress")
    assert code == 2 and "symbolic link" in err and err.count("\n") == 1, err
    assert target.read_text() == "keep me"


def test_long_runs_checkpoint_on_the_clock_and_short_ones_only_at_the_end(
    run, tmp_path, monkeypatch
):
    saves = []
    original = RunDir.save_checkpoint

    def counted(self, state):
        saves.append(state["counters"]["env_steps"])
        original(self, state)

    monkeypatch.setattr(RunDir, "save_checkpoint", counted)
    train(tiny(max_steps=STEPS), tmp_path / "default", **QUIET)
    assert saves == [STEPS]  # the default 5 minutes: a short run writes its final one only
    saves.clear()
    clock = tiny(max_steps=STEPS, checkpoint_every_minutes=1e-4)  # every 6 ms of training
    train(clock, tmp_path / "clock", **QUIET)
    # (at least 20 times a checkpoint's write apart: a few in a run of a second or two)
    assert len(saves) >= 2 and saves == sorted(saves) and saves[-1] == STEPS, saves
    assert all(0 < step < STEPS for step in saves[:-1]), saves
    # a checkpoint changes nothing of what the run computes
    pd.testing.assert_frame_equal(metrics(run), metrics(tmp_path / "clock"))
