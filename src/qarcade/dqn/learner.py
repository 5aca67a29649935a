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

import copy
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from qarcade.dqn.device import Executor, QFunction
from qarcade.dqn.networks import to_device
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


def act(
    q: QFunction,
    observe: Callable[[], np.ndarray],
    live: np.ndarray,
    n_actions: int,
    epsilon: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Epsilon-greedy actions (N,) for N envs, ``live`` (N,) False where the step only resets.

    ``observe()`` gives the stacked observations (N, k, *frame); it and the forward run only
    when some live env acts greedily. The same random draws either way."""
    explore, random_actions = exploration_draws(len(live), n_actions, epsilon, rng)
    if (live & ~explore).any():
        greedy = q(observe()).argmax(axis=1)  # (N,)
    else:  # every env explores or resets
        greedy = np.zeros(len(live), np.int64)
    return np.where(explore, random_actions, greedy)


@torch.no_grad()
def polyak_update(target: nn.Module, online: nn.Module, tau: float) -> None:
    """target <- tau * online + (1 - tau) * target, parameter by parameter."""
    for t, o in zip(target.parameters(), online.parameters(), strict=True):
        if tau >= 1.0:
            t.copy_(o)
        else:
            t.lerp_(o, tau)


class LossAverage:
    """The mean of the losses since it was last read, added up on their device.

    Reading a GPU tensor waits for every update queued before it, so the sum stays on the
    device, in float64, a step's float32 losses at a time, and is read only when asked (an
    episode's end, a checkpoint): the numbers a Python float adding each step's sum would give.
    """

    def __init__(self, total: float = 0.0, count: int = 0):
        self.total: float | torch.Tensor = total
        self.count = count

    def add(self, losses: list[torch.Tensor]) -> None:
        self.total = self.total + torch.stack(losses).sum().double()
        self.count += len(losses)

    def state(self) -> tuple[float, int]:
        """(sum, count) as Python numbers, read from the device."""
        self.total = float(self.total)
        return self.total, self.count

    def read_mean(self) -> float | None:
        """The mean since the last read (None without updates since), and start anew."""
        if not self.count:
            return None
        total, count = self.state()
        self.total, self.count = 0.0, 0
        return total / count


class Learner:
    """Online and target Q-networks and their Adam optimiser; one ``update`` per batch.

    ``executor`` (``qarcade.dqn.device``) runs ``gradient_step`` on ``device``: the batch's
    transfer, bf16 autocast where ``precision`` asks for it, CUDA graphs where ``cuda_graph``.
    """

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
        self.online = to_device(online, device)
        self.target = copy.deepcopy(self.online).requires_grad_(False)
        self.double = double
        self.loss_kind = loss
        self.grad_clip_norm = grad_clip_norm
        self.target_update_every = target_update_every
        self.tau = tau
        self.device = device
        self.executor = Executor(self, device, precision, cuda_graph)
        self.precision = self.executor.precision
        # fused: one kernel for all parameters, not one per tensor
        self.optimizer = torch.optim.Adam(
            self.online.parameters(),
            lr=learning_rate,
            eps=adam_eps,
            fused=True,
            capturable=self.executor.capturable,
        )
        self.grad_updates = 0
        self.losses = LossAverage()

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

    def learn(self, batches: list[Batch]) -> None:
        """``update`` on each of a step's batches; their losses join the running average."""
        if batches:
            self.losses.add([self.update(batch) for batch in batches])

    def update(self, batch: Batch) -> torch.Tensor:
        """One gradient step on ``batch``, then the target sync when due; the loss (0-d tensor,
        not read: reading it would wait for the device)."""
        loss = self.executor.step(batch)
        self.grad_updates += 1
        if self.grad_updates % self.target_update_every == 0:
            self.sync_target()
        return loss

    def sync_target(self) -> None:
        polyak_update(self.target, self.online, self.tau)
        self.executor.target_changed()

    def gradient_step(self, obs, actions, returns, discounts, next_obs) -> torch.Tensor:
        """TD target, loss, backward, clipping and Adam step; the loss (0-d).

        Device tensors: obs and next_obs (B, k, *frame), actions (B,) int64, returns and
        discounts (B,) float32 (the n-step sum and gamma**n, 0 after a termination).
        """
        with self.executor.autocast():
            q = self.online(obs).float()  # (B, A); first, so that autocast caches weight casts
            with torch.no_grad():
                q_next_target = self.executor.target(next_obs).float()  # (B, A)
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

    @torch.no_grad()
    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """Online Q-values (N, A) for stored observations (N, k, *frame)."""
        return self.online(torch.from_numpy(obs).to(self.device)).float().cpu().numpy()

    def state_dict(self) -> dict:
        loss_sum, loss_count = self.losses.state()
        return {
            "online": self.online.state_dict(),
            "target": self.target.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "grad_updates": self.grad_updates,
            "loss_sum": loss_sum,
            "loss_count": loss_count,
        }

    def load_state_dict(self, state: dict) -> None:
        self.online.load_state_dict(state["online"])
        self.target.load_state_dict(state["target"])
        self.executor.target_changed()
        self.optimizer.load_state_dict(state["optimizer"])
        self.executor.optimizer_loaded(self.optimizer)
        self.grad_updates = int(state["grad_updates"])
        self.losses = LossAverage(float(state["loss_sum"]), int(state["loss_count"]))
