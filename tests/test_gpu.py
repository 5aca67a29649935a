"""The CUDA path: the same learner step on the GPU as on the CPU, a run trained on the GPU that
resumes there and plays on a CPU-only machine, and ``--device auto`` picking the GPU.

Skipped where no CUDA device is present (CI); run on a GPU machine with
``pytest tests/test_gpu.py`` (benchmarks/bench_gpu.sh does it first).
"""

import copy

import numpy as np
import pytest
import torch

from qarcade.dqn.config import build_config
from qarcade.dqn.evaluate import evaluate_run
from qarcade.dqn.learner import Learner
from qarcade.dqn.networks import build_q_network
from qarcade.dqn.replay import Batch
from qarcade.dqn.train import resolve_device, train
from qarcade.runs import RunDir

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

QUIET = dict(progress=False, log=lambda *args: None)


def random_batch(rng, size=16, frame=(84, 84, 3), n_actions=4):
    return Batch(
        obs=rng.integers(0, 256, (size, 1, *frame), dtype=np.uint8),
        actions=rng.integers(0, n_actions, size),
        returns=rng.normal(size=size).astype(np.float32),
        discounts=rng.choice([0.0, 0.9], size).astype(np.float32),
        next_obs=rng.integers(0, 256, (size, 1, *frame), dtype=np.uint8),
        indices=np.zeros(size, np.int64),
        envs=np.zeros(size, np.int64),
    )


def learner_on(device, network, double):
    return Learner(
        copy.deepcopy(network),
        double=double,
        loss="huber",
        learning_rate=1e-3,
        adam_eps=1e-8,
        grad_clip_norm=10.0,
        target_update_every=2,
        tau=1.0,
        device=torch.device(device),
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


def test_device_auto_picks_the_gpu():
    assert resolve_device("auto").type == "cuda"


def test_a_gpu_run_resumes_on_the_gpu_and_plays_on_the_cpu(tmp_path):
    config = build_config(
        "fast",
        "d3qn",
        dict(
            grid_size=3,
            num_envs=4,
            buffer_size=2000,
            warmup_steps=100,
            epsilon_decay_steps=300,
            train_every_steps=8,
            final_eval_episodes=4,
            video=False,
            device="cuda",
            max_steps=300,
        ),
    )
    run_dir = tmp_path / "run"
    first = train(config, run_dir, **QUIET)
    assert first["device"].startswith("cuda") and first["env_steps"] == 300
    weights = RunDir(run_dir).load_checkpoint()["learner"]["online"]
    assert all(tensor.device.type == "cpu" for tensor in weights.values())  # loads anywhere

    config = config.__class__(**{**config.to_dict(), "max_steps": 600})
    resumed = train(config, run_dir, resume=True, **QUIET)
    assert resumed["env_steps"] == 600 and resumed["grad_updates"] > first["grad_updates"]

    played = evaluate_run(run_dir, episodes=4, device="cpu")
    assert played["episodes"] == 4 and np.isfinite(played["mean"])
