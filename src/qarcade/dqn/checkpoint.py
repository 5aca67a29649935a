"""What a training run saves to continue exactly, and how a resumed run starts from it.

A checkpoint holds the learner (networks, Adam, its loss average), the replay, the ``Counters``,
the numpy and torch RNG states and the pickled vector env (with its episode statistics), so
``--resume`` continues step for step as if never stopped (on a CPU, bit for bit). An env that
cannot be pickled restarts its episodes on resume instead (the replay marks the cut as a
truncation). ``RunDir`` (``qarcade.runs``) writes it atomically.
"""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from qarcade.dqn.config import DQNConfig, resumable_fields
from qarcade.errors import UserError
from qarcade.runs import RunDir


@dataclass
class Counters:
    """The loop's progress besides networks, replay and RNGs; saved in every checkpoint."""

    env_steps: int = 0
    vector_steps: int = 0
    episodes: int = 0
    update_rounds: int = 0
    wall_seconds: float = 0.0
    recent_returns: list = field(default_factory=list)  # the last goal_window episodes
    last_loss: float = float("nan")  # mean loss up to the last finished episode
    evaluations: int = 0
    next_eval_step: int = 0
    next_checkpoint_step: int = 0
    last_eval: dict | None = None
    goal_reached: dict | None = None  # {"step", "episode", "wall_seconds", "value"}

    @classmethod
    def start(cls, config: DQNConfig) -> Counters:
        return cls(
            next_eval_step=config.eval_every_steps,
            next_checkpoint_step=config.checkpoint_every_steps,
        )


# Counters that checkpoints written before the learner kept its loss average, and before the
# envs recorded episode statistics, still hold.
_MOVED_COUNTERS = ("loss_sum", "loss_count", "episode_return", "episode_length")


def resume_config(run_dir: str | Path, overrides: dict) -> DQNConfig:
    """The saved config of ``run_dir`` with ``overrides`` of resumable fields applied."""
    saved = DQNConfig.from_saved(RunDir.open(run_dir).read_config())
    fixed = {k: v for k, v in overrides.items() if getattr(saved, k) != v}
    changed = sorted(set(fixed) - resumable_fields())
    if changed:
        raise UserError(f"cannot change {', '.join(changed)} when resuming a run")
    return dataclasses.replace(saved, **fixed)


def budget_spent(config: DQNConfig, counters: Counters) -> str | None:
    """Which of the run's budgets its counters have already reached, said for the user."""
    if counters.env_steps >= config.max_steps:
        return f"max_steps {config.max_steps:,} already reached ({counters.env_steps:,} env steps)"
    if config.max_minutes and counters.wall_seconds >= 60.0 * config.max_minutes:
        minutes = counters.wall_seconds / 60.0
        return f"max_minutes {config.max_minutes:g} already reached ({minutes:.1f} minutes trained)"
    return None


def checkpoint_state(config, learner, replay, counters, rngs, envs) -> dict:
    """All the loop needs to continue. ``rngs``: {"explore", "replay"} numpy Generators."""
    return {
        "learner": learner.state_dict(),
        "replay": replay.state_dict(),
        "counters": dataclasses.asdict(counters),
        "rng": {
            **{name: rng.bit_generator.state for name, rng in rngs.items()},
            "torch": torch.get_rng_state(),
        },
        "envs": pickled(envs),
        "config": config.to_dict(),
    }


def restore_checkpoint(checkpoint: dict, run: RunDir, learner, replay, rngs, envs):
    """Load ``checkpoint`` into the learner, replay and RNGs; returns (counters, envs).

    ``envs`` is replaced (and closed) by the pickled vector env where the checkpoint has one.
    """
    try:
        saved = dict(checkpoint["counters"])
        moved = {name: saved.pop(name) for name in _MOVED_COUNTERS if name in saved}
        learner_state = {**moved, **checkpoint["learner"]}  # older checkpoints: from counters
        learner_state.setdefault("loss_sum", 0.0)
        learner_state.setdefault("loss_count", 0)
        learner.load_state_dict(learner_state)
        replay.load_state_dict(checkpoint["replay"])
        counters = Counters(**saved)
        for name, rng in rngs.items():
            rng.bit_generator.state = checkpoint["rng"][name]
        torch.set_rng_state(checkpoint["rng"]["torch"])
        if checkpoint["envs"] is not None:
            envs.close()
            envs = pickle.loads(checkpoint["envs"])
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise UserError(f"checkpoint in {run.path} does not match its config: {error}") from None
    return counters, envs


def pickled(envs) -> bytes | None:
    """The vector env's whole state (game, RNGs, step counters), or None if it cannot pickle."""
    try:
        return pickle.dumps(envs)
    except Exception:  # e.g. envs holding closures or emulator handles
        return None


def numpy_rngs(seed: int) -> tuple[dict[str, np.random.Generator], int]:
    """Independent streams from one seed: ({"explore": epsilon-greedy choices, "replay":
    minibatch sampling}, the base seed of the evaluation envs)."""
    explore, replay, evaluation = np.random.SeedSequence(seed).spawn(3)
    rngs = {"explore": np.random.default_rng(explore), "replay": np.random.default_rng(replay)}
    return rngs, int(evaluation.generate_state(1)[0])
