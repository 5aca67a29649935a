"""The lab's conv torso in plain torch, shared by the baselines (SB3, Tianshou) of the
same-work benchmarks: they run the lab's network, not qarcade's."""

from __future__ import annotations


def lab_torso(channels: int):
    """The lab's conv torso in plain torch, for the other libraries: (B, C, 84, 84) -> (B, 512)."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(channels, 32, 8, stride=4),
        nn.ReLU(),
        nn.Conv2d(32, 64, 4, stride=2),
        nn.ReLU(),
        nn.Conv2d(64, 64, 3, stride=1),
        nn.ReLU(),
        nn.Conv2d(64, 512, 7, stride=1),
        nn.ReLU(),
        nn.Flatten(),
    )
