"""Looking at an Atari game: the preprocessing figure (a screen beside what each preset makes of
it) and playing by hand, from a list of actions, at random, or by keyboard.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np

from qarcade.envs.atari import make_atari_env
from qarcade.envs.atari_preprocessing import get_game, get_preset, lab_preprocess
from qarcade.errors import UserError

# --- the preprocessing figure ---


def preprocessing_views(name: str = "mspacman", steps: int = 40, seed: int = 0) -> dict:
    """One game state ``steps`` agent steps in: the RGB screen and what each preset makes of it.

    Returns {'original': (210, 160, 3) uint8, 'lab': (88, 80, 1) int8, 'standard': (84, 84)
    uint8, the newest frame of the stack}. The lab frame is ``lab_preprocess`` of the screen
    shown (Ms. Pac-Man only: the lab's preprocessing erases her colour; None for another
    game); the standard one is the max of the last two frames of the same agent step.
    """
    game = get_game(name)
    env = make_atari_env(name, "standard", seed=seed, for_training=False, render_mode="rgb_array")
    rng = np.random.default_rng(seed)
    observation, _ = env.reset(seed=seed)
    for _ in range(steps):
        observation, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
        if terminated or truncated:
            observation, _ = env.reset()
    screen = env.render()  # (210, 160, 3) uint8
    env.close()
    return {
        "original": screen,
        "lab": None
        if game.player_colour_sum is None
        else lab_preprocess(screen, game.player_colour_sum),
        "standard": np.asarray(observation)[-1],
    }


FIGURE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg")


def draw_preprocessing_figure(out: str | Path, name: str = "mspacman", steps: int = 40, seed=0):
    """Writes the lab's figure: the original frame beside the lab's and the standard frames."""
    from qarcade.media import pyplot, save_figure
    from qarcade.outfiles import check_output

    plt = pyplot()
    out = check_output(out, "figure", suffixes=FIGURE_SUFFIXES)
    views = preprocessing_views(name, steps, seed)
    panels = [(views["original"], "original: 210x160 RGB", {})]
    if views["lab"] is not None:  # Ms. Pac-Man's only
        style = {"cmap": "gray", "vmin": -128, "vmax": 127}
        panels.append((views["lab"][..., 0], "lab: 88x80x1 int8", style))
    style = {"cmap": "gray", "vmin": 0}
    panels.append((views["standard"], "standard: 84x84 grey (newest of 4)", style))
    figure, axes = plt.subplots(1, len(panels), figsize=(3.7 * len(panels), 4.6))
    for axis, (image, title, style) in zip(axes, panels, strict=True):
        axis.imshow(image, interpolation="nearest", **style)
        axis.set_title(title)
        axis.axis("off")
    figure.suptitle(f"{get_game(name).env_id}, {steps} steps in (seed {seed})")
    figure.tight_layout()
    save_figure(figure, out, dpi=100)
    plt.close(figure)
    return out


# --- playing by hand ---


@dataclass
class PlayResult:
    """What a played game came to."""

    score: float  # raw game score
    steps: int  # agent steps taken
    lives: int  # lives left
    game_over: bool
    frames: list[np.ndarray]  # (210, 160, 3) uint8 screens, the first after reset; [] unrecorded
    interrupted: bool = False  # Ctrl-C ended it: what was played until then is kept


def parse_actions(text: str, name: str = "mspacman") -> list[int]:
    """'0,3,3,1' -> [0, 3, 3, 1], each checked against the game's actions."""
    try:
        actions = [int(part) for part in text.split(",")]
    except ValueError:
        raise UserError(f"actions must be comma-separated integers, got {text!r}") from None
    check_actions(actions, name)
    return actions


def check_actions(actions: list[int], name: str = "mspacman") -> None:
    """A one-line error for an action the game does not have, naming the ones it does."""
    n_actions = len(_action_meanings(name))
    for action in actions:
        if not 0 <= action < n_actions:
            meanings = ", ".join(f"{i} {m}" for i, m in enumerate(_action_meanings(name)))
            raise UserError(f"action {action} is not one of the game's actions: {meanings}")


@functools.cache
def _action_meanings(name: str) -> tuple[str, ...]:
    env = gym.make(get_game(name).env_id, disable_env_checker=True)
    meanings = tuple(env.unwrapped.get_action_meanings())
    env.close()
    return meanings


def play_actions(
    name: str = "mspacman",
    actions: list[int] | None = None,
    random_steps: int | None = None,
    seed: int = 0,
    record: bool = False,
    preprocessing: str = "standard",
) -> PlayResult:
    """Plays ``actions`` (or ``random_steps`` uniform random actions) on the preset's raw game.

    The game is the preset's emulator settings without preprocessing (the standard preset's
    skip of 4 is done by ALE here). It stops early when the game is over.
    """
    if (actions is None) == (random_steps is None):
        raise UserError("give either a list of actions or a number of random steps")
    game = get_game(name)
    preset = get_preset(preprocessing)
    if actions is not None:
        check_actions(actions, name)
    env = gym.make(
        game.env_id,
        frameskip=preset.frameskip,
        repeat_action_probability=preset.repeat_action_probability,
        max_num_frames_per_episode=preset.max_frames_per_episode,
        render_mode="rgb_array" if record else None,
        disable_env_checker=True,
    )
    env.action_space.seed(seed)
    _, info = env.reset(seed=seed)
    frames = [env.render()] if record else []
    planned = actions if actions is not None else None
    n_steps = len(planned) if planned is not None else random_steps
    score, steps, game_over, interrupted = 0.0, 0, False, False
    try:
        for t in range(n_steps):
            action = planned[t] if planned is not None else int(env.action_space.sample())
            _, reward, terminated, truncated, info = env.step(action)
            score += float(reward)
            steps += 1
            if record:
                frames.append(env.render())
            if terminated or truncated:
                game_over = bool(terminated)
                break
    except KeyboardInterrupt:  # a long --random game cut short: keep it (and its video)
        interrupted = True
    finally:
        env.close()
    return PlayResult(score, steps, int(info["lives"]), game_over, frames, interrupted)


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def play_keyboard(
    name: str = "mspacman", seed: int | None = None, record: bool = False, zoom: float = 3.0
) -> PlayResult:
    """Plays the game by keyboard (W A S D, two at once for diagonals) in a window (Gymnasium's
    play utility); returns the last game played."""
    game = get_game(name)
    if not has_display():
        raise UserError(
            "keyboard play needs a display and none was found (DISPLAY is not set); "
            "use --actions or --random, with --video to watch"
        )
    try:
        import pygame  # noqa: F401
    except ImportError as error:
        raise UserError("keyboard play needs pygame: pip install 'qarcade[atari]'") from error
    from gymnasium.utils.play import play

    frames: list[np.ndarray] = []
    totals = {"score": 0.0, "steps": 0, "lives": 3, "game_over": False}

    def on_step(_, screen, action, reward, terminated, truncated, info):
        if totals["game_over"]:  # play() started a new game: keep the last one only
            frames.clear()
            totals.update(score=0.0, steps=0, game_over=False)
        if record:
            frames.append(screen)
        totals["score"] += float(reward)
        totals["steps"] += 1
        totals["lives"] = int(info.get("lives", totals["lives"]))
        totals["game_over"] = bool(terminated)

    env = gym.make(game.env_id, render_mode="rgb_array", disable_env_checker=True)
    interrupted = False
    try:
        play(env, zoom=zoom, fps=15, seed=seed, noop=0, callback=on_step)
    except KeyboardInterrupt:  # Ctrl-C in the terminal ends the game, as closing the window does
        interrupted = True
    return PlayResult(frames=frames, interrupted=interrupted, **totals)
