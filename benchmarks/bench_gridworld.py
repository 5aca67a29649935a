"""Gridworld speed: random-action steps per second, as a ratio against the lab's way of doing it.

The baseline is written here the way the lab's original gridworld works: a list of objects
that the step loops over, a respawn that lists every free position, and an image rebuilt each
step and resized channel by channel with an image library (PIL, nearest neighbour). It plays the
same game. Every figure is measured in the same run, pinned to one CPU core, in steps per CPU
second of that core (so ratios are per core, and time descheduled while other processes run
does not count); the baseline is re-timed next to every contender and the ratios are medians.
``obs_type=grid`` rows return the small bordered grid instead of the 84x84x3 frame (a replay
renders the sampled batch with ``upscale``); they do less work per step than the baseline, so
read them as what a training loop that keeps grids gains, not as the same output. ``copy=False``
rows return the same frames, but in one buffer the env keeps and repaints cell by cell (only
cells that changed), as Gymnasium's ``SyncVectorEnv(copy=False)`` may reuse its array.
``bound`` rows time a part alone: writing fresh frames, copying kept ones, or the vector env
with its frames only filled (the game plus a fresh-frame write at memset speed, no drawing).
``--profile`` prints where a 64-copy step goes in CPU microseconds, against the 100x budget
(64 baseline steps / 100). Usage:

    .venv/bin/python benchmarks/bench_gridworld.py            # about 50 s of CPU
    .venv/bin/python benchmarks/bench_gridworld.py --rounds 9 --json
    .venv/bin/python benchmarks/bench_gridworld.py --profile  # about 15 s
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import time

import gymnasium as gym
import numpy as np
from PIL import Image

import qarcade  # noqa: F401 - registers the environments

VECTOR_COPIES = (1, 16, 64, 256)


# --- the baseline: the lab's way ---
class LabObject:
    def __init__(self, x, y, intensity, channel, reward, name):
        self.x, self.y = x, y
        self.intensity, self.channel, self.reward, self.name = intensity, channel, reward, name


class LabGridWorld:
    """The lab's gridworld as it was written: object list, PIL resize per channel per step."""

    def __init__(self, size=5, partial=False, seed=0):
        self.size, self.partial = size, partial
        self.random = random.Random(seed)
        self.reset()

    def free_position(self):
        taken = [(obj.x, obj.y) for obj in self.objects]
        cells = [cell for cell in itertools.product(range(self.size), repeat=2)]
        free = [cell for cell in cells if cell not in taken]
        return free[self.random.randrange(len(free))]

    def reset(self):
        self.objects = []
        self.objects.append(LabObject(*self.free_position(), 1, 2, None, "hero"))
        for _ in range(4):
            self.objects.append(LabObject(*self.free_position(), 1, 1, 1, "goal"))
        for _ in range(2):
            self.objects.append(LabObject(*self.free_position(), 1, 0, -1, "fire"))
        self.steps = 0
        return self.render()

    def move(self, action):
        hero = self.objects[0]
        if action == 0 and hero.y >= 1:
            hero.y -= 1
        if action == 1 and hero.y <= self.size - 2:
            hero.y += 1
        if action == 2 and hero.x >= 1:
            hero.x -= 1
        if action == 3 and hero.x <= self.size - 2:
            hero.x += 1

    def check_goal(self):
        hero = self.objects[0]
        for obj in self.objects[1:]:
            if obj.x == hero.x and obj.y == hero.y:
                self.objects.remove(obj)
                x, y = self.free_position()
                self.objects.append(LabObject(x, y, 1, obj.channel, obj.reward, obj.name))
                return obj.reward
        return 0.0

    def render(self):
        grid = np.ones([self.size + 2, self.size + 2, 3])
        grid[1:-1, 1:-1, :] = 0
        for obj in self.objects:
            grid[obj.y + 1, obj.x + 1, obj.channel] = obj.intensity
        if self.partial:
            hero = self.objects[0]
            grid = grid[hero.y : hero.y + 3, hero.x : hero.x + 3, :]
        channels = [
            np.asarray(
                Image.fromarray((grid[:, :, c] * 255).astype(np.uint8)).resize(
                    (84, 84), Image.NEAREST
                )
            )
            for c in range(3)
        ]
        return np.stack(channels, axis=2)

    def step(self, action):
        self.move(action)
        reward = self.check_goal()
        self.steps += 1
        return self.render(), reward, False, self.steps >= 50


# --- timing ---
def rate(step, seconds):
    """Call ``step()`` (which returns how many env steps it took) for ``seconds`` of this
    process's CPU time: steps per CPU second. Pinned to one core, that is steps per second of
    the core; time spent descheduled while other processes run does not count, so a loaded
    machine moves the figures less than a wall clock would."""
    steps, start = 0, time.process_time()
    while (elapsed := time.process_time() - start) < seconds:
        for _ in range(10):
            steps += step()
    return steps / elapsed


def baseline_stepper(partial):
    env = LabGridWorld(partial=partial, seed=0)
    actions = np.random.default_rng(0).integers(0, 4, 1 << 16).tolist()
    counter = itertools.count()

    def step():
        _, _, _, truncated = env.step(actions[next(counter) & 0xFFFF])
        if truncated:
            env.reset()
        return 1

    return step


def single_stepper(partial):
    env = gym.make("qarcade/GridWorld-v0", partial=partial)
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 4, 1 << 16).tolist()
    counter = itertools.count()

    def step():
        _, _, terminated, truncated, _ = env.step(actions[next(counter) & 0xFFFF])
        if terminated or truncated:
            env.reset()
        return 1

    return step


def vector_stepper(partial, copies, obs_type="pixels", copy=True):
    env = gym.make_vec(
        "qarcade/GridWorld-v0", num_envs=copies, partial=partial, obs_type=obs_type, copy=copy
    )
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 4, (256, copies))
    counter = itertools.count()

    def step():
        env.step(actions[next(counter) & 0xFF])
        return copies

    return step


def frame_write_stepper(copies):
    """No game at all: only produce ``copies`` fresh 84x84x3 frames from ready rows, the way
    the env's last rendering step does. Its rate bounds any env that returns fresh frames."""
    rows = np.zeros((copies, 7, 84 * 3), np.uint8)

    def step():
        np.repeat(rows, 12, axis=1)
        return copies

    return step


def frame_copy_stepper(copies):
    """No game either: only copy a kept buffer of ``copies`` 84x84x3 frames into a fresh array,
    what ``copy=True`` would cost on top of a kept buffer (it reads 21 KB a frame as well)."""
    frames = np.random.default_rng(0).integers(0, 256, (copies, 84, 84, 3), np.uint8)

    def step():
        frames.copy()
        return copies

    return step


def filled_frames_stepper(copies):
    """The vector env with its fresh frames only filled, not drawn: the game, the info and the
    bookkeeping, plus writing 1.35 MB of fresh frames at memset speed. Its rate bounds any
    default (copy=True) step of this core that returns fresh pixel frames."""
    env = gym.make_vec("qarcade/GridWorld-v0", num_envs=copies)
    env.reset(seed=0)

    def filled(partial=None):
        frames = np.empty((copies, 84, 84, 3), np.uint8)
        frames.fill(0)
        return frames

    env.unwrapped.core.frames = filled
    actions = np.random.default_rng(0).integers(0, 4, (256, copies))
    counter = itertools.count()

    def step():
        env.step(actions[next(counter) & 0xFF])
        return copies

    return step


# --- where a step goes ---
def cpu_seconds_per_call(call, calls, rounds):
    """The fewest CPU seconds per ``call()`` over ``rounds`` runs of ``calls`` calls."""
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(calls):
            call()
        best = min(best, (time.process_time() - start) / calls)
    return best


def profile(copies, rounds):
    """CPU microseconds of the parts of a ``copies``-copy step, each timed alone in the loop it
    runs in (the frames by difference: the env step minus the step with frames not drawn)."""
    actions = np.random.default_rng(0).integers(0, 4, (256, copies))
    counter = itertools.count()

    def env_step(**kwargs):
        env = gym.make_vec("qarcade/GridWorld-v0", num_envs=copies, **kwargs)
        env.reset(seed=0)
        return env, lambda: env.step(actions[next(counter) & 0xFF])

    default, default_step = env_step()
    _, kept_step = env_step(copy=False)
    game, game_step = env_step()
    core = game.unwrapped.core
    drawn = core.frames()
    core.frames = lambda partial=None: drawn  # the same frames every step: none drawn
    refill, refill_seconds = core._refill, [0.0]

    def timed_refill():
        start = time.process_time()
        refill()
        refill_seconds[0] += time.process_time() - start

    core._refill = timed_refill
    calls, us = 2000, 1e6
    baseline = cpu_seconds_per_call(baseline_stepper(False), calls, rounds)
    parts = {}
    for name, step in (
        ("vector env step, copy=True (default)", default_step),
        ("vector env step, copy=False", kept_step),
        ("vector env step, frames not drawn", game_step),
    ):
        parts[name] = cpu_seconds_per_call(step, calls, rounds)
    refills_per_step = refill_seconds[0] / (rounds * calls)  # all in the not-drawn loop
    parts["  rules (GridCore.step)"] = cpu_seconds_per_call(
        lambda: core.step(actions[next(counter) & 0xFF]), calls, rounds
    )
    parts["  of which uniform refills, amortised"] = refills_per_step
    parts["  info dict (GridCore.infos)"] = cpu_seconds_per_call(core.infos, calls, rounds)
    check = default.unwrapped._check_actions
    parts["  action check"] = cpu_seconds_per_call(lambda: check(actions[0]), calls, rounds)
    game_only = parts["vector env step, frames not drawn"]
    parts["  autoreset, truncation, Python calls (rest)"] = (
        game_only
        - sum(parts[name] for name in ("  rules (GridCore.step)", "  info dict (GridCore.infos)"))
        - parts["  action check"]
    )
    parts["  fresh frames (default minus not drawn)"] = (
        parts["vector env step, copy=True (default)"] - game_only
    )
    parts["  kept frames (copy=False minus not drawn)"] = (
        parts["vector env step, copy=False"] - game_only
    )
    parts["GridCore.frames() alone, not in a step loop"] = cpu_seconds_per_call(
        default.unwrapped.core.frames, calls, rounds
    )
    parts["np.repeat writing 64 frames alone"] = cpu_seconds_per_call(
        frame_write_stepper(copies), calls, rounds
    )
    parts["np.empty + fill of 64 frames alone (memset)"] = cpu_seconds_per_call(
        lambda: np.empty((copies, 84, 84, 3), np.uint8).fill(0), calls, rounds
    )
    budget = baseline * copies / 100
    print(f"where a {copies}-copy step goes: CPU us, min of {rounds} runs of {calls} calls")
    print(f"lab baseline {baseline * us:.1f} us a step; 100x budget for {copies} copies:")
    print(f"{copies} baseline steps / 100 = {budget * us:.1f} us")
    for name, seconds in parts.items():
        print(f"{name:46} {seconds * us:8.1f} us {seconds / budget:6.0%} of budget")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.4, help="time per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; each remeasures all")
    parser.add_argument("--partial", action="store_true", help="the 3x3 partial view")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--profile", action="store_true", help="where a 64-copy step goes")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core: ratios per core
    if args.profile:
        profile(64, args.rounds)
        return

    steppers = {
        "lab baseline (object list + PIL resize per channel)": baseline_stepper(args.partial)
    }
    steppers["GridWorldEnv via gymnasium.make"] = single_stepper(args.partial)
    for copies in VECTOR_COPIES:
        steppers[f"vector env, {copies} copies"] = vector_stepper(args.partial, copies)
    for copies in VECTOR_COPIES[1:]:
        steppers[f"vector env, {copies} copies, copy=False"] = vector_stepper(
            args.partial, copies, copy=False
        )
    steppers["bound: only writing 64 fresh frames per step"] = frame_write_stepper(64)
    steppers["bound: only copying 64 kept frames per step"] = frame_copy_stepper(64)
    steppers["bound: vector env, 64 copies, frames filled"] = filled_frames_stepper(64)
    for copies in VECTOR_COPIES[1:]:
        steppers[f"vector env, {copies} copies, obs_type=grid"] = vector_stepper(
            args.partial, copies, "grid"
        )
    # Each round times the baseline right before each contender; a figure is the median over
    # rounds of (contender / its baseline), so load from other processes cancels out.
    rates = {name: [] for name in steppers}
    ratios = {name: [] for name in steppers}
    baseline_name = next(iter(steppers))
    for _ in range(args.rounds):
        for name, step in steppers.items():
            base = rate(steppers[baseline_name], args.seconds / 2)
            rates[name].append(rate(step, args.seconds))
            ratios[name].append(rates[name][-1] / base)
    rows = [
        {
            "what": name,
            "steps_per_cpu_s": float(np.median(rates[name])),
            "ratio": float(np.median(ratios[name])),
        }
        for name in steppers
    ]
    if args.json:
        print(json.dumps({"partial": args.partial, "rounds": args.rounds, "rows": rows}))
        return
    view = "partial 3x3 view" if args.partial else "full view"
    print(f"gridworld 5x5, {view}, random actions, one core, median of {args.rounds} rounds")
    print(f"{'':52} {'steps/CPU s':>11} {'x baseline':>11}")
    for row in rows:
        print(f"{row['what']:52} {row['steps_per_cpu_s']:11,.0f} {row['ratio']:10.1f}x")


if __name__ == "__main__":
    main()
