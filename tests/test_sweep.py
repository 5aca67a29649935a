"""Sweeps: the trial list, the sweep file, the aggregate report, and a real tiny Ray Tune sweep
that is interrupted and resumed."""

import json
import os
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


def test_the_example_sweep_file_expands(tmp_path):
    example = Path(__file__).parents[1] / "examples" / "sweep_lr.toml"
    spec = SweepSpec(**load_spec_file(example))
    assert len(expand_trials(spec, tmp_path)) == 2 * 5 * 2 * 2
