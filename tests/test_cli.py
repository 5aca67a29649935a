"""The `qarcade` command as a user meets it: help, version, and one-line errors."""

import subprocess
import sys

import pytest

from qarcade.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qarcade.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_help_lists_commands():
    result = run_cli("--help")
    assert result.returncode == 0
    assert "usage: qarcade" in result.stdout


def test_unknown_command_is_one_line_error():
    result = run_cli("no-such-command")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "invalid choice" in result.stderr
    assert "Traceback" not in result.stderr


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert "qarcade 0.1.0" in capsys.readouterr().out


def test_help_imports_no_heavy_library():
    """Every command's arguments are built for --help; none may pull torch, matplotlib or ray
    in at import (each costs seconds): a command imports them when it runs."""
    code = (
        "import sys; from qarcade.cli import build_parser; build_parser(); "
        "print(sorted({'torch', 'matplotlib', 'ray', 'scipy', 'ale_py'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_commands_are_listed_in_section_order():
    from qarcade.cli import _COMMANDS

    names = [name for name, *_ in _COMMANDS]
    assert names == [
        "mdp",
        "play",
        "train",
        "eval",
        "preprocess",
        "sweep",
        "explain",
        "plot",
        "grade",
    ]
    help_text = run_cli("--help").stdout
    assert sorted(names, key=help_text.index) == names


def test_counts_agree_with_their_nouns():
    from qarcade.cli.common import counted

    assert counted(1, "step") == "1 step" and counted(0, "step") == "0 steps"
    assert counted(1, "life", "lives") == "1 life" and counted(3, "life", "lives") == "3 lives"
    assert counted(12_000, "episode") == "12,000 episodes"
