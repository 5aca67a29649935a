"""Networks: the lab's parameter counts, the dueling combination, pixel scaling, shapes, the
first conv run on the gridworld's grid."""

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from qarcade.dqn.config import FAST
from qarcade.dqn.networks import (
    CellConv2d,
    QNetwork,
    WholeMapConv2d,
    build_q_network,
    count_parameters,
    dueling_combine,
    grid_input_px,
    pixel_scale,
    to_device,
)
from qarcade.envs.gridcore import upscale


def test_lab_cnn_parameter_counts_match_the_lab():
    plain = build_q_network("lab", False, (84, 84, 3), np.uint8, 1, 4)
    dueling = build_q_network("lab", True, (84, 84, 3), np.uint8, 1, 4)
    assert count_parameters(plain) == 1_814_436
    assert count_parameters(dueling) == 1_683_365


@pytest.mark.parametrize("network", ["lab", "nature", "cells", "tiny", "mlp"])
@pytest.mark.parametrize("dueling", [False, True])
def test_shapes_with_frame_stacks(network, dueling):
    net = build_q_network(network, dueling, (84, 84, 3), np.uint8, 2, 5)
    obs = torch.randint(0, 256, (3, 2, 84, 84, 3), dtype=torch.uint8)
    assert net(obs).shape == (3, 5)


def test_atari_int8_frames_with_the_nature_cnn():
    net = build_q_network("nature", True, (88, 80, 1), np.int8, 4, 9)
    obs = torch.randint(-128, 128, (2, 4, 88, 80, 1), dtype=torch.int8)
    assert net(obs).shape == (2, 9)
    assert net.scale == 1 / 128


def test_dueling_combine_by_hand():
    value = torch.tensor([[10.0], [0.0]])
    advantage = torch.tensor([[1.0, 2.0, 3.0], [4.0, 4.0, 4.0]])
    q = dueling_combine(value, advantage)
    assert q.tolist() == [[9.0, 10.0, 11.0], [0.0, 0.0, 0.0]]


def test_lab_dueling_head_splits_advantage_then_value():
    net = build_q_network("lab", True, (84, 84, 3), np.uint8, 1, 2)
    head = net.head
    assert head.advantage.in_features == 256 and head.value.in_features == 256
    with torch.no_grad():
        head.advantage.weight.zero_()
        head.advantage.bias.copy_(torch.tensor([1.0, -1.0]))
        head.value.weight.zero_()
        head.value.weight[0, 0] = 1.0  # value reads feature 256 (first of the second half)
        head.value.bias.zero_()
    features = torch.zeros(1, 512)
    features[0, 256] = 5.0
    assert head(features).tolist() == [[6.0, 4.0]]


def test_pixels_are_scaled_inside_the_network():
    assert pixel_scale(np.uint8) == 1 / 255 and pixel_scale(np.int8) == 1 / 128
    assert pixel_scale(np.float32) == 1.0
    seen = {}

    class Spy(nn.Module):
        def forward(self, x):
            seen["x"] = x
            return x.flatten(1)[:, :2]

    net = QNetwork(Spy(), nn.Identity(), pixel_scale(np.uint8), image=True)
    obs = torch.zeros(1, 2, 4, 4, 3, dtype=torch.uint8)
    obs[0, 1, 0, 0, 2] = 255  # second frame, blue channel
    net(obs)
    assert seen["x"].shape == (1, 6, 4, 4)  # (B, k*C, H, W)
    assert seen["x"][0, 5, 0, 0].item() == 1.0 and seen["x"].sum().item() == 1.0


def test_whole_map_conv_equals_the_conv_it_replaces():
    torch.manual_seed(0)
    conv = nn.Conv2d(64, 512, 7)
    whole = WholeMapConv2d(64, 512, 7)
    whole.load_state_dict(conv.state_dict())  # same parameters, same names
    x = torch.randn(5, 64, 7, 7, requires_grad=True)
    x_conv = x.detach().clone().requires_grad_(True)
    out, expected = whole(x), conv(x_conv)
    assert out.shape == expected.shape == (5, 512, 1, 1)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    out.square().sum().backward()
    expected.square().sum().backward()
    torch.testing.assert_close(x.grad, x_conv.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(whole.weight.grad, conv.weight.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(whole.bias.grad, conv.bias.grad, rtol=1e-4, atol=1e-4)
    bigger = torch.randn(2, 64, 9, 8)  # not the whole map: the ordinary conv
    torch.testing.assert_close(whole(bigger), conv(bigger), rtol=0, atol=0)
    with pytest.raises(ValueError, match="stride 1"):
        WholeMapConv2d(64, 512, 7, stride=2)


def test_lab_cnn_state_dict_is_a_conv_state_dict():
    # A checkpoint written when the lab CNN was plain nn.Conv2d layers loads unchanged.
    torch.manual_seed(0)
    net = build_q_network("lab", False, (84, 84, 3), np.uint8, 1, 4)
    assert isinstance(net.torso[6], WholeMapConv2d)
    old = nn.Sequential(*[nn.Conv2d(64, 512, 7) if i == 6 else m for i, m in enumerate(net.torso)])
    state = {f"torso.{k}": v.clone() for k, v in old.state_dict().items()}
    assert state["torso.6.weight"].shape == (512, 64, 7, 7)
    state.update({k: v for k, v in net.state_dict().items() if k.startswith("head.")})
    net.load_state_dict(state)  # strict: same keys and shapes
    obs = torch.randint(0, 256, (3, 1, 84, 84, 3), dtype=torch.uint8)
    with torch.no_grad():
        x = obs.float().permute(0, 1, 4, 2, 3).reshape(3, 3, 84, 84) / 255
        torch.testing.assert_close(net(obs), net.head(old(x)), rtol=1e-5, atol=1e-6)


def test_float_observations_are_not_modified_by_the_scaling():
    net = QNetwork(nn.Flatten(), nn.Identity(), 0.5, image=False)
    obs = torch.ones(2, 3)
    assert net(obs).tolist() == [[0.5] * 3] * 2
    assert obs.tolist() == [[1.0] * 3] * 2


def test_place_lays_the_nature_cnn_out_channels_last_on_the_cpu_only():
    cpu = torch.device("cpu")
    torch.manual_seed(0)
    nature = build_q_network("nature", False, (84, 84, 1), np.uint8, 4, 6)
    before = {k: v.clone() for k, v in nature.state_dict().items()}
    obs = torch.randint(0, 256, (2, 4, 84, 84, 1), dtype=torch.uint8)
    with torch.no_grad():
        expected = nature(obs)
        placed = to_device(nature, cpu)
        q = placed(obs)
    weight = placed.torso[0].weight  # (32, 4, 8, 8)
    assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
    torch.testing.assert_close(q, expected, rtol=1e-5, atol=1e-6)  # layout, not values
    for name, value in placed.state_dict().items():
        assert torch.equal(value, before[name])
    lab = to_device(build_q_network("lab", False, (84, 84, 3), np.uint8, 1, 4), cpu)
    assert all(p.is_contiguous() for p in lab.parameters())  # the lab CNN stays as it is


@pytest.mark.parametrize(
    ("kernel", "stride", "cells", "px"),
    [(8, 4, 7, 84), (8, 4, 3, 84), (12, 12, 7, 84), (3, 1, 4, 12), (5, 2, 2, 8)],
)
def test_cell_conv_on_the_grid_equals_the_conv_on_the_scaled_image(kernel, stride, cells, px):
    # (8, 4, 7, 84): the lab's first conv on the 5x5 gridworld; (8, 4, 3, 84): its partial view;
    # (12, 12, 7, 84): the cells CNN; the last two: taps spanning 2 and 3 cells per phase.
    torch.manual_seed(0)
    conv = CellConv2d(2, 6, kernel, stride=stride, cells=cells, px=px).double()
    grid = torch.rand(3, 2, cells, cells, dtype=torch.float64, requires_grad=True)
    image = grid.repeat_interleave(px // cells, 2).repeat_interleave(px // cells, 3)
    plain = nn.Conv2d(2, 6, kernel, stride=stride).double()
    plain.load_state_dict(conv.state_dict())  # same parameters, same names
    out, expected = conv(grid), plain(image)
    assert (
        out.shape
        == expected.shape
        == (3, 6, (px - kernel) // stride + 1, (px - kernel) // stride + 1)
    )
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    weights = (conv.weight, conv.bias, plain.weight, plain.bias)
    grads = torch.autograd.grad(out.square().sum() + expected.square().sum(), (*weights, grid))
    torch.testing.assert_close(grads[0], grads[2], rtol=1e-10, atol=1e-10)  # weight
    torch.testing.assert_close(grads[1], grads[3], rtol=1e-10, atol=1e-10)  # bias
    torch.testing.assert_close(conv(image), expected, rtol=0, atol=0)  # an image: the plain conv


def test_cell_conv_refuses_cells_its_windows_do_not_tile():
    with pytest.raises(ValueError, match="cannot run"):
        CellConv2d(3, 32, 8, stride=4, cells=4, px=84)  # 21-pixel cells, stride 4
    with pytest.raises(ValueError, match="cannot run"):
        CellConv2d(3, 32, 8, stride=4, cells=5, px=84)  # 84 / 5 is not whole


@pytest.mark.parametrize("network", ["lab", "nature", "cells"])
def test_a_network_reading_grids_is_the_same_network_as_on_pixels(network):
    # Same seed -> same weights and state_dict keys; same Q on a grid as on its frame.
    torch.manual_seed(0)
    on_grid = build_q_network(network, True, (7, 7, 3), np.uint8, 2, 4, grid_px=84)
    torch.manual_seed(0)
    on_pixels = build_q_network(network, True, (84, 84, 3), np.uint8, 2, 4)
    assert isinstance(on_grid.torso[0], CellConv2d)
    for (name, a), (other, b) in zip(
        on_grid.state_dict().items(), on_pixels.state_dict().items(), strict=True
    ):
        assert name == other and torch.equal(a, b)
    grids = torch.randint(0, 2, (5, 2, 7, 7, 3), dtype=torch.uint8) * 255
    frames = torch.from_numpy(upscale(grids.numpy().reshape(10, 7, 7, 3))).view(5, 2, 84, 84, 3)
    with torch.no_grad():
        expected = on_pixels(frames)
        torch.testing.assert_close(on_grid(grids), expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(on_grid(frames), expected, rtol=0, atol=0)


def test_grid_input_applies_where_the_first_conv_fits_the_cells():
    assert grid_input_px(FAST) == 84  # cells CNN, 7x7 grid of 12-pixel cells
    lab = dataclasses.replace(FAST, network="lab")
    assert grid_input_px(lab) == 84
    assert grid_input_px(dataclasses.replace(lab, partial=True)) == 84  # 3x3 of 28 pixels
    assert grid_input_px(dataclasses.replace(FAST, partial=True)) is None  # 12 px on 28
    assert grid_input_px(dataclasses.replace(lab, grid_size=3)) is None  # 84 / 5 pixels
    assert grid_input_px(dataclasses.replace(FAST, network="mlp")) is None  # not a CNN
    assert grid_input_px(dataclasses.replace(FAST, grid_input=False)) is None
    assert grid_input_px(dataclasses.replace(FAST, env="mspacman")) is None
