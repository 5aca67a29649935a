"""qarcade.play: key splitting, the drawn screen, and the keyboard loop driven in-process
through a pseudo-terminal (keys written ahead, the episode compared with play_actions)."""

import io
import os

import numpy as np
import pytest

from qarcade.envs.gridworld import play_actions
from qarcade.errors import UserError
from qarcade.play import KEY_ACTIONS, draw_screen, play_gridworld_keys, split_keys

termios = pytest.importorskip("termios")


def test_split_keys_keeps_escape_sequences_whole():
    assert split_keys("\x1b[Cd\x1bOBq") == ["\x1b[C", "d", "\x1bOB", "q"]
    assert split_keys("wx\x1b") == ["w", "x", "\x1b"]  # a lone Esc is one key
    assert split_keys("") == []
    assert [KEY_ACTIONS[k] for k in split_keys("\x1b[A\x1b[B\x1b[D\x1b[C")] == [0, 1, 2, 3]
    assert {KEY_ACTIONS[k] for k in "wsadkjhl"} == {0, 1, 2, 3}


def test_screen_clears_then_draws_the_board_and_footer():
    info = {"hero": [0, 0], "goals": [[1, 0], [2, 0], [3, 0], [4, 0]], "fires": [[0, 1], [1, 1]]}
    screen = draw_screen(info, 5, "step 0/50")
    assert screen.startswith("\x1b[H\x1b[2J") and screen.endswith("\r\nstep 0/50\r\n")
    rows = screen.removeprefix("\x1b[H\x1b[2J").split("\r\n")[:-2]
    assert len(rows) == 7
    assert "\n" not in screen.replace("\r\n", "")  # cbreak mode: every line ends in CR LF
    assert rows[1].count("@") == 1 and rows[1].count("+") == 4 and rows[2].count("x") == 2


class Screen(io.StringIO):
    """What the game draws; at each flush (the terminal is in cbreak mode by then) the next of
    ``typed`` is typed on the ``keyboard`` side of the pseudo-terminal, so one screen a chunk."""

    def __init__(self, keyboard: int, typed: list[bytes]):
        super().__init__()
        self.keyboard, self.typed = keyboard, list(typed)

    def flush(self):
        if self.typed:
            os.write(self.keyboard, self.typed.pop(0))


@pytest.fixture
def terminal():
    """(keyboard fd, the terminal as a stdin file)."""
    keyboard, child = os.openpty()
    stdin = os.fdopen(child, "r")
    yield keyboard, stdin
    stdin.close()
    os.close(keyboard)


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_keys_play_the_episode_that_the_actions_play(terminal):
    keyboard, stdin = terminal
    settings = termios.tcgetattr(stdin.fileno())
    typed = [b"\x1b[C", b"d", b"?", b"\x1bOB", b"q\x1b[A"]  # right, right, ?, down, quit, up
    screen = Screen(keyboard, typed)
    episode = play_gridworld_keys(1, stdin=stdin, stdout=screen)
    expected = play_actions([3, 3, 1], seed=1)
    assert episode.actions_played == 3 and not episode.truncated
    np.testing.assert_array_equal(episode.rewards, expected.rewards)
    np.testing.assert_array_equal(episode.frames, expected.frames)
    assert termios.tcgetattr(stdin.fileno()) == settings  # cbreak mode undone
    screens = screen.getvalue().split("\x1b[H\x1b[2J")[1:]
    assert len(screens) == 5  # one a chunk typed; q ends the game without another
    footers = [s.split("\r\n")[-3:-1] for s in screens]  # (score line, key help)
    assert all(help == "arrows or WASD move, q quits" for _, help in footers)
    totals = np.concatenate([[0], np.cumsum(expected.rewards)])
    messages = [{1.0: "goal! +1", -1.0: "fire! -1"}.get(r, "") for r in expected.rewards]
    assert [score for score, _ in footers] == [
        "step 0/50   score +0   ",
        f"step 1/50   score {totals[1]:+g}   {messages[0]}",
        f"step 2/50   score {totals[2]:+g}   {messages[1]}",
        f"step 2/50   score {totals[2]:+g}   (unknown key '?')",
        f"step 3/50   score {totals[3]:+g}   {messages[2]}",
    ]


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_truncation_ends_the_game_and_says_so(terminal):
    keyboard, stdin = terminal
    screen = Screen(keyboard, [b"jk" * 26])  # 52 moves: the episode is cut after 50
    episode = play_gridworld_keys(3, size=4, partial=True, stdin=stdin, stdout=screen)
    expected = play_actions([1, 0] * 25, seed=3, size=4, partial=True)
    assert episode.actions_played == 50 and episode.truncated
    assert episode.total_reward == expected.total_reward
    np.testing.assert_array_equal(episode.frames, expected.frames)
    assert screen.getvalue().endswith("time's up after 50 steps\r\n")


class Interrupted(Screen):
    """A screen whose flush, once the keys are typed, is where Ctrl-C lands (SIGINT)."""

    def flush(self):
        if not self.typed:
            raise KeyboardInterrupt
        super().flush()


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_ctrl_c_ends_the_game_and_keeps_what_was_played(terminal):
    keyboard, stdin = terminal
    settings = termios.tcgetattr(stdin.fileno())
    episode = play_gridworld_keys(2, stdin=stdin, stdout=Interrupted(keyboard, [b"d", b"s"]))
    expected = play_actions([3, 1], seed=2)
    assert episode.actions_played == 2 and not episode.truncated
    np.testing.assert_array_equal(episode.frames, expected.frames)
    assert termios.tcgetattr(stdin.fileno()) == settings  # cbreak mode undone


def test_stdin_that_is_not_a_terminal_is_a_user_error():
    screen = io.StringIO()
    with pytest.raises(UserError, match="stdin is not a terminal"):
        play_gridworld_keys(0, stdin=io.StringIO(), stdout=screen)
    assert screen.getvalue() == ""
