"""What a training run saves to continue exactly, and how a resumed run starts from it.

A checkpoint holds the learner (networks, Adam, its loss average), the replay, the ``Counters``,
the numpy and torch RNG states, the config, and the vector env's state as arrays and plain
values (``qarcade.envs.snapshot``: games, RNGs, step counters, episode statistics). ``--resume``
builds the env anew from the config and loads that state into it, so the run continues step
for step as if never stopped (on a CPU, bit for bit). An env whose state cannot be read
(ale-py's vector env) restarts its episodes on resume instead (the replay marks the cut as a
truncation). ``RunDir`` (``qarcade.runs``) writes it atomically with its sha256 and reads it as
data only: nothing in a checkpoint is unpickled as code.

The config inside the checkpoint is the run's truth: a config.json that disagrees with it on
what the run learns is reported in one line and not obeyed. A run stopped before its first
checkpoint resumes from the start with its saved config.
"""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from qarcade.dqn.config import DQNConfig, resumable_fields
from qarcade.dqn.envs import with_episode_statistics
from qarcade.envs.snapshot import restore_vector, vector_snapshot
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
    goal_reached: dict | None = None  # {"step", "episode", "wall_seconds", "value", "goal", ...}
    train_goal_reached: dict | None = None  # the same keys, of ``train_goal`` (goes on)

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
        "env_state": vector_snapshot(envs),
        "config": config.to_dict(),
    }


def read_checkpoint(run: RunDir | None, config: DQNConfig, log, trust: bool = False):
    """A resumed run's checkpoint and the config it goes on with: (checkpoint, config), or
    (None, config) for a new run (``run`` None) and for a run stopped before its first
    checkpoint (it starts over).

    ``trust``: also load a checkpoint of an older qarcade (pickled, for a run you trust)."""
    if run is None:
        return None, config
    if not run.has_checkpoint():
        log("no checkpoint yet: the run starts over with its saved config")
        run.truncate_metrics(0, 0)
        return None, config
    checkpoint = run.load_checkpoint(trust=trust)  # a refusal: train() lets the directory go
    return checkpoint, checkpoint_config(checkpoint, run, log, config)


def checkpoint_config(checkpoint: dict, run: RunDir, log, config: DQNConfig | None = None):
    """The config saved in ``checkpoint`` (the truth) with the resumable fields that
    ``config`` changes from config.json; a config.json that disagrees with the checkpoint on a
    field that changes the learning or the game is said in one line through ``log``."""
    if "config" not in checkpoint:  # checkpoints written before they held it
        return config or DQNConfig.from_saved(run.read_config())
    try:
        saved = DQNConfig.from_saved(checkpoint["config"])
    except (TypeError, ValueError, AttributeError) as error:
        raise UserError(f"checkpoint in {run.path} holds no valid config: {error}") from None
    try:
        on_disk = DQNConfig.from_saved(run.read_config())
    except (UserError, TypeError, ValueError, AttributeError):
        log(f"{run.path / 'config.json'} is not a config: the checkpoint's config is used")
        return saved
    resumable = resumable_fields()  # a resume may change these: not a disagreement
    names = [f.name for f in dataclasses.fields(DQNConfig)]
    differ = [n for n in names if n not in resumable and getattr(on_disk, n) != getattr(saved, n)]
    if differ:
        said = ", ".join(f"{n} {getattr(on_disk, n)!r} (checkpoint: {getattr(saved, n)!r})"
                         for n in differ)  # fmt: skip
        log(f"config.json disagrees with the checkpoint on {said}: the checkpoint's config is used")
    if config is None:
        return saved
    given = {n: getattr(config, n) for n in names if getattr(config, n) != getattr(on_disk, n)}
    return dataclasses.replace(saved, **given)


def restore_checkpoint(checkpoint: dict, run: RunDir, learner, replay, rngs, envs):
    """Load ``checkpoint`` into the learner, replay, RNGs and envs; returns (counters, envs,
    whether the envs' state was restored). ``envs`` is replaced (and closed) where a trusted
    older checkpoint holds a pickled vector env instead of a snapshot."""
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
        if checkpoint.get("env_state") is not None:
            restore_vector(envs, checkpoint["env_state"])
        elif checkpoint.get("envs") is not None:  # only a trusted older checkpoint gets here
            envs.close()
            envs = pickle.loads(checkpoint["envs"])
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as error:
        raise UserError(f"checkpoint in {run.path} does not match its config: {error}") from None
    restored = checkpoint.get("env_state") is not None or checkpoint.get("envs") is not None
    return counters, envs, restored


def resume_from(checkpoint, run, config, learner, replay, rngs, envs, log):
    """Load ``checkpoint`` into the run's pieces; returns (counters, envs): the saved envs, or
    ``envs`` restarted where their state could not be saved (not step for step then)."""
    counters, envs, restored = restore_checkpoint(checkpoint, run, learner, replay, rngs, envs)
    envs = with_episode_statistics(envs)  # envs saved before they recorded episodes
    if not restored:
        log("env state was not saved: episodes in progress restart")
        frames, _ = envs.reset(seed=config.seed + counters.vector_steps)
        replay.cut_episodes(frames)
    run.truncate_metrics(counters.episodes, counters.evaluations)
    log(f"resumed at {counters.env_steps:,} env steps, {counters.episodes:,} episodes")
    spent = budget_spent(config, counters)
    if spent:
        log(f"{spent}: the run stops at once (budgets count the whole run, resumes included)")
    return counters, envs


def numpy_rngs(seed: int) -> tuple[dict[str, np.random.Generator], int]:
    """Independent streams from one seed: ({"explore": epsilon-greedy choices, "replay":
    minibatch sampling}, the base seed of the evaluation envs)."""
    explore, replay, evaluation = np.random.SeedSequence(seed).spawn(3)
    rngs = {"explore": np.random.default_rng(explore), "replay": np.random.default_rng(replay)}
    return rngs, int(evaluation.generate_state(1)[0])
