"""One DQN update recorded as a CUDA graph and replayed for every batch (and the acting forward).

On a GPU a Nature-CNN update of batch 32 is a few hundred small kernels: launched one by one from
Python they take several milliseconds of CPU time while the GPU itself needs a fraction of that
(docs/BENCHMARKS.md, "CUDA graphs"). A CUDA graph
records the kernels of ``Executor.batch_step`` (the gather of the stacks where the replay's frames
are on the GPU, both forwards, the TD target, the loss, the backward, gradient clipping and the
fused Adam step) once, on fixed input tensors; each update then copies its batch (or its indices)
into those tensors and replays the graph with one launch. The math is the eager step's: same
kernels, same order. Target-network syncs stay outside the graph (every k updates).
``GraphedForward`` does the same for the acting and evaluation forwards, one graph per shape.

Recording needs a few eager warm-up steps first (cuDNN picks its algorithms, the allocator
settles). They run with learning rate 0 and every parameter and Adam moment is put back after them,
so the warm-up changes nothing the run learns.
"""

from __future__ import annotations

import numpy as np
import torch

from qarcade.dqn.replay import Batch

WARMUP_STEPS = 3


def _warm_up(run) -> None:
    """``run()`` WARMUP_STEPS times eagerly on a side stream, as graph capture needs first."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(WARMUP_STEPS):
            run()
    torch.cuda.current_stream().wait_stream(side)


class GraphedUpdate:
    """``executor.batch_step`` as a replayed CUDA graph; recorded at the first ``step``."""

    def __init__(self, executor):
        self.executor = executor
        self.graph: torch.cuda.CUDAGraph | None = None
        self.inputs: list[torch.Tensor] = []  # fixed device tensors the graph reads
        self.loss: torch.Tensor | None = None  # the fixed 0-d tensor the graph writes

    def reset(self) -> None:
        """Forget the recording (the optimiser's state tensors were replaced)."""
        self.graph = None

    def step(self, batch: Batch) -> torch.Tensor:
        """One gradient step on ``batch``; the loss as a fresh 0-d device tensor."""
        if self.graph is None:
            self._record(batch)
        for fixed, array in zip(self.inputs, batch.learning_arrays(), strict=True):
            fixed.copy_(torch.from_numpy(array), non_blocking=True)
        self.graph.replay()
        return self.loss.clone()  # the next replay overwrites self.loss

    def _record(self, batch: Batch) -> None:
        executor = self.executor
        device = executor.device
        self.inputs = [torch.from_numpy(array).to(device) for array in batch.learning_arrays()]
        self._warm_up_at_rate_zero()
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.loss = executor.batch_step(*self.inputs)

    def _warm_up_at_rate_zero(self) -> None:
        """The warm-up steps, leaving parameters and Adam's state as found."""
        executor, learner = self.executor, self.executor.learner
        optimizer = learner.optimizer
        parameters = list(learner.online.parameters())
        saved_parameters = [p.detach().clone() for p in parameters]
        saved_state = {
            p: {k: v.clone() for k, v in optimizer.state[p].items()}
            for p in parameters
            if p in optimizer.state
        }
        rates = [group["lr"] for group in optimizer.param_groups]
        for group in optimizer.param_groups:
            group["lr"] = 0.0
        _warm_up(lambda: executor.batch_step(*self.inputs))
        for group, rate in zip(optimizer.param_groups, rates, strict=True):
            group["lr"] = rate
        with torch.no_grad():
            for p, saved in zip(parameters, saved_parameters, strict=True):
                p.copy_(saved)
                for name, value in optimizer.state[p].items():
                    if p in saved_state:
                        value.copy_(saved_state[p][name])
                    else:  # a fresh optimiser: zero moments and step count act as none
                        value.zero_()


class GraphedForward:
    """``network(obs)`` without gradients as CUDA graphs, one recorded per input shape.

    What the loop and evaluations act with on a GPU: a batched forward of the Nature CNN is a few
    dozen kernels, whose launches from Python cost more than the GPU's work. The weights are read
    where they live, so the graph follows every update without being recorded again.
    """

    def __init__(self, network: torch.nn.Module, device: torch.device):
        self.network = network
        self.device = device
        # shape and dtype -> (graph, fixed input, fixed output)
        self.graphs: dict[tuple, tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]] = {}

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        key = (obs.shape, obs.dtype.str)
        if key not in self.graphs:
            self.graphs[key] = self._record(obs)
        graph, fixed_obs, fixed_q = self.graphs[key]
        fixed_obs.copy_(torch.from_numpy(obs), non_blocking=True)
        graph.replay()
        return fixed_q.float().cpu().numpy()

    @torch.no_grad()
    def _record(self, obs: np.ndarray):
        fixed_obs = torch.from_numpy(obs).to(self.device)
        _warm_up(lambda: self.network(fixed_obs))  # cuDNN picks its algorithms for this shape
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            fixed_q = self.network(fixed_obs)
        return graph, fixed_obs, fixed_q
