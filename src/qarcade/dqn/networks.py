"""Q-networks: a torso (the lab's CNN, the Nature CNN, MLPs) and a head (plain or dueling).

``cells`` is a small CNN whose first conv sees one gridworld cell at a time (fast on a CPU);
``tiny`` average-pools the frame to 14x14 before a small MLP (for tests); ``mlp`` flattens
whatever it is given. The Nature CNN is Mnih et al. (2015); the
dueling head is Wang et al. (2016): Q = V + A - mean(A).

The lab's CNN ends in a 7x7 conv to 1x1x512; its plain head is dense 256 + dense A (1,814,436
parameters on 84x84x3 with 4 actions), its dueling head splits those 512 channels in two halves,
one for the advantage (dense A) and one for the value (dense 1) (1,683,365 parameters). That last
conv is computed as the dense layer it equals on a 7x7 map (``WholeMapConv2d``: same parameters,
same sums, ~25% less CPU per update).

Observations enter in their storage dtype, shape (B, k, *frame) with k stacked frames; the
network scales pixels itself (uint8 / 255, int8 / 128), so the replay never holds floats. On the
gridworld a frame may be the 7x7x3 grid the 84x84 image is scaled from (``grid_input_px``): the
image CNNs' first conv is then a ``CellConv2d``, which computes on the grid exactly what the
conv computes on the image (same parameters; pixels still work).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def pixel_scale(dtype: np.dtype) -> float:
    """Factor that maps a stored frame to about [-1, 1]: uint8 / 255, int8 / 128, floats as-is."""
    dtype = np.dtype(dtype)
    if dtype == np.uint8:
        return 1.0 / 255.0
    if dtype == np.int8:
        return 1.0 / 128.0
    return 1.0


def dueling_combine(value: torch.Tensor, advantage: torch.Tensor) -> torch.Tensor:
    """Q = V + A - mean_a A: value (B, 1), advantage (B, A) -> Q (B, A)."""
    return value + advantage - advantage.mean(dim=1, keepdim=True)


class WholeMapConv2d(nn.Conv2d):
    """A stride-1, unpadded conv whose kernel covers its whole input map, computed as the dense
    layer it equals: out[o] = b[o] + sum_{c,h,w} W[o,c,h,w] x[c,h,w] = Linear on the flattened
    map, with the conv's own (O, C, kH, kW) weight viewed as (O, C*kH*kW).

    Same parameters (and state_dict) as nn.Conv2d, so checkpoints load either way; only the
    order of the float sums differs. Why: on a CPU, oneDNN re-lays the conv's large weight
    (512x64x7x7 in the lab's CNN) out for every forward and backward; a matrix product reads it
    as it is (docs/BENCHMARKS.md has the saving).
    On any other input size it is the ordinary conv.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, **kwargs):
        super().__init__(in_channels, out_channels, kernel_size, **kwargs)
        plain = (self.stride, self.padding, self.dilation, self.groups) == (
            (1, 1),
            (0, 0),
            (1, 1),
            1,
        )
        if not plain:
            raise ValueError("WholeMapConv2d needs stride 1, no padding, no dilation, no groups")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != self.kernel_size:
            return super().forward(x)
        flat = F.linear(x.flatten(1), self.weight.flatten(1), self.bias)  # (B, O)
        return flat[:, :, None, None]  # (B, O, 1, 1), as the conv's output


class CellConv2d(nn.Conv2d):
    """A conv over square ``px`` x ``px`` images made of ``cells`` x ``cells`` uniform blocks (a
    grid scaled up by nearest neighbour, like the gridworld's frames), computed on the grid.

    Given the grid (B, C, cells, cells) it returns exactly what the conv returns on the scaled
    image (B, C, px, px), up to the order of float sums; given the image it is the ordinary
    conv. Same parameters and state_dict as ``nn.Conv2d``.

    Why it is exact: with blocks of s = px / cells pixels and a stride t that divides s, the
    outputs fall into (s/t)^2 phases, and all outputs of one phase see the same part of each
    block under each tap. Summing the taps that fall in the same block gives, per phase, a
    small kernel over m x m neighbouring cells, m = (s - t + k - 1) // s + 1; one stride-1 conv
    with a kernel per phase over the grid, its outputs interleaved by phase, is the conv on the
    image. For the lab's CNN on the 5x5 gridworld (7x7 grid, 12-pixel blocks, 8x8 taps, stride
    4): 9 phases of 2x2-cell kernels, ~15x fewer multiply-adds than on the 84x84 image.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        cells: int,
        px: int,
        **kwargs,
    ):
        super().__init__(in_channels, out_channels, kernel_size, **kwargs)
        (k, _), (t, _) = self.kernel_size, self.stride
        if not cell_conv_fits(k, t, cells, px) or self.padding != (0, 0) or self.groups != 1:
            raise ValueError(f"a {k}x{k}/{t} conv cannot run on a {cells}-cell grid of {px} px")
        s = px // cells
        self.cells, self.px, self.phases = cells, px, s // t
        self.out_px = (px - k) // t + 1
        self.span = (s - t + k - 1) // s + 1  # m: cells a window of any phase can touch
        # taps[r, j, d] = 1 where tap d of a phase-r window lies in its j-th cell (per axis)
        d = torch.arange(k)
        r = torch.arange(self.phases)[:, None]
        block = (t * r + d) // s  # (phases, k): the cell each tap falls in
        taps = (block[:, None, :] == torch.arange(self.span)[None, :, None]).float()
        self.register_buffer("taps", taps, persistent=False)  # (phases, m, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.cells:
            return super().forward(x)
        p, m, n = self.phases, self.span, self.cells
        taps = self.taps.to(self.weight.dtype)
        # kernel[r, q, o, c, i, j]: the taps of output phase (r, q) that fall in cell (i, j)
        kernel = torch.einsum("ocyx,riy,qjx->rqocij", self.weight, taps, taps)
        kernel = kernel.reshape(-1, self.in_channels, m, m)  # (p*p*O, C, m, m)
        bias = None if self.bias is None else self.bias.repeat(p * p)
        grid = F.pad(x, (0, m - 1, 0, m - 1))  # windows past the last cell are cut below
        # Channels-last, so that interleaving the phases moves whole runs of O channels.
        kernel = kernel.contiguous(memory_format=torch.channels_last)
        out = F.conv2d(grid, kernel, bias)  # (B, p*p*O, n, n): phase (r, q) at cell (y, x)
        b, o = out.shape[0], self.out_channels
        out = out.permute(0, 2, 3, 1).reshape(b, n, n, p, p, o).transpose(2, 3)
        out = out.reshape(b, n * p, n * p, o)[:, : self.out_px, : self.out_px]
        return out.permute(0, 3, 1, 2)  # (B, O, out, out), channels-last in memory


def cell_conv_fits(kernel: int, stride: int, cells: int, px: int) -> bool:
    """Whether a kernel x kernel conv of ``stride`` can run on a ``cells`` grid of ``px`` px."""
    return px % cells == 0 and (px // cells) % stride == 0 and kernel <= px


# Kernel and stride of each image CNN's first conv (the one ``CellConv2d`` can replace).
FIRST_CONV = {"lab": (8, 4), "nature": (8, 4), "cells": (12, 12)}


def _lab_cnn(channels: int, first_conv=nn.Conv2d) -> nn.Module:
    kernel, stride = FIRST_CONV["lab"]
    return nn.Sequential(
        first_conv(channels, 32, kernel, stride=stride),
        nn.ReLU(),
        nn.Conv2d(32, 64, 4, stride=2),
        nn.ReLU(),
        nn.Conv2d(64, 64, 3, stride=1),
        nn.ReLU(),
        WholeMapConv2d(64, 512, 7, stride=1),  # 84x84 input: (B, 64, 7, 7) -> (B, 512, 1, 1)
        nn.ReLU(),
        nn.Flatten(),
    )


def _nature_cnn(channels: int, first_conv=nn.Conv2d) -> nn.Module:
    # The dense 512 belongs to the torso here; both heads read its 512 features.
    kernel, stride = FIRST_CONV["nature"]
    return nn.Sequential(
        first_conv(channels, 32, kernel, stride=stride),
        nn.ReLU(),
        nn.Conv2d(32, 64, 4, stride=2),
        nn.ReLU(),
        nn.Conv2d(64, 64, 3, stride=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.LazyLinear(512),
        nn.ReLU(),
    )


def _cells_cnn(channels: int, first_conv=nn.Conv2d) -> nn.Module:
    # A 12x12 stride-12 conv sees exactly one cell of the 5x5 gridworld's 7x7 bordered grid
    # (84 = 7 x 12), then a 3x3 conv relates neighbouring cells: ~6x fewer operations than
    # the lab's CNN, still translation-equivariant.
    kernel, stride = FIRST_CONV["cells"]
    return nn.Sequential(
        first_conv(channels, 32, kernel, stride=stride),  # 84x84 -> (B, 32, 7, 7)
        nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=1),  # -> (B, 64, 5, 5)
        nn.ReLU(),
        nn.Flatten(),
        nn.LazyLinear(256),
        nn.ReLU(),
    )


def _tiny(hidden: int = 256) -> nn.Module:
    # Average-pool the frame to 14x14 first: the gridworld's cells are uniform 12-pixel blocks
    # (size 5), so little is lost, and the dense layers are 50x smaller than on raw pixels.
    return nn.Sequential(nn.AdaptiveAvgPool2d(14), _mlp(hidden))


def _mlp(hidden: int = 256) -> nn.Module:
    return nn.Sequential(
        nn.Flatten(), nn.LazyLinear(hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
    )


class PlainHead(nn.Module):
    """Features (B, F) -> Q (B, A), through one hidden layer when ``hidden`` > 0 (the lab's 256)."""

    def __init__(self, features: int, n_actions: int, hidden: int = 0):
        super().__init__()
        if hidden:
            self.net = nn.Sequential(
                nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, n_actions)
            )
        else:
            self.net = nn.Linear(features, n_actions)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)


class DuelingHead(nn.Module):
    """Features (B, F) -> Q (B, A) = V + A - mean(A).

    ``split=True`` is the lab's: the first half of the features feeds the advantage, the second
    half the value. Otherwise both streams read all features.
    """

    def __init__(self, features: int, n_actions: int, split: bool = False):
        super().__init__()
        self.split = split
        stream = features // 2 if split else features
        self.advantage = nn.Linear(stream, n_actions)
        self.value = nn.Linear(stream, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if self.split:
            half = features.shape[1] // 2
            a_in, v_in = features[:, :half], features[:, half:]  # (B, F/2) each
        else:
            a_in = v_in = features
        return dueling_combine(self.value(v_in), self.advantage(a_in))


class QNetwork(nn.Module):
    """Stored observations (B, k, *frame) -> Q-values (B, A)."""

    def __init__(
        self,
        torso: nn.Module,
        head: nn.Module,
        scale: float,
        image: bool,
        channels_last_on_cpu: bool = False,
    ):
        super().__init__()
        self.torso = torso
        self.head = head
        self.scale = scale
        self.image = image
        self.channels_last_on_cpu = channels_last_on_cpu  # see ``place``

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        # A new float buffer, scaled in place (float input is copied, never modified)
        x = obs.to(torch.float32, copy=True).mul_(self.scale)
        if self.image:
            b, k, h, w, c = x.shape  # frames are (H, W, C); stack along channels
            x = x.permute(0, 1, 4, 2, 3).reshape(b, k * c, h, w)  # (B, k*C, H, W)
        return self.head(self.torso(x))


def build_q_network(
    network: str,
    dueling: bool,
    frame_shape: tuple[int, ...],
    frame_dtype: np.dtype,
    frame_stack: int,
    n_actions: int,
    grid_px: int | None = None,
    mlp_width: int = 256,
) -> QNetwork:
    """The Q-network named by the config, for frames of ``frame_shape`` and ``frame_dtype``.

    ``grid_px``: the frames are grids of cells standing for ``grid_px`` x ``grid_px`` images
    (``grid_input_px``); the CNN's first conv is then a ``CellConv2d``, the same network."""
    image = network in ("lab", "nature", "cells", "tiny")
    if image and len(frame_shape) != 3:
        raise ValueError(f"{network} CNN needs (H, W, C) frames, got shape {frame_shape}")
    first_conv = nn.Conv2d
    if grid_px is not None:
        first_conv = functools.partial(CellConv2d, cells=frame_shape[0], px=grid_px)
    if network == "lab":
        torso, hidden, split = _lab_cnn(frame_shape[2] * frame_stack, first_conv), 256, True
    elif network == "nature":
        torso, hidden, split = _nature_cnn(frame_shape[2] * frame_stack, first_conv), 0, False
    elif network == "cells":
        torso, hidden, split = _cells_cnn(frame_shape[2] * frame_stack, first_conv), 0, False
    elif network == "tiny":
        torso, hidden, split = _tiny(), 0, False
    elif network == "mlp":
        torso, hidden, split = _mlp(mlp_width), 0, False
    else:
        raise ValueError(f"unknown network {network!r}")
    dummy = torch.zeros((1, frame_stack, *frame_shape))  # also materialises lazy layers
    if image:
        dummy = dummy.permute(0, 1, 4, 2, 3).reshape(1, -1, *frame_shape[:2])
    with torch.no_grad():
        features = torso(dummy).shape[1]
    head = (
        DuelingHead(features, n_actions, split)
        if dueling
        else PlainHead(features, n_actions, hidden)
    )
    # The Nature CNN's convs run faster in channels-last layout on a CPU (4 stacked frames);
    # the lab CNN's whole-map conv runs slower in it (benchmarks/bench_layout.py).
    return QNetwork(torso, head, pixel_scale(frame_dtype), image, network == "nature")


def to_device(network: nn.Module, device: torch.device) -> nn.Module:
    """``network`` on ``device``, its weights in the memory layout its convs run fastest in.

    Layout only: the same values and state_dict either way (``load_state_dict`` copies into
    the placed weights and keeps their layout)."""
    network = network.to(device)
    if device.type == "cpu" and getattr(network, "channels_last_on_cpu", False):
        network = network.to(memory_format=torch.channels_last)
    return network


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def network_for(config, observation_space, action_space) -> QNetwork:
    """The config's Q-network for an env's single observation and action spaces."""
    from qarcade.errors import UserError

    shape = tuple(observation_space.shape)
    if config.network in FIRST_CONV or config.network == "tiny":
        if len(shape) != 3:
            raise UserError(
                f"network {config.network} reads images (H, W, C); {config.env} observes "
                f"shape {shape} (--network mlp reads vectors)"
            )
    return build_q_network(
        config.network,
        config.dueling,
        tuple(observation_space.shape),
        observation_space.dtype,
        config.frame_stack,
        int(action_space.n),
        grid_input_px(config),
        config.mlp_width,
    )


def grid_input_px(config) -> int | None:
    """The frame's size in pixels when the config's network reads the gridworld's grid of cells
    in its place (``grid_input``, and a first conv that ``CellConv2d`` can run on those cells),
    else None: the network reads the 84x84 frame."""
    from qarcade.envs.gridcore import FRAME_PX, PARTIAL_CELLS

    if not (config.grid_input and config.env == "gridworld" and config.network in FIRST_CONV):
        return None
    cells = PARTIAL_CELLS if config.partial else config.grid_size + 2
    return FRAME_PX if cell_conv_fits(*FIRST_CONV[config.network], cells, FRAME_PX) else None
