"""The checks of the DQN part: the CNN's shapes, epsilon-greedy, the TD target, the target
network, one training step, the harness run, the agent's video, dueling, Double DQN, and Ms.
Pac-Man's preprocessing. Mock Q-functions (small linear layers, ``harness.StubQ``) keep the
answers exact; reference answers come from ``qarcade.dqn`` and ``qarcade.envs``.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import numpy as np

from qarcade.grading.checking import (
    Part,
    Question,
    Wrong,
    close,
    diagnose,
    gif_frames,
    reference_td_target,
    student_function,
    tensors,
)

# --- 6. the lab's CNN in PyTorch: input shape and output size ---


def _cnn(ns: dict) -> None:
    import torch

    size = student_function(ns, "conv_output_size")
    for args, expected in (((84, 8, 4), 20), ((20, 4, 2), 9), ((9, 3, 1), 7), ((7, 7, 1), 1)):
        if size(*args) != expected:
            raise Wrong(f"conv_output_size{args} is {expected}: (size - kernel) // stride + 1")
    shape = ns.get("INPUT_SHAPE")
    if tuple(shape or ()) != (3, 84, 84):
        raise Wrong(
            "INPUT_SHAPE is one frame as PyTorch's convs read it: (channels, height, "
            f"width), got {shape}"
        )
    network = student_function(ns, "build_lab_cnn")(4)
    with torch.no_grad():
        out = network(torch.zeros(5, 3, 84, 84))
    if tuple(out.shape) != (5, 4):
        raise Wrong(
            f"the CNN maps a batch (5, 3, 84, 84) to Q-values (5, 4), got {tuple(out.shape)}"
        )
    parameters = sum(p.numel() for p in network.parameters())
    if parameters != 1_814_436:
        raise Wrong(
            f"the lab's CNN has 1,814,436 parameters, yours {parameters:,}: conv 32 "
            "8x8/4, conv 64 4x4/2, conv 64 3x3/1, conv 512 7x7/1, dense 256, dense 4"
        )


CNN = Question("cnn_shapes", "the CNN's input shape and output size", (Part(2, _cnn),))


# --- 7. the DQN pieces ---


def _epsilon_greedy(ns: dict) -> None:
    epsilon_greedy = student_function(ns, "epsilon_greedy")
    n, a = 20_000, 4
    q = np.zeros((n, a))
    best = np.arange(n) % a
    q[np.arange(n), best] = 1.0  # each row's greedy action, every action equally often
    rng = np.random.default_rng(0)
    greedy = np.asarray(epsilon_greedy(q, 0.0, rng))
    if greedy.shape != (n,):
        raise Wrong(
            f"epsilon_greedy(q (N, A), epsilon, rng) returns N actions, got shape {greedy.shape}"
        )
    if not (greedy == best).all():
        raise Wrong("at epsilon 0 epsilon_greedy must take each row's argmax")
    uniform = np.asarray(epsilon_greedy(q, 1.0, rng))
    counts = np.bincount(uniform.astype(int), minlength=a)[:a] / n
    if not np.allclose(counts, 1 / a, atol=0.02):
        raise Wrong(
            f"at epsilon 1 every action should be drawn equally often (1/{a}); yours "
            f"{np.round(counts, 2).tolist()}: rng.integers(0, A) includes 0, excludes A"
        )
    if abs((uniform == best).mean() - 1 / a) > 0.02:
        raise Wrong("at epsilon 1 the action must not depend on the Q-values")
    mixed = np.asarray(epsilon_greedy(q, 0.2, rng))
    greedy_share = (mixed == best).mean()
    # explore with probability 0.2, uniformly over all A actions: greedy 0.8 + 0.2 / A
    if abs(greedy_share - (0.8 + 0.2 / a)) > 0.015:
        raise Wrong(
            f"at epsilon 0.2 the greedy action should come {0.8 + 0.2 / a:.0%} of the "
            f"time (0.8, plus a random draw that picks it), yours {greedy_share:.0%}"
        )


# rewards (B,), terminated (B,), truncated (B,), q_next (B, A): row 1 terminated, row 2 cut by the
# time limit (it still bootstraps), rows 0 and 3 go on.
_R = np.array([1.0, -1.0, 0.5, 2.0], np.float32)
_TERM = np.array([False, True, False, False])
_TRUNC = np.array([False, False, True, False])
_QN = np.array([[1.0, 3.0], [2.0, 5.0], [4.0, -1.0], [-2.0, -3.0]], np.float32)
_G = 0.9


def _td_target(ns: dict) -> None:
    td_target = student_function(ns, "td_target")
    r, term, trunc, qn = tensors(_R, _TERM, _TRUNC, _QN)
    actual = td_target(r, term, trunc, qn, _G)
    best, worst = _QN.max(1), _QN.min(1)
    alive = ~_TERM
    diagnose(
        actual,
        _R + _G * alive * best,  # [3.7, -1, 4.1, 0.2]
        {
            "the TD target is r + gamma * max_a Q_target(s', a); yours subtracts it (a sign "
            "error)": _R - _G * alive * best,
            "the terminal mask is missing: after a terminal step the target is r alone": _R
            + _G * best,
            "a step cut by the time limit (truncated) is not terminal: it still bootstraps "
            "from s' (mask with terminated only)": _R + _G * (alive & ~_TRUNC) * best,
            "the target bootstraps from the best next action (max), not the worst": _R
            + _G * alive * worst,
            "gamma is missing from the target r + gamma * max_a Q_target(s', a)": _R + alive * best,
        },
        "td_target should be r + gamma * (1 - terminated) * max_a q_next_target: for this "
        "batch [3.7, -1, 4.1, 0.2]",
    )


def _double_td_target(ns: dict) -> None:
    double = student_function(ns, "double_td_target")
    r = np.array([1.0, 0.0, 2.0], np.float32)
    term = np.array([False, False, True])
    online = np.array([[5.0, 1.0], [0.0, 2.0], [3.0, 4.0]], np.float32)  # argmax 0, 1, 1
    target = np.array([[1.0, 6.0], [7.0, 2.0], [0.0, 9.0]], np.float32)  # argmax 1, 0, 1
    gamma, alive = 0.5, ~term
    rows = np.arange(3)
    actual = double(*tensors(r, term, online, target), gamma)
    diagnose(
        actual,
        r + gamma * alive * target[rows, online.argmax(1)],  # [1.5, 1, 2]
        {
            "Double DQN evaluates the online network's best action with the target network; "
            "yours evaluates it with the online network": r + gamma * alive * online.max(1),
            "that is plain DQN's target: in Double DQN the online network picks the action "
            "(argmax) and the target network evaluates it": r + gamma * alive * target.max(1),
            "the roles are swapped: the online network picks the action, the target network "
            "evaluates it": r + gamma * alive * online[rows, target.argmax(1)],
            "the terminal mask is missing: after a terminal step the target is r alone": r
            + gamma * target[rows, online.argmax(1)],
        },
        "double_td_target should be r + gamma * (1 - terminated) * Q_target(s', argmax_a "
        "Q_online(s', a)): for this batch [1.5, 1, 2]",
    )


def _linear(weight, bias):
    import torch

    layer = torch.nn.Linear(len(weight[0]), len(weight))
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight))
        layer.bias.copy_(torch.tensor(bias))
    return layer


def _target_network(ns: dict) -> None:
    import torch

    make_target, sync_target = (
        student_function(ns, "make_target"),
        student_function(ns, "sync_target"),
    )
    online = _linear([[1.0, 2.0], [3.0, 4.0]], [0.5, -0.5])
    target = make_target(online)
    if not isinstance(target, torch.nn.Module):
        raise Wrong(f"make_target returns the target network, a copy of q_online; got {target!r}")
    if target is online:
        raise Wrong(
            "make_target returned the online network itself: the target network is a "
            "separate copy (copy.deepcopy), or it moves with every update"
        )
    online_storage = {p.data_ptr() for p in online.parameters()}
    if any(p.data_ptr() in online_storage for p in target.parameters()):
        raise Wrong(
            "the target network shares its weights with the online one: copy them "
            "(copy.deepcopy), or the target moves with every update"
        )
    if not all(
        torch.equal(t, o) for t, o in zip(target.parameters(), online.parameters(), strict=True)
    ):
        raise Wrong("make_target's copy should start with the online network's weights")
    with torch.no_grad():
        online.weight.add_(1.0)
    if torch.equal(target.weight, online.weight):
        raise Wrong("changing the online network changed the target network: copy it")
    sync_target(target, online)
    if not torch.equal(target.weight, online.weight):
        raise Wrong(
            "sync_target(target, online) copies the online weights into the target "
            "network in place (target.load_state_dict(online.state_dict()))"
        )
    with torch.no_grad():
        online.weight.add_(1.0)
    if torch.equal(target.weight, online.weight):
        raise Wrong("after sync_target the two networks share weights: copy the values")


def _train_step(ns: dict) -> None:
    import torch

    train_step = student_function(ns, "train_step")
    # obs (B, 2) -> Q (B, 2) through a linear map; the target network differs from the online
    # one, and has requires_grad on, so a target computed with gradients shows in its .grad.
    online = _linear([[0.5, -1.0], [1.0, 0.25]], [0.1, -0.2])
    target = _linear([[2.0, 0.0], [0.0, -1.0]], [0.0, 1.0])
    batch = {
        "obs": torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]),
        "actions": torch.tensor([0, 1, 1]),
        "rewards": torch.tensor([1.0, -1.0, 0.0]),
        "next_obs": torch.tensor([[0.0, 1.0], [1.0, 1.0], [2.0, 0.0]]),
        "terminated": torch.tensor([False, False, True]),
        "truncated": torch.tensor([False, True, False]),
    }
    gamma, lr = 0.9, 0.1

    def reference(loss_fn, next_q_from):
        net = copy.deepcopy(online)
        with torch.no_grad():
            q_next = next_q_from(net)(batch["next_obs"])
            y = reference_td_target(
                batch["rewards"], batch["terminated"], batch["truncated"], q_next, gamma
            )
        q = net(batch["obs"]).gather(1, batch["actions"][:, None]).squeeze(1)
        loss = loss_fn(q, y)
        loss.backward()
        with torch.no_grad():
            for p in net.parameters():
                p -= lr * p.grad
        return float(loss.detach()), net.weight.detach().clone()

    mse, huber = torch.nn.functional.mse_loss, torch.nn.functional.smooth_l1_loss
    good = [reference(fn, lambda net: target) for fn in (mse, huber)]
    online_bootstrap = [reference(fn, lambda net: net) for fn in (mse, huber)]

    student_online, student_target = copy.deepcopy(online), copy.deepcopy(target)
    optimizer = torch.optim.SGD(student_online.parameters(), lr=lr)
    student_online.weight.grad = torch.full_like(student_online.weight, 100.0)  # stale
    student_online.bias.grad = torch.full_like(student_online.bias, 100.0)
    saved_td_target = ns.get("td_target")
    ns["td_target"] = reference_td_target  # their td_target is graded on its own
    try:
        loss = train_step(student_online, student_target, optimizer, batch, gamma)
    finally:
        ns["td_target"] = saved_td_target
    weight = student_online.weight.detach()
    if any(torch.allclose(weight, w, atol=1e-5) for _, w in good):
        if not any(close(loss, value) for value, _ in good):
            raise Wrong("train_step should return the loss of the batch (a float)")
    elif any(torch.allclose(weight, w, atol=1e-5) for _, w in online_bootstrap):
        raise Wrong(
            "the TD target must come from the target network (q_target(next_obs)), "
            "not from the online network"
        )
    elif torch.allclose(weight, online.weight, atol=1e-6):
        raise Wrong("the online network did not change: loss.backward() then optimizer.step()")
    else:
        raise Wrong(
            "one train_step should be one optimizer step on the TD loss of Q(s, a) (gather "
            "the actions taken) against the target: zero_grad, backward, step"
        )
    if any(p.grad is not None and p.grad.abs().sum() > 0 for p in student_target.parameters()):
        raise Wrong(
            "gradients flowed into the target network: compute the TD target under torch.no_grad()"
        )
    if not all(
        torch.equal(t, o)
        for t, o in zip(student_target.parameters(), target.parameters(), strict=True)
    ):
        raise Wrong("train_step changed the target network; only the online network learns")


EPSILON_GREEDY = Question(
    "epsilon_greedy", "the epsilon-greedy action", (Part(2, _epsilon_greedy),)
)
TD_TARGET = Question("td_target", "the TD target with a terminal mask", (Part(3, _td_target),))
TARGET_NETWORK = Question(
    "target_network", "the target network and its sync", (Part(2, _target_network),)
)
TRAIN_STEP = Question("train_step", "one training step on a batch", (Part(3, _train_step),))


def _dqn_learns(ns: dict) -> None:
    from qarcade.grading import harness

    pieces = {name: student_function(ns, name) for name in harness.PIECES}
    trained = harness.train_dqn(**pieces, steps=harness.GRADING_STEPS, seed=0)
    score = float(np.mean(harness.evaluate_greedy(trained.q_online, episodes=30)))
    if score < harness.LEARNED_SCORE:
        raise Wrong(
            f"trained for {harness.GRADING_STEPS:,} steps with your pieces, the greedy agent "
            f"scores {score:.1f} a game on 30 fresh 3x3 games (random play about "
            f"{harness.RANDOM_SCORE:g}; at least {harness.LEARNED_SCORE:g} expected)"
        )


DQN_LEARNS = Question(
    "dqn_learns",
    "your DQN pieces learn the 3x3 gridworld",
    (Part(4, _dqn_learns),),
    time_limit_s=300,
    behaviour=True,
)


# --- 8. a video of the trained agent ---


def _agent_video(ns: dict) -> None:
    import torch

    from qarcade.grading import harness

    record = student_function(ns, "record_greedy_episode")
    q_online = harness.StubQ()  # a mock Q-function with a known greedy action per frame
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "agent.gif"
        with torch.no_grad():
            total = record(q_online, str(path), 3)
        # (a mock agent may stand still at a wall: identical frames merge into one GIF frame)
        if not path.is_file() or gif_frames(path) < 1:
            raise Wrong(
                "record_greedy_episode(q_online, path, seed) writes the episode's "
                "frames to path as a video (qarcade.media.write_video)"
            )
    expected = harness.greedy_episode_reward(q_online, seed=3)
    if not close(total, expected):
        raise Wrong(
            f"with a mock network that prefers a fixed move per frame, your episode "
            f"scored {total}; its greedy episode scores {expected:g}: reset with "
            "the seed, act by argmax of q_online(frame[None, None]) until truncated"
        )


AGENT_VIDEO = Question(
    "agent_video", "a video of the trained agent", (Part(1, _agent_video),), behaviour=True
)


# --- 9. the dueling aggregation ---


def _dueling(ns: dict) -> None:
    combine = student_function(ns, "dueling_combine")
    value = np.array([[1.0], [2.0]], np.float32)
    advantage = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 6.0]], np.float32)
    actual = combine(*tensors(value, advantage))
    diagnose(
        actual,
        value + advantage - advantage.mean(1, keepdims=True),  # [[0, 1, 2], [0, 0, 6]]
        {
            "Q = V + A - mean_a A: the mean advantage is not subtracted, so V and A are not "
            "identifiable": value + advantage,
            "subtract each state's mean advantage (mean over actions, dim=1, keepdim=True), "
            "not the mean over the batch": value + advantage - advantage.mean(0, keepdims=True),
            "the lab subtracts the mean advantage, not the max": value
            + advantage
            - advantage.max(1, keepdims=True),
        },
        "dueling_combine(value (B, 1), advantage (B, A)) should be V + A - mean_a A: here "
        "[[0, 1, 2], [0, 0, 6]]",
    )


DUELING = Question("dueling", "the dueling aggregation", (Part(2, _dueling),))
DOUBLE = Question("double_dqn", "the Double DQN target", (Part(2, _double_td_target),))


# --- 11. (optional) Ms. Pac-Man's preprocessing ---


def _preprocess(ns: dict) -> None:
    from qarcade.envs.atari_preprocessing import lab_preprocess

    preprocess = student_function(ns, "preprocess")
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (210, 160, 3), dtype=np.uint8)
    frame[1:176:2, ::2][:5] = (210, 164, 74)  # Ms. Pac-Man's colour, to be erased
    actual = np.asarray(preprocess(frame))
    expected = lab_preprocess(frame)
    if actual.shape != expected.shape or actual.dtype != np.int8:
        raise Wrong(
            f"preprocess returns an (88, 80, 1) int8 frame, got {actual.shape} {actual.dtype}"
        )
    if not (actual == expected).all():
        raise Wrong(
            "rows 1, 3, ..., 175 and every 2nd column; channels summed; Ms. Pac-Man's "
            "colour sum (448) set to 0; then v // 3 - 128"
        )


PREPROCESS = Question(
    "mspacman_preprocess", "(optional) Ms. Pac-Man's preprocessing", (Part(1, _preprocess),)
)
