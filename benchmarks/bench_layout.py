"""Channels-last against the default layout for each CNN's weights on this CPU, same run.

Times one gradient update (forward, backward, fused Adam) and one batch-1 acting forward of each
network in both memory layouts, interleaved, one torch thread (steadier on a shared machine).
``qarcade.dqn.networks.to_device`` puts a network in channels-last on the CPU where this says it
pays: the Nature CNN on 4 stacked frames.

    .venv/bin/python benchmarks/bench_layout.py            # ~30 s
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from qarcade.dqn.networks import build_q_network

# name: (network, frame shape, frame dtype, stacked frames, actions, batch)
CASES = {
    "nature, 4 x 84x84 grey (atari)": ("nature", (84, 84, 1), np.uint8, 4, 9, 32),
    "nature, 88x80 int8 (atari-lab)": ("nature", (88, 80, 1), np.int8, 1, 9, 32),
    "lab CNN, 84x84x3 (lab, fast)": ("lab", (84, 84, 3), np.uint8, 1, 4, 64),
    "cells, 84x84x3 (fastest)": ("cells", (84, 84, 3), np.uint8, 1, 4, 64),
}


def milliseconds(function, repeats: int) -> float:
    for _ in range(3):
        function()
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return 1000 * (time.perf_counter() - start) / repeats


def time_layouts(network, obs, rounds: int, repeats: int) -> dict[str, tuple[float, float]]:
    """layout -> (best ms per update, best ms per batch-1 forward) over interleaved rounds."""
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-4, fused=True)

    def update():
        loss = network(obs).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    @torch.no_grad()
    def act():
        network(obs[:1])

    layouts = {"default": torch.contiguous_format, "channels_last": torch.channels_last}
    times = {layout: ([], []) for layout in layouts}
    for _ in range(rounds):
        for layout, memory_format in layouts.items():
            network.to(memory_format=memory_format)
            times[layout][0].append(milliseconds(update, repeats))
            times[layout][1].append(milliseconds(act, 4 * repeats))
    return {layout: (min(updates), min(acts)) for layout, (updates, acts) in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--repeats", type=int, default=15, help="updates timed per round")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(
        f"{'network':32s} {'update ms':>20s} {'ratio':>6s} {'act ms (batch 1)':>20s} {'ratio':>6s}"
    )
    for label, (name, frame, dtype, stack, actions, batch) in CASES.items():
        network = build_q_network(name, True, frame, np.dtype(dtype), stack, actions)
        obs = torch.from_numpy(
            np.random.default_rng(0).integers(0, 100, (batch, stack, *frame), dtype)
        )
        times = time_layouts(network, obs, args.rounds, args.repeats)
        (base, act_base), (last, act_last) = times["default"], times["channels_last"]
        print(
            f"{label:32s} {base:8.1f} -> {last:8.1f} {base / last:5.2f}x "
            f"{act_base:8.2f} -> {act_last:8.2f} {act_base / act_last:5.2f}x"
        )


if __name__ == "__main__":
    main()
