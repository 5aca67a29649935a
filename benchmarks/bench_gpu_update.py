"""Where a Ms. Pac-Man training step's time goes on a GPU, piece by piece.

The atari preset's D3QN (Nature CNN, batch 32, 4 stacked 84x84 frames, 16 envs) on a replay of
random frames. Each line times ``--updates`` repetitions one way and syncs the device once at
the end, so the GPU's work overlaps the CPU's wherever the code lets it:

- ``host frames``: ``ReplayBuffer.sample`` (numpy gathers the stacks) then a graphed update that
  copies the 1.8 MB batch in (the loop before ``replay_on_device``);
- ``device frames``: ``sample_slots`` then a graphed update that gathers the stacks on the GPU
  from its copy of the frames; ``4 per draw``: a step's four batches drawn at once (the loop now);
- ``graph only``: replaying the recorded update, inputs in place (the GPU's own time);
- the acting forward for 16 envs, eager and graphed; the ale-py vector env's step; four queued
  updates then the env step (do they overlap?);
- ``--profile``: the CUDA kernels of one eager update, by time.

    python3 benchmarks/bench_gpu_update.py --profile          # on a CUDA machine, ~30 s
    .venv/bin/python benchmarks/bench_gpu_update.py --device cpu --updates 20   # dry run
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import qarcade.dqn  # noqa: F401
from qarcade.dqn.config import build_config
from qarcade.dqn.device import FramesMirror, configure_torch, q_function
from qarcade.dqn.envs import make_vector
from qarcade.dqn.learner import Learner
from qarcade.dqn.networks import network_for
from qarcade.dqn.replay import ReplayBuffer


def filled_replay(config, capacity: int, frame_shape, rng) -> ReplayBuffer:
    replay = ReplayBuffer(
        capacity,
        config.num_envs,
        frame_shape,
        np.uint8,
        config.frame_stack,
        config.n_step,
        config.gamma,
    )
    replay.frames[:] = rng.integers(0, 256, replay.frames.shape, dtype=np.uint8)
    replay.actions[:] = rng.integers(0, 9, replay.actions.shape)
    replay.rewards[:] = rng.random(replay.rewards.shape)
    replay.terminated[:] = rng.random(replay.terminated.shape) < 0.001
    replay.life_lost[:] = rng.random(replay.life_lost.shape) < 0.003
    replay.cursor = replay.slots + replay.slots // 2  # wrapped: every slot holds data
    return replay


def timer(device):
    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def run(name, count, function, per="update"):
        try:
            function(0)
            sync()
            start = time.perf_counter()
            for i in range(count):
                function(i)
            sync()
        except Exception as error:  # a probe: report and go on to the other figures
            print(f"  {name:38s} failed: {error!r}", flush=True)
            return float("nan")
        seconds = (time.perf_counter() - start) / count
        print(f"  {name:38s} {1e3 * seconds:7.3f} ms per {per}", flush=True)
        return seconds

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--updates", type=int, default=400)
    parser.add_argument("--capacity", type=int, default=200_000)
    parser.add_argument("--profile", action="store_true", help="list one update's CUDA kernels")
    args = parser.parse_args()
    device = torch.device(args.device)
    config = build_config("atari", "d3qn", {"num_envs": 16, "device": args.device})
    configure_torch(config, device)
    envs = make_vector(config, config.num_envs)
    space, actions_space = envs.single_observation_space, envs.single_action_space
    rng = np.random.default_rng(0)
    replay = filled_replay(config, args.capacity, space.shape, rng)

    def learner():
        torch.manual_seed(0)
        return Learner.for_config(network_for(config, space, actions_space), config, device)

    host, gathering = learner(), learner()
    cuda = device.type == "cuda"
    if cuda:
        gathering.executor.read_frames(FramesMirror.attach(replay, device).frames)
    run = timer(device)
    n, b = args.updates, config.batch_size
    name = torch.cuda.get_device_name() if cuda else "cpu"
    print(f"{name}, torch {torch.__version__}; batch {b}, {n} repetitions", flush=True)

    run("host frames: sample", n, lambda i: replay.sample(b, rng))
    run("host frames: sample + update", n, lambda i: host.update(replay.sample(b, rng)))
    if cuda:
        run("device frames: sample_slots", n, lambda i: replay.sample_slots(b, rng))
        run("device frames: sample_slots + update", n, lambda i: gathering.update(
            replay.sample_slots(b, rng)))  # fmt: skip

        def four(i):
            for batch in replay.sample_slots(4 * b, rng).split(4):
                gathering.update(batch)

        run("device frames: 4 per draw, per update", n // 4, lambda i: four(i), per="4 updates")
        host_graph, device_graph = host.executor.graphed, gathering.executor.graphed
        run("graph only (host-frames graph)", n, lambda i: host_graph.graph.replay())
        run("graph only (device-frames graph)", n, lambda i: device_graph.graph.replay())

    obs = replay.latest_stacks()
    eager = q_function(gathering.online, device)
    run("acting forward, 16 envs, eager", n, lambda i: eager(obs), per="step")
    if cuda:
        graphed = q_function(gathering.online, device, cuda_graph=True)
        run("acting forward, 16 envs, graphed", n, lambda i: graphed(obs), per="step")
    envs.reset(seed=0)
    zeros = np.zeros(config.num_envs, dtype=np.int64)
    run("env step, 16 envs", 200, lambda i: envs.step(zeros), per="step")
    if cuda:

        def overlapped(i):
            for batch in replay.sample_slots(4 * b, rng).split(4):
                gathering.update(batch)
            envs.step(zeros)
            graphed(obs)

        run("4 updates, env step, graphed act", 200, overlapped, per="step")
    envs.close()
    if args.profile and cuda:
        profile(host, replay, b, rng)


def profile(learner, replay, batch_size, rng) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    tensors = [learner.to_tensors(replay.sample(batch_size, rng)) for _ in range(6)]
    learner.gradient_step(*tensors[0])
    torch.cuda.synchronize()
    with torch_profile(activities=[ProfilerActivity.CUDA]) as prof:
        for t in tensors[1:]:
            learner.gradient_step(*t)
        torch.cuda.synchronize()
    kernels = [e for e in prof.key_averages() if e.device_type.name == "CUDA"]
    total = sum(e.self_device_time_total for e in kernels) / 5
    count = sum(e.count for e in kernels) / 5
    print(f"  one eager update: {count:.0f} kernels, {total / 1e3:.3f} ms of GPU time; top 20:")
    for e in sorted(kernels, key=lambda e: -e.self_device_time_total)[:20]:
        print(f"    {e.self_device_time_total / 5:8.1f} us  x{e.count / 5:4.1f}  {e.key[:90]}")


if __name__ == "__main__":
    main()
