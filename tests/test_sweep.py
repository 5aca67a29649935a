"""Sweeps: the trial list, the sweep file, the aggregate report, and a real tiny Ray Tune sweep
that is interrupted and resumed."""

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from qarcade.errors import UserError
from qarcade.sweep import SweepSpec, aggregate, expand_trials, load_spec_file, run_sweep


def test_trials_are_algos_times_grid_times_samples_times_seeds(tmp_path):
    spec = SweepSpec(
        algos=("dqn", "d3qn"),
        seeds=3,
        fixed={"max_steps": 500},
        grid={"n_step": [1, 3]},
        random={"learning_rate": {"loguniform": [1e-4, 1e-2]}},
        num_samples=2,
    )
    trials = expand_trials(spec, tmp_path)
    assert len(trials) == 2 * 2 * 2 * 3
    assert len({t["name"] for t in trials}) == len(trials)
    assert len({t["variant"] for t in trials}) == 2 * 2 * 2
    for trial in trials:
        config = trial["config"]
        assert config["max_steps"] == 500 and config["video"] is False
        assert (config["double"], config["dueling"]) == (
            (False, False) if trial["algo"] == "dqn" else (True, True)
        )
        assert config["n_step"] == trial["params"]["n_step"]
        assert 1e-4 <= config["learning_rate"] <= 1e-2
        assert config["seed"] == trial["seed"]
        assert Path(trial["run_dir"]).parent == tmp_path.resolve() / "trials"
    # the same spec draws the same random values: a resumed sweep finds the same trials
    assert expand_trials(spec, tmp_path) == trials


@pytest.mark.parametrize(
    "values, message",
    [
        ({"algos": ("dqn", "rainbow")}, "unknown algo"),
        ({"fixed": {"no_such_field": 1}}, "no_such_field"),
        ({"fixed": {"seed": 1}}, "seed"),
        ({"grid": {"gamma": []}}, "non-empty list"),
        ({"random": {"gamma": {"normal": [0, 1]}}}, "loguniform"),
        ({"seeds": 0}, "positive"),
    ],
)
def test_bad_specs_are_named(values, message):
    with pytest.raises(UserError, match=message):
        SweepSpec(**values)


def test_sweep_file(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text(
        'env = "gridworld"\nalgos = ["dqn", "double"]\nseeds = 2\n'
        "[fixed]\nmax_steps = 1000\n[grid]\nlearning_rate = [1e-3, 3e-4]\n"
    )
    spec = SweepSpec(**load_spec_file(path))
    assert spec.algos == ("dqn", "double") and spec.grid == {"learning_rate": [1e-3, 3e-4]}
    assert len(expand_trials(spec, tmp_path)) == 2 * 2 * 2
    path.write_text("algos = [\n")
    with pytest.raises(UserError, match="not valid TOML"):
        load_spec_file(path)
    path.write_text("colour = 1\n")
    with pytest.raises(UserError, match="unknown keys colour"):
        load_spec_file(path)
    with pytest.raises(UserError, match="does not exist"):
        load_spec_file(tmp_path / "missing.toml")


def _row(variant, reached, final, step=None, seconds=None, finished=True):
    return {
        "variant": variant,
        "finished": finished,
        "goal_reached": reached,
        "goal_step": step,
        "goal_seconds": seconds,
        "final_eval_mean": final,
    }


def test_aggregate_against_a_hand_computed_case():
    rows = [_row("a", True, float(v), step=100 * v, seconds=v) for v in (1, 2, 3, 4)]
    rows += [_row("a", False, float(v)) for v in (5, 6, 7, 8)]
    rows += [_row("b", False, 0.0), _row("b", False, None, finished=False)]
    report = aggregate(rows, reps=500)
    a, b = report["a"], report["b"]
    assert a["trials"] == 8 and a["finished"] == 8
    assert a["goal_fraction"] == 0.5
    assert a["goal_steps_median"] == 250.0  # median of 100, 200, 300, 400
    assert a["goal_seconds_median"] == 2.5
    assert a["final_eval_iqm"] == pytest.approx(4.5)  # mean of 3, 4, 5, 6
    low, high = a["final_eval_ci95"]
    assert 1.0 <= low < 4.5 < high <= 8.0
    assert b["trials"] == 2 and b["finished"] == 1 and b["goal_fraction"] == 0.0
    assert b["goal_steps_median"] is None
    assert b["final_eval_iqm"] == 0.0 and b["final_eval_ci95"] == [0.0, 0.0]


def test_sweep_without_ray_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(UserError, match=r"pip install 'qarcade\[sweep\]'"):
        run_sweep(SweepSpec(), tmp_path / "sweep")


def test_qarcade_imports_without_ray():
    code = "import sys, qarcade, qarcade.sweep, qarcade.cli; assert 'ray' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


TINY = (
    "--grid-size 3 --network mlp --num-envs 2 --warmup-steps 50 --buffer-size 1000 "
    "--batch-size 16 --final-eval-episodes 2 --checkpoint-every-steps 100 --max-steps 600"
).split()


class _WritesAFile:
    """Unpickling it creates ``path``: what code in a pickle could do."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _sweep(*args, **kwargs):
    command = [sys.executable, "-m", "qarcade.cli", "sweep", *args]
    env = {**os.environ, "RAY_DEDUP_LOGS": "0"}
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
        **kwargs,
    )


def _wait_for(path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear in {timeout} s"
        time.sleep(0.2)


@pytest.mark.slow
def test_tiny_sweep_is_interrupted_and_resumed(tmp_path):
    out = tmp_path / "sweep"
    args = ["gridworld", "--algo", "dqn,d3qn", "--seeds", "2", "--out", str(out)]
    process = _sweep(*args, "--max-concurrent", "1", "--cpus-per-trial", "1", *TINY)
    first, second = out / "trials" / "dqn-seed0", out / "trials" / "dqn-seed1"
    try:
        _wait_for(first / "summary.json", 240)
        _wait_for(second / "checkpoint.pt", 120)  # the second trial is part-way
        second_created = (second / "config.json").stat().st_mtime_ns
        first_finished = (first / "summary.json").stat().st_mtime_ns
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130, output
    assert "--resume" in output
    assert not (out / "trials" / "d3qn-seed1" / "summary.json").exists()

    # a resume reads the sweep's own JSON state: a pickle planted where Ray Tune keeps its
    # tuner state is never loaded
    marker = tmp_path / "pwned"
    for tuner in [*(out / "tune").rglob("tuner.pkl"), out / "tune" / "tune" / "tuner.pkl"]:
        tuner.parent.mkdir(parents=True, exist_ok=True)
        tuner.write_bytes(pickle.dumps(_WritesAFile(marker)))
    resumed = _sweep("--resume", str(out), "--json")
    output, _ = resumed.communicate(timeout=400)
    assert resumed.returncode == 0, output
    report = json.loads(output.strip().splitlines()[-1])
    assert set(report) == {"dqn", "d3qn"}
    assert all(entry["finished"] == 2 for entry in report.values())
    # the finished trial was skipped, the interrupted one continued in its own run directory
    assert (first / "summary.json").stat().st_mtime_ns == first_finished
    assert (second / "config.json").stat().st_mtime_ns == second_created
    for name in ("dqn-seed0", "dqn-seed1", "d3qn-seed0", "d3qn-seed1"):
        summary = json.loads((out / "trials" / name / "summary.json").read_text())
        assert summary["env_steps"] >= 600 or summary["goal_reached"]
    rows = (out / "trials.csv").read_text().splitlines()
    assert len(rows) == 1 + 4
    assert (out / "learning_curves.png").stat().st_size > 10_000
    finals = [entry["final_eval_iqm"] for entry in report.values()]
    assert all(np.isfinite(finals))
    assert not marker.exists()


def test_the_example_sweep_file_expands(tmp_path):
    example = Path(__file__).parents[1] / "examples" / "sweep_lr.toml"
    spec = SweepSpec(**load_spec_file(example))
    assert len(expand_trials(spec, tmp_path)) == 2 * 5 * 2 * 2


# --- everything a sweep can be refused for is said before Ray starts ---


def _sweep_cli(monkeypatch, capsys, *args):
    """``qarcade sweep ARGS`` in this process, with Ray unimportable: a check that comes after
    Ray would start says "pip install" instead of what it checks."""
    from qarcade.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)
    code = main(["sweep", *args])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    "text, message",
    [
        ("algos = 5", "algos must be a list of algos, got 5"),
        ('algos = "dqn"', "algos must be a list of algos"),
        ('algos = [["dqn"]]', "unknown algo"),
        ('seeds = "three"', "seeds must be a positive integer, got 'three'"),
        ("seeds = true", "seeds must be a positive integer"),
        ("num_samples = -1", "num_samples must be a positive integer"),
        ("preset = [1]", "preset must be one of"),
        ("fixed = 3", "fixed must be a table"),
        ("[random]\ngamma = {choice = []}", "choice needs a non-empty list"),
        ("[random]\nn_step = {randint = [5, 5]}", "low must be below high"),
        ("[random]\nn_step = {randint = [1.5, 5]}", "two integers"),
        ("[random]\nlearning_rate = {loguniform = [-1e-3, 1e-2]}", "must be above 0"),
        ("[random]\ngamma = {uniform = [0.9, nan]}", "two finite numbers"),
        ("[random]\ngamma = {uniform = 3}", "needs [low, high]"),
        ("[grid]\ngamma = 0.9", "non-empty list"),
        ('[grid]\ngamma = ["high"]', "gamma must be a number, got 'high'"),
        ("[fixed]\nnum_envs = true", "num_envs must be an integer, got True"),
        ("[fixed]\nlearning_rate = inf", "learning_rate must be a finite number"),
        ("seeds = 100000000", "400,000,000 trials, more than 1,000"),
    ],
)
def test_a_bad_sweep_file_is_one_line_naming_the_key(monkeypatch, capsys, tmp_path, text, message):
    path = tmp_path / "sweep.toml"
    path.write_text(f'env = "gridworld"\n{text}\n')
    err = _sweep_cli(monkeypatch, capsys, "--file", str(path), "--out", str(tmp_path / "s"))
    assert message in err, err
    assert not (tmp_path / "s").exists()


def test_a_binary_sweep_file_is_refused(monkeypatch, capsys, tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_bytes(bytes(range(256)))
    err = _sweep_cli(monkeypatch, capsys, "--file", str(path))
    assert "not a text file" in err


def test_the_trial_cap_is_lifted_by_a_flag(monkeypatch, capsys, tmp_path):
    out = str(tmp_path / "s")
    err = _sweep_cli(monkeypatch, capsys, "gridworld", "--seeds", "1001", "--out", out)
    assert "4,004 trials, more than 1,000" in err and "--max-trials 4004" in err
    err = _sweep_cli(
        monkeypatch, capsys, "gridworld", "--seeds", "1001", "--max-trials", "4004", "--out", out
    )
    assert "pip install" in err  # past every check: only the missing Ray stops it


def test_an_unknown_env_gpus_that_are_missing_and_a_silent_address_are_refused(
    monkeypatch, capsys, tmp_path
):
    import torch

    out = str(tmp_path / "s")
    err = _sweep_cli(monkeypatch, capsys, "pongg", "--out", out)
    assert "unknown env 'pongg'" in err
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    err = _sweep_cli(monkeypatch, capsys, "gridworld", "--gpus-per-trial", "1", "--out", out)
    assert "--gpus-per-trial 1, but Ray has no GPU" in err
    err = _sweep_cli(monkeypatch, capsys, "gridworld", "--cpus-per-trial", "100000", "--out", out)
    assert "--cpus-per-trial 100000, but Ray has" in err
    started = time.monotonic()
    err = _sweep_cli(monkeypatch, capsys, "gridworld", "--address", "127.0.0.1:1", "--out", out)
    assert "nothing answers at 127.0.0.1:1" in err and time.monotonic() - started < 10
    err = _sweep_cli(monkeypatch, capsys, "gridworld", "--address", "nowhere", "--out", out)
    assert "HOST:PORT" in err
    assert not (tmp_path / "s").exists()


def test_an_address_that_never_answers_is_refused_within_the_timeout(monkeypatch):
    import socket

    from qarcade.sweep import check_address

    def never(address, timeout):
        time.sleep(min(timeout, 0.2))
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "create_connection", never)
    with pytest.raises(
        UserError, match=r"nothing answers at 10.0.0.1:6379 within 0.2 s \(no answer"
    ):
        check_address("10.0.0.1:6379", timeout=0.2)


def test_the_cli_cap_is_the_library_s():
    from qarcade import sweep
    from qarcade.cli import sweep as cli_sweep

    assert cli_sweep.MAX_TRIALS == sweep.MAX_TRIALS


def test_a_damaged_sweep_state_is_one_line(monkeypatch, capsys, tmp_path):
    out = tmp_path / "s"
    out.mkdir()
    for text in ("{", '{"algos": 5}', "[1]", '{"algos": ["dqn"], "colour": 1}'):
        (out / "sweep.json").write_text(text)
        err = _sweep_cli(monkeypatch, capsys, "--resume", str(out))
        assert str(out) in err


def test_a_trial_holds_its_run_directory_lock(monkeypatch, tmp_path):
    """A trial trains through ``train``, which takes RUN_DIR/.lock: a second worker on the same
    trial (or a user's resume of it) is refused, and a trial's report names its run."""
    import types

    from qarcade.runs import RunDir
    from qarcade.sweep import _run_trial

    reported = []
    tune = types.SimpleNamespace(report=reported.append)
    monkeypatch.setitem(sys.modules, "ray", types.SimpleNamespace(tune=tune))
    monkeypatch.setitem(sys.modules, "ray.tune", tune)
    spec = SweepSpec(
        algos=("dqn",),
        seeds=1,
        fixed={"max_steps": 100, "network": "tiny", "grid_size": 3, "num_envs": 2,
               "buffer_size": 400, "warmup_steps": 40, "final_eval_episodes": 1,
               "torch_threads": 1},
    )  # fmt: skip
    (trial,) = expand_trials(spec, tmp_path)
    run_dir = Path(trial["run_dir"])
    RunDir.create(run_dir, trial["config"]).close()  # a trial stopped before its checkpoint
    holder = RunDir.open(run_dir, write=True)  # another worker on it
    with pytest.raises(UserError, match=f"being written by process {os.getpid()}"):
        _run_trial({"trial": trial})
    holder.close()
    _run_trial({"trial": trial})
    assert reported and reported[-1]["env_steps"] >= 100
