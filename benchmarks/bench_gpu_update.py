"""Where one Ms. Pac-Man update's time goes on a GPU: sampling, the batch's copy, the graph.

The atari preset's D3QN (Nature CNN, batch 32, 4 stacked 84x84 frames) on a replay of random
frames. Each line times ``--updates`` updates one way and syncs the device once at the end, so
the GPU's work overlaps the CPU's where the code lets it:

- ``sample``: ``ReplayBuffer.sample`` alone (numpy: index arithmetic and the frame gather);
- ``graph only``: replaying the recorded update with its inputs already on the device (the
  GPU's own time per update);
- ``graph + pageable copy``: today's ``GraphedUpdate.step`` on batches sampled beforehand;
- ``graph + pinned copy``: the same batches staged in page-locked memory first;
- ``sample + graph``: the loop's pattern, sampling each batch then updating;
- ``device gather``: the frames also on the GPU; only indices and the small arrays are copied,
  the graph gathers the stacks itself.
Also the acting forward (16 stacks, synced) and the ale-py vector env's step.

    python3 benchmarks/bench_gpu_update.py                  # on a CUDA machine, ~30 s
    .venv/bin/python benchmarks/bench_gpu_update.py --device cpu --updates 20   # dry run
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import qarcade.dqn  # noqa: F401
from qarcade.dqn.bookkeeping import configure_torch
from qarcade.dqn.config import build_config
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
        function(0)
        sync()
        start = time.perf_counter()
        for i in range(count):
            function(i)
        sync()
        seconds = (time.perf_counter() - start) / count
        print(f"  {name:34s} {1e3 * seconds:7.3f} ms per {per}", flush=True)
        return seconds

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--updates", type=int, default=400)
    parser.add_argument("--capacity", type=int, default=200_000)
    args = parser.parse_args()
    device = torch.device(args.device)
    config = build_config("atari", "d3qn", {"num_envs": 16, "device": args.device})
    configure_torch(config, device)
    envs = make_vector(config, config.num_envs)
    space = envs.single_observation_space
    rng = np.random.default_rng(0)
    replay = filled_replay(config, args.capacity, space.shape, rng)
    torch.manual_seed(0)
    learner = Learner.for_config(
        network_for(config, space, envs.single_action_space), config, device
    )
    run = timer(device)
    n = args.updates
    batches = [replay.sample(config.batch_size, rng) for _ in range(n)]
    print(
        f"{torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'}, torch "
        f"{torch.__version__}; {n} updates of batch {config.batch_size}",
        flush=True,
    )

    run("sample", n, lambda i: replay.sample(config.batch_size, rng))
    run("update (as the loop does it)", n, lambda i: learner.update(batches[i]))
    run("sample + update", n, lambda i: learner.update(replay.sample(config.batch_size, rng)))
    if device.type == "cuda" and learner.graphed is not None:
        graphed = learner.graphed
        run("graph only", n, lambda i: graphed.graph.replay())
        pinned = [[torch.from_numpy(a).pin_memory() for a in b.learning_arrays()] for b in batches]

        def pinned_step(i):
            for fixed, host in zip(graphed.inputs, pinned[i], strict=True):
                fixed.copy_(host, non_blocking=True)
            graphed.graph.replay()

        run("graph + pinned copy", n, pinned_step)
        try:
            device_gather(learner, replay, config, rng, run, n)
        except Exception as error:  # a probe: report and go on to the other figures
            print(f"  device gather failed: {error!r}")

    obs = replay.latest_stacks()
    net = learner.online

    def act(i):
        with torch.no_grad():
            net(torch.from_numpy(obs).to(device)).argmax(1).cpu().numpy()

    run("acting forward, 16 envs", n, act, per="step")
    envs.reset(seed=0)
    actions = np.zeros(config.num_envs, dtype=np.int64)
    run("env step, 16 envs", 200, lambda i: envs.step(actions), per="step")
    if device.type == "cuda" and learner.graphed is not None:

        def overlapped(i):
            for _ in range(4):
                learner.graphed.graph.replay()
            envs.step(actions)

        run("4 graph replays, then env step", 200, overlapped, per="step")
    envs.close()


def device_gather(learner, replay, config, rng, run, n) -> None:
    """The frames on the device; the graph gathers both stacks from index tensors."""
    device = learner.device
    frames = torch.from_numpy(replay.frames).to(device)  # (slots, N, 84, 84, 1)
    flat = frames.view(-1, *frames.shape[2:])

    def index_batch():
        b = replay.sample_slots(config.batch_size, rng)
        flat_rows = [rows * replay.num_envs + b.envs[:, None] for rows in (b.obs_rows, b.next_rows)]
        return [flat_rows[0], b.actions, b.returns, b.discounts, flat_rows[1]]

    run("sample_slots (index arithmetic only)", n, lambda i: index_batch())
    host = [index_batch() for _ in range(n)]
    pinned = [[torch.from_numpy(a).pin_memory() for a in h] for h in host]
    inputs = [t.to(device) for t in pinned[0]]

    def step():
        obs = flat[inputs[0]]  # (B, k, 84, 84, 1)
        next_obs = flat[inputs[4]]
        return learner.gradient_step(obs, inputs[1], inputs[2], inputs[3], next_obs)

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()

    def gather_step(i):
        for fixed, h in zip(inputs, pinned[i], strict=True):
            fixed.copy_(h, non_blocking=True)
        graph.replay()

    run("device gather: graph only", n, lambda i: graph.replay())
    run("device gather: pinned index copy", n, gather_step)
    run(
        "device gather: index sample+copy",
        n,
        lambda i: (
            [
                f.copy_(torch.from_numpy(a), non_blocking=True)
                for f, a in zip(inputs, index_batch(), strict=True)
            ]
            and graph.replay()
        ),
    )


if __name__ == "__main__":
    main()
