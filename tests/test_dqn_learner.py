"""TD targets, losses, epsilon and target sync against hand-computed numbers."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from qarcade.dqn.learner import (
    Learner,
    epsilon_at,
    epsilon_greedy,
    polyak_update,
    td_loss,
    td_target,
)
from qarcade.dqn.replay import Batch

Q_NEXT_TARGET = torch.tensor([[1.0, 5.0, 2.0], [3.0, 0.0, -1.0]])
Q_NEXT_ONLINE = torch.tensor([[9.0, 0.0, 0.0], [0.0, 0.0, 4.0]])  # argmax 0 and 2
RETURNS = torch.tensor([1.0, 2.0])
DISCOUNTS = torch.tensor([0.5, 0.0])  # the second transition terminated


def test_plain_target_takes_the_target_networks_max():
    target = td_target(RETURNS, DISCOUNTS, Q_NEXT_TARGET)
    assert target.tolist() == [1.0 + 0.5 * 5.0, 2.0]


def test_double_target_evaluates_the_online_argmax_with_the_target_network():
    target = td_target(RETURNS, torch.tensor([0.5, 0.25]), Q_NEXT_TARGET, Q_NEXT_ONLINE)
    assert target.tolist() == [1.0 + 0.5 * 1.0, 2.0 + 0.25 * -1.0]


def test_losses_by_hand():
    q, target = torch.tensor([0.0, 3.0]), torch.tensor([2.0, 2.5])
    assert td_loss(q, target, "mse").item() == pytest.approx((4.0 + 0.25) / 2)
    # Huber(delta 1): |2| -> 2 - .5 = 1.5; |.5| -> .5 * .25 = .125
    assert td_loss(q, target, "huber").item() == pytest.approx((1.5 + 0.125) / 2)
    with pytest.raises(ValueError):
        td_loss(q, target, "l1")


def test_epsilon_schedule_the_labs_numbers():
    # lab: 100 random episodes (5,000 steps), then 0.6 -> 0.1 over 1,000 episodes (50,000 steps)
    def lab(step):
        return epsilon_at(step, 5_000, 0.6, 0.1, 50_000)

    assert lab(0) == 1.0 and lab(4_999) == 1.0
    assert lab(5_000) == pytest.approx(0.6)
    assert lab(5_000 + 50) == pytest.approx(0.6 - 0.0005)  # 0.0005 per 50-step episode
    assert lab(30_000) == pytest.approx(0.35)
    assert lab(55_000) == pytest.approx(0.1) and lab(10**7) == pytest.approx(0.1)


def test_epsilon_greedy_greedy_random_and_seeded():
    q = np.array([[0.0, 3.0, 1.0, 2.0]] * 4000)
    assert (epsilon_greedy(q, 0.0, np.random.default_rng(0)) == 1).all()
    random = epsilon_greedy(q, 1.0, np.random.default_rng(0))
    assert np.bincount(random, minlength=4).min() > 900  # ~1000 each
    mixed = epsilon_greedy(q, 0.2, np.random.default_rng(0))
    assert np.mean(mixed != 1) == pytest.approx(0.2 * 0.75, abs=0.02)
    again = epsilon_greedy(q, 0.2, np.random.default_rng(0))
    assert np.array_equal(mixed, again)


def test_polyak_and_hard_copy():
    online, target = nn.Linear(1, 1), nn.Linear(1, 1)
    for p, value in zip(online.parameters(), (4.0, 8.0), strict=True):
        p.data.fill_(value)
    for p in target.parameters():
        p.data.fill_(0.0)
    polyak_update(target, online, 0.25)
    assert [p.item() for p in target.parameters()] == [1.0, 2.0]
    polyak_update(target, online, 1.0)
    assert [p.item() for p in target.parameters()] == [4.0, 8.0]


class Table(nn.Module):
    """A stub Q-network: Q(s, .) is row s of a learnable table; obs (B, 1, 1) holds s."""

    def __init__(self, table):
        super().__init__()
        self.table = nn.Parameter(torch.tensor(table))

    def forward(self, obs):
        return self.table[obs[:, 0, 0].long()]


def batch_from(states, actions, returns, discounts, next_states):
    return Batch(
        obs=np.array(states, np.int64).reshape(-1, 1, 1),
        actions=np.array(actions, np.int64),
        returns=np.array(returns, np.float32),
        discounts=np.array(discounts, np.float32),
        next_obs=np.array(next_states, np.int64).reshape(-1, 1, 1),
        indices=np.zeros(len(states), np.int64),
        envs=np.zeros(len(states), np.int64),
        symmetry=np.zeros(len(states), np.int64),
    )


def make_learner(double, target_update_every=2, lr=0.1, tau=1.0):
    return Learner(
        Table([[0.0, 1.0], [2.0, -4.0]]),
        double=double,
        loss="mse",
        learning_rate=lr,
        adam_eps=1e-8,
        grad_clip_norm=0.0,
        target_update_every=target_update_every,
        tau=tau,
        device=torch.device("cpu"),
    )


def test_learner_loss_by_hand_and_hard_sync_every_k_updates():
    learner = make_learner(double=False)
    batch = batch_from([0], [1], [1.0], [0.5], [1])
    # target = 1 + .5 * max(2, -4) = 2; Q(0, 1) = 1; MSE = 1
    assert learner.update(batch).item() == pytest.approx(1.0)
    # Adam's first step moves each touched entry by lr against the gradient's sign
    assert learner.online.table[0, 1].item() == pytest.approx(1.1, abs=1e-5)
    assert learner.target.table[0, 1].item() == 1.0  # not synced after 1 update
    learner.update(batch)
    assert torch.equal(learner.target.table, learner.online.table)  # synced after 2
    assert learner.grad_updates == 2


def test_learner_double_uses_online_argmax():
    learner = make_learner(double=True)
    with torch.no_grad():
        learner.online.table[1] = torch.tensor([-9.0, 9.0])  # online prefers action 1 in s1
    batch = batch_from([0], [0], [0.0], [1.0], [1])
    # double: target net evaluates action 1 in s1: -4 -> loss (0 - -4)^2 = 16
    assert learner.update(batch).item() == pytest.approx(16.0)
    plain = make_learner(double=False)
    with torch.no_grad():
        plain.online.table[1] = torch.tensor([-9.0, 9.0])
    assert plain.update(batch).item() == pytest.approx(4.0)  # max of target row 1 is 2


def test_learner_state_round_trip():
    a = make_learner(double=True)
    a.update(batch_from([0, 1], [1, 0], [1.0, 0.0], [0.5, 0.0], [1, 0]))
    b = make_learner(double=True)
    b.load_state_dict(copy.deepcopy(a.state_dict()))  # as through a checkpoint file
    batch = batch_from([1], [1], [0.5], [0.9], [0])
    assert a.update(batch).item() == b.update(batch).item()
    assert torch.equal(a.online.table, b.online.table)


def test_a_state_saved_by_a_cuda_graphed_learner_loads_on_the_cpu():
    a = make_learner(double=True)
    a.update(batch_from([0, 1], [1, 0], [1.0, 0.0], [0.5, 0.0], [1, 0]))
    state = copy.deepcopy(a.state_dict())
    for group in state["optimizer"]["param_groups"]:
        group["capturable"] = True  # how a learner with cuda_graph on a GPU saves its Adam
    b = make_learner(double=True)
    b.load_state_dict(state)
    assert b.executor.graphed is None and not b.optimizer.param_groups[0]["capturable"]
    batch = batch_from([1], [1], [0.5], [0.9], [0])
    assert a.update(batch).item() == b.update(batch).item()
    assert torch.equal(a.online.table, b.online.table)


def d3qn_learner(network, **changes):
    """A double-DQN learner on the CPU with a copy of ``network``, Huber loss, Adam 1e-3."""
    settings = dict(
        double=True,
        loss="huber",
        learning_rate=1e-3,
        adam_eps=1e-8,
        grad_clip_norm=10.0,
        target_update_every=2,
        tau=1.0,
        device=torch.device("cpu"),
    )
    return Learner(copy.deepcopy(network), **{**settings, **changes})


def test_a_learner_reading_the_replays_device_frames_steps_as_one_given_the_frames():
    from qarcade.dqn.device import FramesMirror
    from qarcade.dqn.networks import build_q_network
    from qarcade.dqn.replay import ReplayBuffer

    torch.manual_seed(0)
    network = build_q_network("tiny", True, (28, 28, 1), np.dtype(np.uint8), 2, 3)
    given, gathering = d3qn_learner(network), d3qn_learner(network)
    replay = ReplayBuffer(200, 2, (28, 28, 1), np.uint8, frame_stack=2, n_step=2, gamma=0.9)
    rng = np.random.default_rng(0)
    replay.start(rng.integers(0, 256, (2, 28, 28, 1), dtype=np.uint8))
    gathering.executor.read_frames(FramesMirror.attach(replay, torch.device("cpu")).frames)
    draws_a, draws_b = np.random.default_rng(1), np.random.default_rng(1)
    for step in range(40):
        done = rng.random(2) < 0.1
        frames = rng.integers(0, 256, (2, 28, 28, 1), dtype=np.uint8)
        replay.add(rng.integers(0, 3, 2), rng.random(2), done, np.zeros(2, bool), frames)
        if step >= 10:  # the frames arrive between updates, as in the loop
            loss = given.update(replay.sample(8, draws_a))
            assert torch.equal(loss, gathering.update(replay.sample_slots(8, draws_b)))
    for name, value in given.online.state_dict().items():
        assert torch.equal(gathering.online.state_dict()[name], value), name


def test_bf16_precision_computes_the_forwards_in_bfloat16_and_keeps_float32_state():
    from qarcade.dqn.networks import build_q_network

    torch.manual_seed(0)
    network = build_q_network("lab", True, (84, 84, 3), np.dtype(np.uint8), 1, 4)
    learners = {p: d3qn_learner(network, precision=p) for p in ("float32", "bf16")}
    rng = np.random.default_rng(0)
    obs = rng.integers(0, 256, (8, 1, 84, 84, 3), dtype=np.uint8)
    batch = Batch(obs, rng.integers(0, 4, 8), rng.random(8).astype(np.float32),
                  np.full(8, 0.9, np.float32), obs[::-1].copy(), np.zeros(8, np.int64),
                  np.zeros(8, np.int64), np.zeros(8, np.int64))  # fmt: skip
    full, half = (float(learners[p].update(batch)) for p in ("float32", "bf16"))
    assert half == pytest.approx(full, rel=0.05) and half != full  # bfloat16 rounding
    bf16 = learners["bf16"]
    assert all(p.dtype == torch.float32 for p in bf16.online.parameters())
    for value in bf16.optimizer.state.values():
        assert value["exp_avg"].dtype == torch.float32


def test_bf16_updates_cast_each_weight_once_and_equal_casting_at_every_forward():
    # The learner casts the online weights once per update (autocast's cache) and keeps a bf16
    # copy of the target net, refreshed at each sync; the math must be autocast's per forward.
    from qarcade.dqn.networks import build_q_network

    torch.manual_seed(0)
    network = build_q_network("lab", True, (7, 7, 3), np.dtype(np.uint8), 1, 4, grid_px=84)
    learner = d3qn_learner(network, precision="bf16", grad_clip_norm=0.0, target_update_every=1)
    online, target = copy.deepcopy(network), copy.deepcopy(network)
    optimizer = torch.optim.Adam(online.parameters(), lr=1e-3, eps=1e-8, fused=True)
    rng = np.random.default_rng(1)

    def per_forward(net, x):
        with torch.autocast("cpu", dtype=torch.bfloat16, cache_enabled=False):
            return net(x).float()

    for _ in range(3):  # the target syncs after every update: its copy must follow
        obs = torch.from_numpy(rng.integers(0, 2, (16, 1, 7, 7, 3), dtype=np.uint8) * 255)
        next_obs = torch.from_numpy(rng.integers(0, 2, (16, 1, 7, 7, 3), dtype=np.uint8) * 255)
        actions = torch.from_numpy(rng.integers(0, 4, 16))
        returns, discounts = torch.rand(16), torch.full((16,), 0.9)
        loss = learner.gradient_step(obs, actions, returns, discounts, next_obs)
        learner.grad_updates += 1
        polyak_update(learner.target, learner.online, 1.0)
        learner.executor.target_changed()
        with torch.no_grad():
            best = per_forward(online, next_obs)
            goal = td_target(returns, discounts, per_forward(target, next_obs), best)
        q = per_forward(online, obs).gather(1, actions[:, None]).squeeze(1)
        expected = td_loss(q, goal, "huber")
        optimizer.zero_grad()
        expected.backward()
        optimizer.step()
        polyak_update(target, online, 1.0)
        assert torch.equal(loss, expected.detach())
        for name, value in online.state_dict().items():
            assert torch.equal(learner.online.state_dict()[name], value), name
    for name, value in learner.executor.target.state_dict().items():
        assert value.dtype == torch.bfloat16 and torch.equal(
            value, target.state_dict()[name].bfloat16()
        )


def test_auto_precision_is_bf16_only_on_a_cpu_with_bfloat16_matrix_units(monkeypatch):
    from qarcade.dqn.device import resolve_precision

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    for amx in (True, False):
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda amx=amx: amx)
        assert resolve_precision("auto", cpu) == ("bf16" if amx else "float32")
        assert resolve_precision("auto", cuda) == "float32"
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported")
    assert resolve_precision("auto", cpu) == "float32"
    assert resolve_precision("bf16", cuda) == "bf16"
    assert resolve_precision("float32", cpu) == "float32"
