"""The CUDA path: the same learner step on the GPU as on the CPU, a run trained on the GPU that
resumes there and plays on a CPU-only machine, and ``--device auto`` picking the GPU.

Skipped where no CUDA device is present (CI); run on a GPU machine with
``pytest tests/test_gpu.py`` (benchmarks/bench_gpu.sh does it first).
"""

import copy
import dataclasses
import io

import numpy as np
import pytest
import torch
from tiny_runs import QUIET, tiny

from qarcade.dqn.device import FramesMirror, resolve_device
from qarcade.dqn.evaluate import evaluate_run
from qarcade.dqn.learner import Learner
from qarcade.dqn.networks import build_q_network
from qarcade.dqn.replay import Batch, ReplayBuffer
from qarcade.dqn.train import train
from qarcade.runs import RunDir

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def random_batch(rng, size=16, frame=(84, 84, 3), n_actions=4, stack=1):
    return Batch(
        obs=rng.integers(0, 256, (size, stack, *frame), dtype=np.uint8),
        actions=rng.integers(0, n_actions, size),
        returns=rng.normal(size=size).astype(np.float32),
        discounts=rng.choice([0.0, 0.9], size).astype(np.float32),
        next_obs=rng.integers(0, 256, (size, stack, *frame), dtype=np.uint8),
        indices=np.zeros(size, np.int64),
        envs=np.zeros(size, np.int64),
        symmetry=np.zeros(size, np.int64),
    )


def learner_on(device, network, double, cuda_graph=False):
    # Adam with a large epsilon steps like SGD (lr * m / (sqrt(v) + 1)): with the usual 1e-8 its
    # first steps are lr * sign(gradient), which turns rounding-level gradient differences into
    # +-lr weight differences, a reason to compare nothing
    return Learner(
        copy.deepcopy(network),
        double=double,
        loss="huber",
        learning_rate=1e-3,
        adam_eps=1.0,
        grad_clip_norm=10.0,
        target_update_every=2,
        tau=1.0,
        device=torch.device(device),
        cuda_graph=cuda_graph,
    )


@pytest.fixture
def no_tf32():
    """TF32 off: compare the float32 arithmetic itself."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.mark.parametrize("double", [False, True])
def test_learner_updates_on_cuda_match_the_cpu(double, no_tf32):
    torch.manual_seed(0)
    network = build_q_network("lab", True, (84, 84, 3), np.dtype(np.uint8), 1, 4)
    cpu, gpu = learner_on("cpu", network, double), learner_on("cuda", network, double)
    rng = np.random.default_rng(1)
    for _ in range(3):  # the third update runs after a target sync
        batch = random_batch(rng)
        loss_cpu, loss_gpu = float(cpu.update(batch)), float(gpu.update(batch))
        assert loss_gpu == pytest.approx(loss_cpu, rel=1e-4)
    for name, value in cpu.online.state_dict().items():
        on_gpu = gpu.online.state_dict()[name].cpu()
        assert torch.allclose(on_gpu, value, rtol=1e-3, atol=1e-5), name
    obs = random_batch(rng).obs
    np.testing.assert_allclose(gpu.q_values(obs), cpu.q_values(obs), rtol=1e-3, atol=1e-4)


def nature_network():
    torch.manual_seed(0)
    return build_q_network("nature", True, (84, 84, 1), np.dtype(np.uint8), 4, 9)


def atari_batch(rng):
    return random_batch(rng, size=32, frame=(84, 84, 1), n_actions=9, stack=4)


@pytest.mark.parametrize("double", [False, True])
def test_graphed_updates_equal_eager_ones(double, no_tf32):
    network = nature_network()
    eager = learner_on("cuda", network, double)
    graphed = learner_on("cuda", network, double, cuda_graph=True)
    rng = np.random.default_rng(2)
    for _ in range(5):  # target syncs after updates 2 and 4, outside the graph
        batch = atari_batch(rng)
        assert float(graphed.update(batch)) == pytest.approx(float(eager.update(batch)), rel=1e-4)
    assert graphed.executor.graphed.graph is not None and eager.executor.graphed is None
    for name, value in eager.online.state_dict().items():
        assert torch.allclose(graphed.online.state_dict()[name], value, rtol=1e-3, atol=1e-6)
    for name, value in eager.target.state_dict().items():
        assert torch.allclose(graphed.target.state_dict()[name], value, rtol=1e-3, atol=1e-6)


def test_a_graphed_learners_checkpoint_resumes_on_the_cpu_and_on_the_gpu(no_tf32):
    rng = np.random.default_rng(3)
    first = learner_on("cuda", nature_network(), True, cuda_graph=True)
    for _ in range(3):
        first.update(atari_batch(rng))
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, map_location="cpu", weights_only=False)  # as RunDir loads it
    cpu = learner_on("cpu", nature_network(), True)
    graphed = learner_on("cuda", nature_network(), True, cuda_graph=True)
    cpu.load_state_dict(state)
    graphed.load_state_dict(state)
    for _ in range(3):  # the warm-up before recording must leave Adam's moments as loaded
        batch = atari_batch(rng)
        assert float(graphed.update(batch)) == pytest.approx(float(cpu.update(batch)), rel=1e-4)
    assert graphed.grad_updates == cpu.grad_updates == 6


def test_graphed_updates_gathering_from_the_gpu_frames_equal_eager_ones_on_host_frames(no_tf32):
    replay = ReplayBuffer(4000, 16, (84, 84, 1), np.uint8, frame_stack=4, n_step=3, gamma=0.99)
    rng = np.random.default_rng(4)
    new_frames = lambda: rng.integers(0, 256, (16, 84, 84, 1), dtype=np.uint8)  # noqa: E731
    replay.start(new_frames())
    eager = learner_on("cuda", nature_network(), True)
    gathering = learner_on("cuda", nature_network(), True, cuda_graph=True)
    mirror = FramesMirror.attach(replay, torch.device("cuda"))
    gathering.executor.read_frames(mirror.frames)
    assert [buffer.is_pinned() for buffer, _ in mirror.staging] == [True, True]
    draws_a, draws_b = np.random.default_rng(5), np.random.default_rng(5)
    for step in range(300):  # wraps the 250 slots: the mirror's rows are rewritten
        done = rng.random(16) < 0.02
        replay.add(rng.integers(0, 9, 16), rng.random(16), done, ~done & (rng.random(16) < 0.01),
                   new_frames(), rng.random(16) < 0.02)  # fmt: skip
        if step >= 20 and step % 40 == 0:
            host = float(eager.update(replay.sample(32, draws_a)))
            assert float(gathering.update(replay.sample_slots(32, draws_b))) == pytest.approx(
                host, rel=1e-4
            )
    torch.cuda.synchronize()
    assert torch.equal(mirror.frames.cpu(), torch.from_numpy(replay.frames))
    for name, value in eager.online.state_dict().items():
        assert torch.allclose(gathering.online.state_dict()[name], value, rtol=1e-3, atol=1e-6)


def test_an_atari_run_gathers_its_batches_on_the_gpu(tmp_path):
    from qarcade.dqn.config import build_config

    config = build_config(
        "atari",
        "d3qn",
        {"num_envs": 4, "buffer_size": 4000, "warmup_steps": 400, "max_steps": 1200,
         "eval_every_steps": 0, "final_eval_episodes": 0, "video": False, "device": "cuda",
         "max_episode_steps": 300, "checkpoint_every_steps": 0},
    )  # fmt: skip
    lines = []
    summary = train(config, tmp_path / "run", progress=False, log=lines.append)
    assert any("replay frames mirrored on cuda" in line for line in lines), lines
    assert summary["grad_updates"] == (summary["env_steps"] - 400) // 4 + 1
    resumed = train(
        dataclasses.replace(config, max_steps=1600), tmp_path / "run", resume=True,
        progress=False, log=lines.append,
    )  # fmt: skip
    assert resumed["grad_updates"] == (resumed["env_steps"] - 400) // 4 + 1


def test_device_auto_picks_the_gpu():
    assert resolve_device("auto").type == "cuda"


def test_a_gpu_run_resumes_on_the_gpu_and_plays_on_the_cpu(tmp_path):
    # the lab's CNN, as the gridworld presets train it
    config = tiny(network="lab", target_update_every=50, seed=0, torch_threads=0, max_steps=300)
    config = dataclasses.replace(config, device="cuda")
    run_dir = tmp_path / "run"
    first = train(config, run_dir, **QUIET)
    assert first["device"].startswith("cuda") and first["env_steps"] == 300
    assert not RunDir(run_dir).read_config()["grid_input"]  # pixels: faster on a GPU
    weights = RunDir(run_dir).load_checkpoint()["learner"]["online"]
    assert all(tensor.device.type == "cpu" for tensor in weights.values())  # loads anywhere

    config = dataclasses.replace(config, max_steps=600)
    resumed = train(config, run_dir, resume=True, **QUIET)
    assert resumed["env_steps"] == 600 and resumed["grad_updates"] > first["grad_updates"]

    played = evaluate_run(run_dir, episodes=4, device="cpu")
    assert played["episodes"] == 4 and np.isfinite(played["mean"])


def test_graphed_forwards_follow_the_weights_as_they_learn(no_tf32):
    from qarcade.dqn.device import q_function

    learner = learner_on("cuda", nature_network(), True, cuda_graph=True)
    graphed = q_function(learner.online, learner.device, cuda_graph=True)
    eager = q_function(learner.online, learner.device)
    rng = np.random.default_rng(6)
    for size in (16, 16, 3, 16):  # a graph per shape, replayed when a shape comes back
        obs = atari_batch(rng).obs[:size]
        np.testing.assert_allclose(graphed(obs), eager(obs), rtol=1e-4, atol=1e-5)
        learner.update(atari_batch(rng))  # the weights change in place
    assert len(graphed.graphs) == 2
