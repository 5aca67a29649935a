"""The training loop end to end on tiny budgets: run directory, determinism, exact resume,
SIGTERM, one-line errors, evaluation."""

import dataclasses
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch
from tiny_runs import QUIET, tiny, tiny_flags

from qarcade.cli import main
from qarcade.dqn.checkpoint import resume_config
from qarcade.dqn.device import fit_to_device
from qarcade.dqn.learner import LossAverage
from qarcade.dqn.replay import check_replay_memory
from qarcade.dqn.train import train
from qarcade.errors import UserError
from qarcade.runs import CHECKPOINT, RunDir

STEPS = 600  # 3 episodes per env; stopping at 300 cuts through the second


def metrics_without_wall_time(run_dir):
    return RunDir(run_dir).read_metrics().drop(columns="wall_time_s")


def weights(run_dir):
    return RunDir(run_dir).load_checkpoint()["learner"]["online"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "reference"
    summary = train(tiny(max_steps=STEPS, video=True), run_dir, **QUIET)
    return run_dir, summary


def test_run_directory_has_everything(reference):
    run_dir, summary = reference
    files = ("config.json", "metrics.csv", "summary.json", CHECKPOINT, "learning_curve.png")
    for name in (*files, "video.mp4"):
        assert (run_dir / name).is_file(), name
    assert any((run_dir / "tb").iterdir()), "TensorBoard events"
    metrics = RunDir(run_dir).read_metrics()
    assert list(metrics.columns) == [
        "episode", "step", "reward", "length", "epsilon", "loss", "wall_time_s",
    ]  # fmt: skip
    assert metrics["episode"].tolist() == list(range(1, 13))  # 4 envs x 3 episodes of 50
    assert (metrics["length"] == 50).all()
    assert metrics["step"].iloc[-1] == STEPS == summary["env_steps"]
    assert metrics["epsilon"].is_monotonic_decreasing and metrics["epsilon"].iloc[-1] < 1.0
    assert RunDir(run_dir).read_summary()["stop_reason"] == "max_steps"
    assert summary["final_eval"]["episodes"] == 4
    # every update round was done: (600 - 100) // 8 + 1 rounds of 1 update
    assert summary["grad_updates"] == (STEPS - 100) // 8 + 1


def test_same_seed_same_metrics_and_weights(reference, tmp_path):
    run_dir, _ = reference
    train(tiny(max_steps=STEPS), tmp_path / "again", **QUIET)
    pd.testing.assert_frame_equal(
        metrics_without_wall_time(run_dir), metrics_without_wall_time(tmp_path / "again")
    )
    for name, tensor in weights(run_dir).items():
        assert torch.equal(tensor, weights(tmp_path / "again")[name]), name


def test_stop_and_resume_ends_like_the_uninterrupted_run(reference, tmp_path):
    run_dir, _ = reference
    first = train(tiny(max_steps=STEPS // 2), tmp_path / "split", **QUIET)
    assert first["stop_reason"] == "max_steps" and first["env_steps"] == STEPS // 2
    train(tiny(max_steps=STEPS), tmp_path / "split", resume=True, **QUIET)
    pd.testing.assert_frame_equal(
        metrics_without_wall_time(run_dir), metrics_without_wall_time(tmp_path / "split")
    )
    for name, tensor in weights(run_dir).items():
        assert torch.equal(tensor, weights(tmp_path / "split")[name]), name


def test_resuming_a_run_whose_budget_is_spent_says_so(tmp_path):
    config = tiny(max_steps=200, final_eval_episodes=0)
    train(config, tmp_path / "run", **QUIET)
    lines = []
    summary = train(config, tmp_path / "run", resume=True, progress=False, log=lines.append)
    assert summary["env_steps"] == 200 and summary["stop_reason"] == "max_steps"
    assert any("max_steps 200 already reached (200 env steps)" in line for line in lines), lines
    lines.clear()
    more = tiny(max_steps=300, final_eval_episodes=0)
    train(more, tmp_path / "run", resume=True, progress=False, log=lines.append)
    assert not any("already reached" in line for line in lines), lines


def test_a_spent_budget_keeps_the_final_evaluation_it_had(tmp_path, monkeypatch):
    from qarcade.dqn import recorder

    config = tiny(max_steps=200, final_eval_episodes=4)
    first = train(config, tmp_path / "run", **QUIET)
    played = []
    monkeypatch.setattr(recorder, "play", lambda *a, **k: played.append(a) or [0.0])
    again = train(config, tmp_path / "run", resume=True, **QUIET)
    assert not played  # nothing trained since: the agent is not evaluated again
    assert again["final_eval"] == first["final_eval"] and again["env_steps"] == 200


def test_a_resume_with_another_goal_does_not_report_the_old_one_as_reached(tmp_path):
    low = tiny(goal=-100.0, goal_metric="train", goal_window=1, max_steps=2000)
    reached = train(low, tmp_path / "run", **QUIET)
    assert reached["stop_reason"] == "goal" and reached["goal_reached_at"]["goal"] == -100.0
    high = dataclasses.replace(low, goal=1000.0, max_steps=reached["env_steps"] + 100)
    summary = train(high, tmp_path / "run", resume=True, **QUIET)
    assert summary["stop_reason"] == "max_steps"
    assert not summary["goal_reached"] and summary["goal_reached_at"] is None


class Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def cli(*args):
    """Run ``qarcade ARGS`` in this process (faster than a subprocess on a busy CPU)."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exit_:
            code = exit_.code
    return Result(code, out.getvalue(), err.getvalue())


def test_sigterm_writes_a_checkpoint_and_exits_cleanly(tmp_path):
    run_dir = tmp_path / "run"
    flags = tiny_flags(max_steps=10**7)
    process = subprocess.Popen(
        [sys.executable, "-m", "qarcade.cli", "train", "gridworld", "--out", str(run_dir)]
        + ["--no-progress", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until it has trained a little
        metrics = run_dir / "metrics.csv"
        if metrics.exists() and len(metrics.read_text().splitlines()) > 8:
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 143, err
    assert "Traceback" not in err
    assert "qarcade train --resume" in out
    summary = RunDir(run_dir).read_summary()
    assert summary["stop_reason"] == "SIGTERM"
    state = RunDir(run_dir).load_checkpoint()
    assert state["counters"]["env_steps"] == summary["env_steps"] > 0
    # the checkpoint continues: resume for one more episode round
    more = summary["env_steps"] + 200
    result = subprocess.run(
        [sys.executable, "-m", "qarcade.cli", "train", "--resume", str(run_dir), "--no-progress"]
        + ["--max-steps", str(more)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert RunDir(run_dir).read_summary()["env_steps"] >= more


def test_eval_command(reference):
    run_dir, _ = reference
    result = cli("eval", str(run_dir), "--episodes", "6", "--json")
    assert result.returncode == 0, result.stderr
    import json

    report = json.loads(result.stdout)
    assert report["episodes"] == 6 and report["min"] <= report["mean"] <= report["max"]
    again = json.loads(cli("eval", str(run_dir), "--episodes", "6", "--json").stdout)
    assert again["mean"] == report["mean"]  # seeded


def test_eval_writes_a_video_of_one_episode(reference, tmp_path):
    import imageio.v3 as iio

    run_dir, _ = reference
    video = tmp_path / "agent.mp4"
    result = cli("eval", str(run_dir), "--episodes", "2", "--video", str(video))
    assert result.returncode == 0, result.stderr
    assert f"video: {video}" in result.stdout
    frames = iio.imread(video)
    assert frames.ndim == 4 and frames.shape[0] >= 51  # 50 steps + the first frame
    bad = cli("eval", str(run_dir), "--episodes", "2", "--video", str(tmp_path / "agent.avi"))
    assert bad.returncode == 2 and "must end in .mp4 or .gif" in bad.stderr


@pytest.mark.parametrize(
    "args,message",
    [
        (["train", "pongg"], "unknown env 'pongg'; closest: pong"),
        (["train", "gridworld", "--algo", "rainbow"], "invalid choice: 'rainbow'"),
        (["train", "gridworld", "--tau", "0"], "tau must be in (0, 1]"),
        (["eval", "."], "is not a run directory"),
        (["train", "--resume", "/no/such/run"], "is not a directory"),
        (["train", "gridworld", "--out", "/dev/null"], "cannot make the run directory /dev/null"),
        (["train", "gridworld", "--out", "/dev/null/run"], "cannot make the run directory"),
        (["train", "gridworld", "--seed", "-5"], "seed must be 0 or more, got -5"),
        (["train", "gridworld", "--learning-rate", "-1"], "learning_rate must be positive"),
        (["train", "gridworld", "--learning-rate", "nan"], "learning_rate must be a finite number"),
        (["train", "gridworld", "--max-minutes", "-1"], "max_minutes must be 0 or more"),
        (["eval", ".", "--seed", "-1"], "--seed: must be an integer in [0, 2^63), got -1"),
        (["play", "mspacman", "--random", "3", "--seed", "-1"], "[0, 2^63)"),
        (["explain", "mdp", "--seed", "-1"], "[0, 2^63)"),
    ],
)
def test_user_mistakes_are_one_line_errors(args, message):
    result = cli(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_a_replay_bigger_than_the_memory_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "run"
    result = cli("train", "gridworld", "--replay-size", str(10**13), "--out", str(out))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "the replay needs" in result.stderr and "--replay-size" in result.stderr
    assert not out.exists()


def test_the_replay_size_the_memory_error_names_fits():
    from qarcade.dqn.replay import ReplayBuffer

    per_step = ReplayBuffer.nbytes_for(1, 1, (84, 84), np.uint8)
    available = 5 * 2**30
    check_replay_memory(
        ReplayBuffer.nbytes_for(500_000, 16, (84, 84), np.uint8), 500_000, available
    )
    with pytest.raises(
        UserError, match=r"needs 6\.6 GiB but 5\.0 GiB .* --replay-size (\d+) "
    ) as e:
        check_replay_memory(
            ReplayBuffer.nbytes_for(10**6, 16, (84, 84), np.uint8), 10**6, available
        )
    suggested = int(str(e.value).split("--replay-size ")[1].split()[0])
    assert 0.7 * available < suggested * per_step <= available


def test_available_memory_without_psutil_reads_linux_meminfo(monkeypatch):
    import psutil

    from qarcade.dqn.replay import available_memory_bytes

    with_psutil = available_memory_bytes()
    assert with_psutil == pytest.approx(psutil.virtual_memory().available, rel=0.1)
    monkeypatch.setitem(sys.modules, "psutil", None)  # import psutil -> ImportError
    without = available_memory_bytes()
    if os.path.exists("/proc/meminfo"):
        assert without == pytest.approx(with_psutil, rel=0.1)
    else:
        assert without is None


def test_corrupt_checkpoint_is_a_one_line_error(reference, tmp_path):
    run_dir, _ = reference
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("config.json", "metrics.csv", "evaluations.csv"):
        (copy / name).write_bytes((run_dir / name).read_bytes())
    data = (run_dir / CHECKPOINT).read_bytes()
    (copy / CHECKPOINT).write_bytes(data[: len(data) // 3])
    for args in (["eval", str(copy)], ["train", "--resume", str(copy)]):
        result = cli(*args)
        assert result.returncode == 2
        assert "corrupt or truncated" in result.stderr
        assert result.stderr.strip().count("\n") == 0


def test_resume_refuses_to_change_the_learning(reference):
    run_dir, _ = reference
    result = cli("train", "--resume", str(run_dir), "--learning-rate", "0.5")
    assert result.returncode == 2
    assert "cannot change learning_rate" in result.stderr


def test_a_finished_run_directory_is_not_overwritten(reference):
    run_dir, _ = reference
    result = cli("train", "gridworld", "--out", str(run_dir), *tiny_flags(max_steps=100))
    assert result.returncode == 2 and "already holds a run" in result.stderr
    assert np.isfinite(RunDir(run_dir).read_summary()["wall_seconds"])
    assert os.path.exists(run_dir / CHECKPOINT)


def test_a_network_reading_the_grid_trains_resumes_evaluates_and_records(tmp_path):
    # The cells CNN on the 5x5 gridworld runs its first conv on the 7x7 grid (grid_input).
    config = tiny(network="cells", grid_size=5, max_steps=300, video=True)
    summary = train(config, tmp_path / "run", **QUIET)
    frames = RunDir(tmp_path / "run").load_checkpoint()["replay"]["frames"]
    assert tuple(frames.shape[-3:]) == (7, 7, 3)  # the env's grids, stored as they come
    assert summary["final_eval"]["episodes"] == 4
    assert (tmp_path / "run" / "video.mp4").stat().st_size > 0
    # Stopped halfway and resumed: the same metrics and weights as straight through.
    train(tiny(network="cells", grid_size=5, max_steps=150), tmp_path / "split", **QUIET)
    train(config, tmp_path / "split", resume=True, **QUIET)
    pd.testing.assert_frame_equal(
        metrics_without_wall_time(tmp_path / "run"), metrics_without_wall_time(tmp_path / "split")
    )
    for name, tensor in weights(tmp_path / "run").items():
        assert torch.equal(tensor, weights(tmp_path / "split")[name]), name
    pixels = train(tiny(network="cells", grid_size=5, max_steps=300, grid_input=False),
                   tmp_path / "pixels", **QUIET)  # fmt: skip
    # Same seed, same initial weights: the first (fully random) episodes are identical.
    first = RunDir(tmp_path / "run").read_metrics()["reward"][:4].tolist()
    assert first == RunDir(tmp_path / "pixels").read_metrics()["reward"][:4].tolist()
    assert pixels["env_steps"] == summary["env_steps"]


def test_periodic_evaluations_are_recorded_and_said_and_can_stop_the_run(tmp_path):
    said = []
    config = tiny(max_steps=400, eval_every_steps=100, eval_episodes=3, goal=1e9,
                  goal_metric="eval")  # fmt: skip
    summary = train(config, tmp_path / "run", progress=False, log=said.append)
    evaluations = pd.read_csv(tmp_path / "run" / "evaluations.csv")
    assert (evaluations["step"] >= [100, 200, 300, 400]).all() and len(evaluations) == 4
    assert (evaluations["episodes"] == 3).all()
    assert (evaluations["min"] <= evaluations["mean"]).all()
    assert (evaluations["mean"] <= evaluations["max"]).all()
    lines = [line for line in said if line.startswith("evaluation at ")]
    last = evaluations["mean"].iloc[-1]
    assert len(lines) == 4 and f"mean {last:.2f} over 3 episodes" in lines[-1]
    assert summary["last_eval"]["step"] == evaluations["step"].iloc[-1]
    assert summary["stop_reason"] == "max_steps"
    # a goal the first evaluation reaches stops the run there, if no more of its episodes than
    # goal_max_stuck allows ended stuck (this barely trained agent's often do)
    stuck = [int(line.split(", ")[-1].split()[0]) if "stuck" in line else 0 for line in lines]
    assert all(stuck) and summary["last_eval"]["stuck"] == stuck[-1]
    low = dataclasses.replace(config, goal=evaluations["mean"].min() - 1.0)
    blocked = train(low, tmp_path / "stuck", **QUIET)
    assert blocked["stop_reason"] == "max_steps"
    stopped = train(dataclasses.replace(low, goal_max_stuck=1.0), tmp_path / "goal", **QUIET)
    assert stopped["stop_reason"] == "goal" and stopped["env_steps"] < 200
    assert stopped["goal_reached_at"]["step"] == stopped["env_steps"]


def test_the_training_goal_is_noted_once_and_the_run_goes_on_to_its_evaluation_goal(tmp_path):
    said = []
    config = tiny(max_steps=600, goal=1e9, goal_metric="eval", eval_every_steps=300,
                  eval_episodes=2, goal_window=5, train_goal=-100.0)  # fmt: skip
    summary = train(config, tmp_path / "run", progress=False, log=said.append)
    metrics = RunDir(tmp_path / "run").read_metrics()
    step = metrics["step"].iloc[4]  # the window is full: the first step that can reach the goal
    ended = metrics[metrics["step"] <= step]  # the episodes that ended by then (4 envs at once)
    noted = summary["train_goal_reached_at"]
    assert (noted["step"], noted["episode"]) == (step, len(ended))
    assert noted["value"] == pytest.approx(ended["reward"].iloc[-5:].mean(), abs=1e-4)
    assert summary["stop_reason"] == "max_steps" and not summary["goal_reached"]
    lines = [line for line in said if line.startswith("training goal -100 reached at")]
    assert len(lines) == 1 and "going on to the eval goal 1e+09" in lines[0]
    # a goal it never reaches is noted nowhere; a run stopping on it does not say it twice
    never = train(dataclasses.replace(config, train_goal=1e9), tmp_path / "never", **QUIET)
    assert never["train_goal_reached_at"] is None
    said.clear()
    lab_like = dataclasses.replace(config, goal=-100.0, goal_metric="train")
    stopped = train(lab_like, tmp_path / "stop", progress=False, log=said.append)
    assert stopped["goal_reached_at"]["step"] == stopped["train_goal_reached_at"]["step"]
    assert not any(line.startswith("training goal") for line in said)


def test_losses_summed_on_the_device_read_as_a_python_float_sum_would():
    rng = np.random.default_rng(0)
    steps = [[torch.tensor(v, dtype=torch.float32) for v in rng.random(4) * 1e3] for _ in range(50)]
    losses = LossAverage(0.1, 3)  # as a resumed run's learner may hold
    expected = 0.1
    for i, step in enumerate(steps):
        losses.add(step)
        expected += float(torch.stack(step).sum())
        if i == 20:  # a checkpoint: read, then add on
            assert losses.state() == (expected, 3 + 4 * 21)
    assert isinstance(losses.total, torch.Tensor)  # not read since: still on the device
    assert losses.read_mean() == expected / (3 + 4 * 50)
    assert losses.read_mean() is None and losses.state() == (0.0, 0)  # read: starts anew


def test_a_new_gpu_run_reads_pixels_and_a_resumed_run_keeps_what_it_read(tmp_path):
    cpu, cuda, said = torch.device("cpu"), torch.device("cuda"), []
    config = tiny(network="cells", grid_size=5)  # a network that reads the grid on a CPU
    assert fit_to_device(config, cpu, said.append) is config and not said
    on_gpu = fit_to_device(config, cuda, said.append)
    assert not on_gpu.grid_input and said == ["grid input off on cuda: the network reads "
                                              "pixels, faster there"]  # fmt: skip
    mlp = tiny(network="mlp", grid_size=5)  # reads pixels anyway: nothing to say
    assert fit_to_device(mlp, cuda, said.append) is mlp and len(said) == 1
    # A run keeps its input wherever it resumes, whatever config it is resumed with.
    train(dataclasses.replace(config, max_steps=100), tmp_path / "cpu", **QUIET)
    run = RunDir(tmp_path / "cpu")
    assert fit_to_device(on_gpu, cuda, said.append, run).grid_input
    RunDir.create(tmp_path / "gpu", on_gpu.to_dict())
    assert not fit_to_device(config, cpu, said.append, RunDir(tmp_path / "gpu")).grid_input
    assert len(said) == 1


def test_a_run_saved_before_newer_fields_resumes_as_it_was_trained(tmp_path):
    import json

    # Before these fields existed, this run's replay held pixels and its updates were float32.
    old = dict(compact_replay=False, precision="float32", grid_input=False)
    train(tiny(network="cells", grid_size=5, max_steps=200, **old), tmp_path / "old", **QUIET)
    path = tmp_path / "old" / "config.json"
    saved = json.loads(path.read_text())
    for name in old:
        del saved[name]  # a config.json written before these fields existed
    path.write_text(json.dumps(saved))
    config = resume_config(tmp_path / "old", {"max_steps": 300})
    assert all(getattr(config, name) == value for name, value in old.items())
    summary = train(config, tmp_path / "old", resume=True, **QUIET)  # the pixel replay loads
    assert summary["env_steps"] == 300 and summary["precision"] == "float32"


def test_evaluation_counts_the_episodes_that_end_stuck():
    """A hero always walking up ends every episode against the wall: stuck. One that steps up
    and down in turn ends stuck too (two cells); random play almost never does."""
    from qarcade.dqn.evaluate import play

    config = tiny(grid_size=5)

    def always_up(stacks):
        return np.tile([1.0, 0.0, 0.0, 0.0], (len(stacks), 1))

    turn = {"up": True}

    def up_and_down(stacks):
        turn["up"] = not turn["up"]
        return np.tile(
            [1.0, 0.0, 0.0, 0.0] if turn["up"] else [0.0, 1.0, 0.0, 0.0], (len(stacks), 1)
        )

    up = play(always_up, config, 12, seed=5)
    assert up.stuck.all() and len(up.returns) == 12
    assert play(up_and_down, config, 12, seed=5).stuck.mean() > 0.5
    assert play(always_up, config, 40, epsilon=1.0, seed=5).stuck.mean() < 0.1
