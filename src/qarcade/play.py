"""Playing the gridworld by hand in a terminal: keys in, the ANSI-coloured board and score out.

``play_gridworld_keys`` resets a ``qarcade/GridWorld-v0`` env, puts the terminal in cbreak mode
(keys arrive one at a time and unechoed; Ctrl-C still interrupts), and then loops: draw the
board with the step count and score, read the waiting keys, step the env once per move key.
It stops on q (or a lone Esc) or when the episode is truncated, restores the terminal however
it stops, and returns the episode as a ``PlayedEpisode``, like ``play_actions`` does for a
fixed list of actions. Arrow keys arrive as three-character escape sequences (ESC [ A in normal
mode, ESC O A in application mode), which ``split_keys`` keeps whole.

The screen is a pure function of the env's ``info`` (``draw_screen``); only ``read_keys`` and
the loop touch the terminal. No torch here, and nothing specific to a learner.
"""

from __future__ import annotations

import os
import select
import sys
from typing import TextIO

import gymnasium as gym
import numpy as np

from qarcade.envs.gridworld import PlayedEpisode, ansi_board
from qarcade.errors import UserError

KEY_ACTIONS = {  # terminal input -> gridworld action (0 up, 1 down, 2 left, 3 right)
    "\x1b[A": 0, "\x1bOA": 0, "w": 0, "W": 0, "k": 0,
    "\x1b[B": 1, "\x1bOB": 1, "s": 1, "S": 1, "j": 1,
    "\x1b[D": 2, "\x1bOD": 2, "a": 2, "A": 2, "h": 2,
    "\x1b[C": 3, "\x1bOC": 3, "d": 3, "D": 3, "l": 3,
}  # fmt: skip
QUIT_KEYS = ("q", "Q", "\x1b")
REWARD_MESSAGES = {1.0: "goal! +1", -1.0: "fire! -1"}
ESCAPE_PREFIXES = ("\x1b[", "\x1bO")  # an arrow key: one of these and one more character


def split_keys(data: str) -> list[str]:
    """Terminal input -> key presses, an arrow's escape sequence as one key."""
    keys = []
    while data:
        size = 3 if data[:2] in ESCAPE_PREFIXES else 1
        keys.append(data[:size])
        data = data[size:]
    return keys


def read_keys(fd: int) -> list[str]:
    """The key presses waiting on a terminal in cbreak mode (blocks until there is one).

    An escape sequence split across reads is completed if the rest comes within 50 ms.
    """
    data = os.read(fd, 64).decode(errors="ignore")
    while data.endswith(("\x1b", *ESCAPE_PREFIXES)) and select.select([fd], [], [], 0.05)[0]:
        data += os.read(fd, 64).decode(errors="ignore")
    return split_keys(data)


def draw_screen(info: dict, size: int, footer: str) -> str:
    """Clear the terminal, then the board and ``footer`` (lines end in CR LF: cbreak mode)."""
    board = ansi_board(**info, size=size).replace("\n", "\r\n")
    return f"\x1b[H\x1b[2J{board}\r\n{footer}\r\n"


def play_gridworld_keys(
    seed: int | None,
    size: int = 5,
    partial: bool = False,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> PlayedEpisode:
    """Play one gridworld episode from the keyboard of the terminal on ``stdin`` (default
    ``sys.stdin``), drawing on ``stdout`` (default ``sys.stdout``); frames show the full board.

    A ``stdin`` that is not a terminal is a UserError, raised before anything is drawn.
    """
    import termios  # POSIX only: imported here so that importing this module works anywhere
    import tty

    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    if not stdin.isatty():
        raise UserError("stdin is not a terminal: play in one, or pass --actions 3,3,1")
    fd = stdin.fileno()
    env = gym.make("qarcade/GridWorld-v0", size=size, partial=partial, render_mode="rgb_array")
    max_steps = env.spec.max_episode_steps
    _, info = env.reset(seed=seed)
    frames, rewards, truncated, message = [env.render()], [], False, ""
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        done = False
        while not done:  # Ctrl-C ends the episode like q: what was played is kept
            score = f"step {len(rewards)}/{max_steps}   score {sum(rewards, 0.0):+g}   {message}"
            stdout.write(draw_screen(info, size, f"{score}\r\narrows or WASD move, q quits"))
            stdout.flush()
            for key in read_keys(fd):
                done = key in QUIT_KEYS
                if done:
                    break
                if key not in KEY_ACTIONS:
                    message = f"(unknown key {key!r})"
                    continue
                _, reward, terminated, truncated, info = env.step(KEY_ACTIONS[key])
                frames.append(env.render())
                rewards.append(reward)
                message = REWARD_MESSAGES.get(reward, "")
                done = terminated or truncated
                if done:
                    stdout.write(draw_screen(info, size, f"time's up after {len(rewards)} steps"))
                    break
    except KeyboardInterrupt:
        pass
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        env.close()
    return PlayedEpisode(np.stack(frames), np.asarray(rewards, float), len(rewards), truncated)
