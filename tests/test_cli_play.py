"""`qarcade play gridworld` as a user runs it: fixed actions, videos read back, one-line errors,
and the interactive mode driven through a pseudo-terminal."""

import io
import json
import os
import select
import subprocess
import sys
import time

import imageio.v2 as imageio
import imageio.v3 as iio
import numpy as np
import pytest

from qarcade.cli import main
from qarcade.envs.gridworld import play_actions


def play(capsys, monkeypatch, *args: str) -> tuple[int, str, str]:
    """Run `qarcade play gridworld ARGS` in this process (stdin: not a terminal)."""
    monkeypatch.setattr(sys, "stdin", io.StringIO())
    code = main(["play", "gridworld", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_actions_print_the_total_reward_of_the_library_episode(capsys, monkeypatch):
    actions = "3,3,1,0,2,2,1,1,3,3,0,0"
    code, out, err = play(capsys, monkeypatch, "--actions", actions, "--seed", "4")
    assert code == 0, err
    episode = play_actions([int(a) for a in actions.split(",")], seed=4)
    assert f"total reward {episode.total_reward:+g}" in out
    assert "seed 4: 12 steps" in out


def test_json_output_and_options(capsys, monkeypatch):
    code, out, err = play(
        capsys, monkeypatch, "--actions", "0,0,2", "--seed", "2", "--size", "7", "--partial",
        "--json",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    episode = play_actions([0, 0, 2], seed=2, size=7, partial=True)
    assert report["rewards"] == episode.rewards.tolist()
    assert report["total_reward"] == episode.total_reward
    assert (report["seed"], report["size"], report["partial"]) == (2, 7, True)


def test_without_a_seed_the_printed_seed_replays_the_episode(capsys, monkeypatch):
    actions = ",".join(["1", "1", "3", "3", "0", "2"] * 4)
    first = json.loads(play(capsys, monkeypatch, "--actions", actions, "--json")[1])
    second = json.loads(play(capsys, monkeypatch, "--actions", actions, "--json")[1])
    assert first["seed"] != second["seed"]
    replay = play(capsys, monkeypatch, "--actions", actions, "--json", "--seed", str(first["seed"]))
    assert json.loads(replay[1])["rewards"] == first["rewards"]


def without_repeats(frames):
    """Consecutive identical frames collapse to one (a GIF stores them that way)."""
    keep = [0] + [t for t in range(1, len(frames)) if (frames[t] != frames[t - 1]).any()]
    return frames[keep]


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_video_has_one_frame_per_step_plus_the_start(capsys, monkeypatch, tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    actions = [3, 3, 1, 0, 2, 1, 1, 3, 0, 0, 0, 0]  # the last ups bump into the wall
    text = ",".join(map(str, actions))
    code, out, err = play(
        capsys, monkeypatch, "--actions", text, "--seed", "5", "--video", str(path)
    )
    assert code == 0, err
    assert f"({len(actions) + 1} frames at 4 fps)" in out
    expected = play_actions(actions, seed=5).frames.repeat(4, axis=1).repeat(4, axis=2)
    if suffix == ".mp4":
        reader = imageio.get_reader(path)
        frames = np.stack([frame for frame in reader.iter_data()])
        assert reader.get_meta_data()["fps"] == 4.0
        reader.close()
        assert frames.shape == (len(actions) + 1, 336, 336, 3)
        assert np.abs(frames.astype(int) - expected).mean() < 8  # lossy: close on average
    else:
        frames = iio.imread(path, index=None)
        durations = [iio.immeta(path, index=t)["duration"] for t in range(len(frames))]
        assert sum(durations) == 250 * (len(actions) + 1)  # every frame held 1/4 s
        np.testing.assert_array_equal(frames, without_repeats(expected))
        assert len(frames) < len(actions) + 1  # the wall bumps did repeat a frame


def test_truncation_stops_the_list_and_says_so(capsys, monkeypatch):
    code, out, _ = play(capsys, monkeypatch, "--actions", ",".join(["1"] * 55), "--seed", "0")
    assert code == 0
    assert "50 steps" in out and "not played" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--actions", "1", "--video", "out.avi"], ".mp4 or .gif"),
        (["--actions", "1,4"], "0 up, 1 down"),
        (["--actions", "1,x"], "comma-separated"),
        (["--actions", "1", "--size", "2"], "between 3 and 20"),
        ([], "stdin is not a terminal"),
    ],
)
def test_mistakes_are_one_line_errors(capsys, monkeypatch, tmp_path, args, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = play(capsys, monkeypatch, *args)
    assert code == 2
    assert message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_errors_from_the_installed_command_are_one_line():
    result = subprocess.run(
        [sys.executable, "-m", "qarcade.cli", "play", "gridworld"],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "qarcade play: error: stdin is not a terminal: play in one, or pass --actions 3,3,1\n"
    )


def test_a_game_play_cannot_play_is_a_one_line_error(capsys):
    assert main(["play", "CartPole-v1"]) == 2
    err = capsys.readouterr().err
    assert "play takes gridworld or an Atari game" in err and err.count("\n") == 1


def read_until(fd: int, needle: bytes, timeout_s: float = 30.0) -> bytes:
    out, deadline = b"", time.monotonic() + timeout_s
    while needle not in out and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.1)[0]:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    return out


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_interactive_play_through_a_terminal(tmp_path):
    video = tmp_path / "keys.gif"
    main, child = os.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "qarcade.cli", "play", "gridworld", "--seed", "1",
         "--video", str(video)],
        stdin=child, stdout=child, stderr=child, close_fds=True,
    )  # fmt: skip
    os.close(child)
    try:
        screen = read_until(main, b"q quits")
        assert b"\x1b[44;97m@" in screen  # the hero, drawn in blue
        for key in (b"\x1b[C", b"d", b"\x1bOB"):  # right (arrow), right (WASD), down (arrow)
            os.write(main, key)
            screen = read_until(main, b"q quits")
        assert b"step 3/50" in screen
        os.write(main, b"q")
        screen = read_until(main, b"video:")
        process.wait(timeout=30)
    finally:
        process.kill()
        os.close(main)
    assert process.returncode == 0
    episode = play_actions([3, 3, 1], seed=1)
    assert f"3 steps, total reward {episode.total_reward:+g}".encode() in screen
    assert iio.imread(video, index=None).shape[0] == 4
