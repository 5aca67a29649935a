"""`qarcade mdp` as a user meets it: the printed tables, the JSON, seeds, and bad flags."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from qarcade.cli import main
from qarcade.tabular import LR_POWER, Q_LEARNING_STEPS

FAST = ["--steps", "3000", "--episodes", "200"]


def run_mdp(capsys, *args: str) -> str:
    assert main(["mdp", *args]) == 0
    return capsys.readouterr().out


def test_json_is_one_object_with_the_promised_schema(capsys):
    out = run_mdp(capsys, "--json", "--gamma", "0.9", *FAST)
    report = json.loads(out)  # exactly one JSON document
    assert out.strip().count("\n") == 0
    assert report["gamma"] == 0.9
    assert set(report["policies"]) == {"random", "safe", "risky", "q_learning"}
    for summary in report["policies"].values():
        assert set(summary) == {"mean", "std", "min", "max"}
        assert summary["min"] <= summary["mean"] <= summary["max"]
    impossible = [(1, 1), (2, 0), (2, 2)]
    for part in ("q_learning", "q_value_iteration"):
        q = report[part]["q_values"]
        assert len(q) == 3 and all(len(row) == 3 for row in q)
        assert [(s, a) for s in range(3) for a in range(3) if q[s][a] is None] == impossible
        assert len(report[part]["policy"]) == 3
        assert all(isinstance(a, int) for a in report[part]["policy"])
    assert report["q_value_iteration"]["policy"] == [0, 0, 1]
    assert report["q_learning"]["env_steps"] == 3000
    # Q-learning's row evaluates its own greedy policy.
    named = {(0, 0, 1): "safe", (0, 2, 1): "risky"}.get(tuple(report["q_learning"]["policy"]))
    if named:
        assert report["exact_means"]["q_learning"] == report["exact_means"][named]


def test_q_value_iteration_policy_follows_gamma(capsys):
    out = run_mdp(capsys, "--json", "--gamma", "0.95", *FAST)
    report = json.loads(out)
    assert report["q_value_iteration"]["policy"] == [0, 2, 1]
    assert report["comparison"]["margin_q_star"][1] == pytest.approx(0.059, abs=0.001)


def test_text_output_shows_tables_policies_and_comparison(capsys):
    out = run_mdp(capsys, "--gamma", "0.95", *FAST)
    for text in ("P(s'=0)", "-50", "random", "safe", "risky", "q_learning", "exact mean"):
        assert text in out
    assert "Q-learning: 3,000 steps" in out
    assert "Q-value iteration" in out and "optimal policy [0, 2, 1]" in out
    assert "Q* margin" in out and "0.06" in out  # state 1's margin at 0.95
    assert "Traceback" not in out


def test_same_seed_same_output_and_another_seed_differs(capsys):
    first = run_mdp(capsys, "--seed", "5", *FAST)
    again = run_mdp(capsys, "--seed", "5", *FAST)
    other = run_mdp(capsys, "--seed", "6", *FAST)
    assert first == again
    assert first != other


def test_help_says_the_default_and_why(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["mdp", "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse rewraps
    assert f"{Q_LEARNING_STEPS:,} steps" in text
    assert f"n(s,a)^-{LR_POWER:g}" in text
    assert "20 steps" in text and "learn nothing" in text


@pytest.mark.parametrize(
    "flags",
    [
        ["--gamma", "1"],
        ["--gamma", "-0.1"],
        ["--gamma", "nan"],
        ["--gamma", "abc"],
        ["--steps", "0"],
        ["--episodes", "-3"],
        ["--lr-power", "0.3"],
        ["--seed", "x"],
        ["--seed", "-5"],
    ],
)
def test_bad_flags_are_one_line_errors(flags, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["mdp", *flags])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().count("\n") == 0
    assert flags[0] in captured.err


def test_bad_flag_from_the_shell_has_no_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "qarcade.cli", "mdp", "--gamma", "1.5"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "must be in [0, 1)" in result.stderr
    assert "Traceback" not in result.stderr


def test_readme_shows_what_qarcade_mdp_prints(capsys):
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    shown = readme.split("$ qarcade mdp\n", 1)[1].split("```", 1)[0]
    assert run_mdp(capsys) == shown
