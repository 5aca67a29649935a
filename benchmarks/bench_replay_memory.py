"""Replay memory for Atari: bytes per stored transition, qarcade's replay against the naive layout.

qarcade's ``ReplayBuffer`` (Lin 1992; stacks rebuilt by index as in Dopamine) stores each 84x84
frame once plus the per-step action, reward and three flags; a stack of 4 and the next
observation are rebuilt by index. The baseline, measured in the same run, is the naive layout of
many DQN implementations (Stable-Baselines3's default ``ReplayBuffer``, for one): each
transition keeps its stacked observation and its stacked next observation, 2 x 4 x 84 x 84 bytes,
plus action, reward and done. A third row is the "obs only" layout (SB3's
``optimize_memory_usage=True``): one stacked observation per transition, 4 frames.

Two measurements:

1. At 1M transitions (the ``atari`` preset), bytes per transition from qarcade's buffer's
   actual arrays (``nbytes`` of every array it holds), and from the shapes and dtypes of the
   naive layout's arrays (26 GiB: more than this machine lets one process reserve).
   ``np.zeros`` only reserves the address space, so building a 1M replay commits no memory; the
   resident size after building it is printed to show that the loop's memory estimate comes
   before any memory is used.
2. At ``--capacity`` (default 10,000), both layouts really allocated and filled: the growth of
   this process's resident memory (``/proc/self/statm``) per transition.

Usage:

    .venv/bin/python benchmarks/bench_replay_memory.py            # ~10 s, ~0.7 GB at peak
    .venv/bin/python benchmarks/bench_replay_memory.py --capacity 50000 --json
"""

from __future__ import annotations

import argparse
import gc
import json
import os

import numpy as np

from qarcade.dqn.replay import ReplayBuffer

FRAME = (84, 84, 1)  # one standard-preprocessed frame, as the DQN loop stores it
STACK = 4
NUM_ENVS = 8  # the atari preset's
FRAME_BYTES = int(np.prod(FRAME))


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def naive_layout(capacity: int, stacks: int = 2) -> dict[str, tuple[tuple[int, ...], type]]:
    """Arrays of the naive layout: obs and next_obs stacked per transition (``stacks`` = 2), or
    the stacked obs only (``stacks`` = 1), plus action, reward, done."""
    stacked = (STACK, *FRAME[:2])  # (4, 84, 84)
    layout = {"obs": ((capacity, *stacked), np.uint8)}
    if stacks == 2:
        layout["next_obs"] = ((capacity, *stacked), np.uint8)
    layout.update(
        actions=((capacity,), np.int64),
        rewards=((capacity,), np.float32),
        dones=((capacity,), bool),
    )
    return layout


def layout_nbytes(layout: dict) -> int:
    """What the layout's arrays hold (computed: a 26 GiB naive replay cannot even be reserved
    on a machine with less memory)."""
    return sum(int(np.prod(shape)) * np.dtype(dtype).itemsize for shape, dtype in layout.values())


class NaiveReplay:
    """The naive layout, allocated."""

    def __init__(self, capacity: int, stacks: int = 2):
        self.arrays = [
            np.zeros(shape, dtype) for shape, dtype in naive_layout(capacity, stacks).values()
        ]

    def fill(self) -> None:
        for array in self.arrays:
            array.fill(1)  # touch every page


def qarcade_replay(capacity: int) -> ReplayBuffer:
    return ReplayBuffer(capacity, NUM_ENVS, FRAME, np.uint8, frame_stack=STACK, n_step=3)


def fill_qarcade(replay: ReplayBuffer) -> None:
    for array in (replay.frames, replay.actions, replay.rewards, replay.terminated):
        array.fill(1)
    replay.truncated.fill(False)
    replay.life_lost.fill(False)


def measured_growth(build, fill) -> tuple[int, int]:
    """(resident bytes added by building, by building and filling) one buffer."""
    gc.collect()
    before = resident_bytes()
    buffer = build()
    built = resident_bytes() - before
    fill(buffer)
    filled = resident_bytes() - before
    del buffer
    gc.collect()
    return built, filled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--capacity", type=int, default=10_000, help="transitions really filled")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    # 1. at 1M transitions, from the arrays themselves (address space only, nothing touched)
    million = 1_000_000
    before = resident_bytes()
    ours = qarcade_replay(million)
    committed_by_building = resident_bytes() - before
    ours_1m = ours.nbytes / million
    description = ours.describe()
    del ours
    naive_1m = layout_nbytes(naive_layout(million, stacks=2)) / million
    obs_only_1m = layout_nbytes(naive_layout(million, stacks=1)) / million

    # 2. at --capacity, allocated and filled
    capacity = args.capacity
    ours_built, ours_filled = measured_growth(lambda: qarcade_replay(capacity), fill_qarcade)
    naive_built, naive_filled = measured_growth(lambda: NaiveReplay(capacity), NaiveReplay.fill)

    result = {
        "frame_bytes": FRAME_BYTES,
        "at_1M": {
            "qarcade_bytes_per_transition": round(ours_1m, 1),
            "qarcade_frames_per_transition": round(ours_1m / FRAME_BYTES, 4),
            "naive_bytes_per_transition": round(naive_1m, 1),
            "obs_only_bytes_per_transition": round(obs_only_1m, 1),
            "naive_over_qarcade": round(naive_1m / ours_1m, 2),
            "obs_only_over_qarcade": round(obs_only_1m / ours_1m, 2),
            "qarcade_total_gib": round(ours_1m * million / 2**30, 2),
            "naive_total_gib": round(naive_1m * million / 2**30, 2),
            "resident_mib_after_building_qarcade_1M": round(committed_by_building / 2**20, 1),
            "describe": description,
        },
        "measured": {
            "capacity": capacity,
            "qarcade_resident_bytes_per_transition": round(ours_filled / capacity, 1),
            "naive_resident_bytes_per_transition": round(naive_filled / capacity, 1),
            "naive_over_qarcade": round(naive_filled / ours_filled, 2),
            "qarcade_resident_mib_before_filling": round(ours_built / 2**20, 1),
            "naive_resident_mib_before_filling": round(naive_built / 2**20, 1),
        },
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    a, m = result["at_1M"], result["measured"]
    print(f"one 84x84 frame = {FRAME_BYTES:,} bytes; stack of {STACK}, {NUM_ENVS} envs")
    print("at 1M transitions (from the arrays):")
    print(
        f"  qarcade   {a['qarcade_bytes_per_transition']:>9,.1f} B/transition "
        f"({a['qarcade_frames_per_transition']:.4f} frames), {a['qarcade_total_gib']:.2f} GiB"
    )
    print(
        f"  naive     {a['naive_bytes_per_transition']:>9,.1f} B/transition, "
        f"{a['naive_total_gib']:.2f} GiB: {a['naive_over_qarcade']:.2f}x qarcade"
    )
    print(
        f"  obs only  {a['obs_only_bytes_per_transition']:>9,.1f} B/transition: "
        f"{a['obs_only_over_qarcade']:.2f}x qarcade"
    )
    print(
        f"  building the 1M replay committed {a['resident_mib_after_building_qarcade_1M']:.1f} MiB "
        f"(lazy): the loop prints '{a['describe']}' before any of it is used"
    )
    print(f"at {capacity:,} transitions, allocated and filled (resident memory growth):")
    print(f"  qarcade   {m['qarcade_resident_bytes_per_transition']:>9,.1f} B/transition")
    print(
        f"  naive     {m['naive_resident_bytes_per_transition']:>9,.1f} B/transition: "
        f"{m['naive_over_qarcade']:.2f}x qarcade"
    )


if __name__ == "__main__":
    main()
