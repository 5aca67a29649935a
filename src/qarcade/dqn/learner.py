"""The DQN learner: TD target, loss, optimiser step, target-network sync.

The math is in pure functions (tensors in, tensors out):
- ``td_target``: r + discount * Q_target(s', argmax) where the argmax is over Q_target itself
  (DQN, Mnih et al. 2015) or over Q_online (Double DQN, van Hasselt et al. 2016); ``r`` and
  ``discount`` already hold the n-step sum and gamma**n (0 after a termination).
- ``td_loss``: MSE (the lab) or Huber on Q(s, a) - target.
- ``epsilon_at`` / ``epsilon_greedy``: the annealed exploration schedule and the batched choice
  (``exploration_draws`` first, so the loop runs no forward when every env explores).
- ``polyak_update``: target <- tau * online + (1 - tau) * target (tau = 1 is a hard copy),
  applied every ``target_update_every`` gradient updates.
``Learner`` is the thin shell holding the two networks and Adam.
"""

from __future__ import annotations

import contextlib
import copy

import numpy as np
import torch
from torch import nn

from qarcade.dqn.networks import place
from qarcade.dqn.replay import Batch


def td_target(
    returns: torch.Tensor,
    discounts: torch.Tensor,
    q_next_target: torch.Tensor,
    q_next_online: torch.Tensor | None = None,
) -> torch.Tensor:
    """TD target (B,) from n-step returns (B,), discounts (B,) and next-state Q-values (B, A).

    With ``q_next_online`` (Double DQN) the online network picks the action and the target
    network evaluates it; without, the target network does both (max).
    """
    if q_next_online is None:
        bootstrap = q_next_target.max(dim=1).values  # (B,)
    else:
        best = q_next_online.argmax(dim=1, keepdim=True)  # (B, 1)
        bootstrap = q_next_target.gather(1, best).squeeze(1)  # (B,)
    return returns + discounts * bootstrap


def td_loss(q_taken: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Mean of (q_taken - target)^2 ("mse") or of the Huber loss with delta 1 ("huber")."""
    if kind == "mse":
        return nn.functional.mse_loss(q_taken, target)
    if kind == "huber":
        return nn.functional.smooth_l1_loss(q_taken, target, beta=1.0)
    raise ValueError(f"unknown loss {kind!r}")


def epsilon_at(
    env_steps: int, warmup_steps: int, start: float, end: float, decay_steps: int
) -> float:
    """1 in warm-up, then linear from ``start`` to ``end`` over ``decay_steps``, then ``end``."""
    if env_steps < warmup_steps:
        return 1.0
    fraction = min(1.0, (env_steps - warmup_steps) / decay_steps)
    return start + fraction * (end - start)


def exploration_draws(
    n: int, n_actions: int, epsilon: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(explore (N,) bool, random actions (N,)): which envs act at random, and how.

    Always draws 2N numbers, so the random stream does not depend on the Q-values.
    """
    explore = rng.random(n) < epsilon
    return explore, rng.integers(0, n_actions, size=n)


def epsilon_greedy(q: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
    """Actions (N,) from Q-values (N, A): argmax, or with probability epsilon uniform."""
    explore, random_actions = exploration_draws(q.shape[0], q.shape[1], epsilon, rng)
    return np.where(explore, random_actions, q.argmax(axis=1))


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> ``bf16`` on a CPU with AMX tiles (bfloat16 matrix units), else ``float32``.

    Without such units bfloat16 is emulated and slower; GPUs stay float32 until measured."""
    if precision != "auto":
        return precision
    try:
        native = device.type == "cpu" and torch.cpu._is_amx_tile_supported()
    except AttributeError:  # a torch without the check
        native = False
    return "bf16" if native else "float32"


@torch.no_grad()
def polyak_update(target: nn.Module, online: nn.Module, tau: float) -> None:
    """target <- tau * online + (1 - tau) * target, parameter by parameter."""
    for t, o in zip(target.parameters(), online.parameters(), strict=True):
        if tau >= 1.0:
            t.copy_(o)
        else:
            t.lerp_(o, tau)


class Learner:
    """Online and target Q-networks and their Adam optimiser; one ``update`` per batch."""

    def __init__(
        self,
        online: nn.Module,
        *,
        double: bool,
        loss: str,
        learning_rate: float,
        adam_eps: float,
        grad_clip_norm: float,
        target_update_every: int,
        tau: float,
        device: torch.device,
        cuda_graph: bool = False,
        precision: str = "float32",
    ):
        self.online = place(online, device)
        self.target = copy.deepcopy(self.online).requires_grad_(False)
        # On a GPU, ``cuda_graph`` records one update's kernels once and replays them per batch
        # (qarcade.dqn.graphed): the optimiser's step counter must then live on the device.
        self.graphed = None
        if cuda_graph and device.type == "cuda":
            from qarcade.dqn.graphed import GraphedUpdate

            self.graphed = GraphedUpdate(self)
        # fused: one kernel for all parameters (measured 5x faster than the per-tensor loop on
        # CPU for the lab's CNN: ~1.5 ms instead of ~7 ms per step)
        self.optimizer = torch.optim.Adam(
            self.online.parameters(),
            lr=learning_rate,
            eps=adam_eps,
            fused=True,
            capturable=self.graphed is not None,
        )
        self.double = double
        self.loss_kind = loss
        self.grad_clip_norm = grad_clip_norm
        self.target_update_every = target_update_every
        self.tau = tau
        self.device = device
        self.precision = resolve_precision(precision, device)
        self.bf16 = self.precision == "bf16"
        # The target net's weights as its forwards use them: in bf16 a copy cast once per sync
        # (the same rounding autocast would do per forward), else the target itself.
        self.target_compute = self.target
        if self.bf16:
            self.target_compute = copy.deepcopy(self.target).to(torch.bfloat16)
        self.grad_updates = 0
        self.frames: torch.Tensor | None = None  # see read_frames

    def read_frames(self, frames: torch.Tensor) -> None:
        """From now on batches come from ``sample_slots``: their stacks are indices into
        ``frames`` (the replay's device copy, ``ReplayBuffer.mirror_frames``), gathered there."""
        self.frames = frames.view(-1, *frames.shape[2:])

    @classmethod
    def for_config(cls, network: nn.Module, config, device: torch.device) -> Learner:
        """The learner a ``DQNConfig``'s learning fields describe, for ``network`` on ``device``."""
        return cls(
            network,
            double=config.double,
            loss=config.loss,
            learning_rate=config.learning_rate,
            adam_eps=config.adam_eps,
            grad_clip_norm=config.grad_clip_norm,
            target_update_every=config.target_update_every,
            tau=config.tau,
            device=device,
            cuda_graph=config.cuda_graph,
            precision=config.precision,
        )

    def to_tensors(self, batch: Batch) -> tuple[torch.Tensor, ...]:
        return tuple(
            torch.from_numpy(array).to(self.device, non_blocking=True)
            for array in batch.learning_arrays()
        )

    def update(self, batch: Batch) -> torch.Tensor:
        """One gradient step on ``batch``; returns the loss as a 0-d tensor (no device sync)."""
        if self.graphed is not None:
            loss = self.graphed.step(batch)
        else:
            loss = self.batch_step(*self.to_tensors(batch))
        self.grad_updates += 1
        if self.grad_updates % self.target_update_every == 0:
            polyak_update(self.target, self.online, self.tau)
            self._refresh_target_compute()
        return loss

    def _refresh_target_compute(self) -> None:
        if self.target_compute is not self.target:
            self.target_compute.load_state_dict(self.target.state_dict())  # casts to bf16

    def batch_step(self, obs, actions, returns, discounts, next_obs) -> torch.Tensor:
        """``gradient_step`` on a batch's device tensors, gathering its stacks first where they
        are indices into the replay's device frames (``read_frames``)."""
        if self.frames is not None:
            obs, next_obs = self.frames[obs], self.frames[next_obs]  # (B, k, *frame)
        return self.gradient_step(obs, actions, returns, discounts, next_obs)

    def gradient_step(self, obs, actions, returns, discounts, next_obs) -> torch.Tensor:
        """TD target, loss, backward, clipping and Adam step on device tensors; the loss (0-d)."""
        with self._arithmetic():
            q = self.online(obs).float()  # (B, A); first, so that its weight casts are cached
            with torch.no_grad():
                q_next_target = self.target_compute(next_obs).float()  # (B, A)
                q_next_online = self.online(next_obs).float() if self.double else None
                target = td_target(returns, discounts, q_next_target, q_next_online)  # (B,)
        q_taken = q.gather(1, actions[:, None]).squeeze(1)  # (B,)
        loss = td_loss(q_taken, target, self.loss_kind)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.grad_clip_norm > 0:
            nn.utils.clip_grad_norm_(self.online.parameters(), self.grad_clip_norm)
        self.optimizer.step()
        return loss.detach()

    def _arithmetic(self):
        """The forwards' context: bfloat16 autocast where ``precision`` says so (the backward of
        those ops then runs in bfloat16 too), else nothing. Its cache casts each online weight
        once per update, for both online forwards; CUDA graphs cannot record a cache."""
        if not self.bf16:
            return contextlib.nullcontext()
        cache = self.graphed is None
        return torch.autocast(self.device.type, dtype=torch.bfloat16, cache_enabled=cache)

    @torch.no_grad()
    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """Online Q-values (N, A) for stored observations (N, k, *frame)."""
        return self.online(torch.from_numpy(obs).to(self.device)).float().cpu().numpy()

    def state_dict(self) -> dict:
        return {
            "online": self.online.state_dict(),
            "target": self.target.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "grad_updates": self.grad_updates,
        }

    def load_state_dict(self, state: dict) -> None:
        self.online.load_state_dict(state["online"])
        self.target.load_state_dict(state["target"])
        self._refresh_target_compute()
        self.optimizer.load_state_dict(state["optimizer"])  # new state tensors:
        for group in self.optimizer.param_groups:  # as this learner runs, not as the saved one
            group["capturable"] = self.graphed is not None
        if self.graphed is not None:
            self.graphed.reset()  # a recorded graph would still point at the old ones
        self.grad_updates = int(state["grad_updates"])
