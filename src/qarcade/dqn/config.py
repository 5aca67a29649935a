"""Hyperparameters of the DQN family: one frozen dataclass, named presets, the four algorithms.

Every field is declared once, with its one-line help in ``metadata["help"]``; the CLI turns each
field into a flag (``--learning-rate``), presets are ``dataclasses.replace`` of the defaults, and
the resolved config is saved as ``config.json`` in every run directory.

DQN (Mnih et al. 2015), Double DQN (van Hasselt et al. 2016) and Dueling DQN (Wang et al. 2016)
differ only in two flags: ``double`` picks the TD target, ``dueling`` picks the network head.
D3QN is both. ``--algo`` sets exactly those two flags and nothing else.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from qarcade.errors import UserError


def _f(default: Any, help: str, choices: tuple | None = None):
    """A config field: its default, its one-line help (the CLI's --help) and allowed values."""
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass(frozen=True)
class DQNConfig:
    # --- environment ---
    env: str = _f(
        "gridworld", "environment: gridworld or mspacman (qarcade.dqn.envs.ENV_FACTORIES)"
    )
    grid_size: int = _f(5, "gridworld: cells per side")
    partial: bool = _f(False, "gridworld: observe only the 3x3 window around the hero")
    max_episode_steps: int = _f(
        50,
        "episode length limit in env steps (truncation, not an end); Atari: 4 emulator frames "
        "each (27,000 = the literature's 108k frames, 30 minutes of play)",
    )
    num_envs: int = _f(16, "environment copies stepped together (one batched forward per step)")
    frame_stack: int = _f(1, "frames per observation, rebuilt by index from the replay")
    compact_replay: bool = _f(
        True, "store the env's exact compact frame code (gridworld: its 7x7x3 grid), not pixels"
    )
    grid_input: bool = _f(
        True,
        "gridworld on a CPU: feed the network the 7x7x3 grid the 84x84 frame is scaled from; "
        "an image CNN runs its first conv on it exactly as on the frame (same network and "
        "outputs; updates ~1.2x cheaper on a CPU); pixels on a GPU (2.5x faster there) and "
        "where the conv does not fit the grid's cells",
    )
    atari_preprocessing: str = _f(
        "standard",
        "Atari: standard = DeepMind's (84x84 grey, skip 4 + max-pool, 30 no-ops, clipped "
        "rewards and life loss for learning); lab = the lab's (88x80x1 int8, skip 2..4, raw)",
        ("standard", "lab"),
    )
    atari_backend: str = _f(
        "auto",
        "Atari vector env: auto = ale-py's C++ one for standard (fastest; resume restarts the "
        "games in progress), async processes for lab; sync and async resume step for step",
        ("auto", "ale", "async", "sync"),
    )
    # --- network ---
    network: str = _f(
        "lab",
        "torso: the lab's CNN, the Nature CNN, a one-cell-per-pixel CNN (cells), "
        "14x14-pooled pixels + MLP (tiny), or an MLP",
        ("lab", "nature", "cells", "tiny", "mlp"),
    )
    dueling: bool = _f(True, "dueling head Q = V + A - mean(A) instead of a plain head")
    # --- learning ---
    double: bool = _f(True, "double DQN target: online argmax, target network evaluates")
    gamma: float = _f(0.8, "discount per env step (the lab: 0.99)")
    n_step: int = _f(3, "n-step returns (1 = one-step TD as in the lab)")
    learning_rate: float = _f(1e-3, "Adam learning rate")
    adam_eps: float = _f(1e-8, "Adam epsilon")
    loss: str = _f("huber", "TD loss on (Q - target)", ("mse", "huber"))
    precision: str = _f(
        "auto",
        "arithmetic of the updates' forwards and backward: bf16 autocasts them to bfloat16 "
        "(weights, targets, loss and Adam stay float32); auto = bf16 on a CPU with bfloat16 "
        "matrix units (Intel AMX: lab-CNN updates ~1.35x cheaper), else float32",
        ("auto", "float32", "bf16"),
    )
    grad_clip_norm: float = _f(10.0, "clip the gradient's global L2 norm (0 = no clipping)")
    batch_size: int = _f(64, "transitions per gradient update")
    buffer_size: int = _f(20_000, "replay capacity in transitions (all envs together)")
    warmup_steps: int = _f(800, "env steps of uniformly random play before learning starts")
    train_every_steps: int = _f(16, "env steps between update rounds")
    updates_per_round: int = _f(1, "gradient updates per round")
    target_update_every: int = _f(50, "gradient updates between target syncs")
    tau: float = _f(1.0, "target sync: 1 = hard copy, <1 = Polyak weight of the online net")
    # --- exploration ---
    epsilon_start: float = _f(1.0, "epsilon when learning starts (warm-up play is uniform)")
    epsilon_end: float = _f(0.02, "final epsilon")
    epsilon_decay_steps: int = _f(5_000, "env steps after warm-up to anneal epsilon linearly")
    # --- evaluation and stopping ---
    eval_every_steps: int = _f(0, "env steps between greedy evaluations (0 = only at the end)")
    eval_episodes: int = _f(16, "episodes per periodic greedy evaluation")
    final_eval_episodes: int = _f(100, "episodes of the final greedy evaluation (0 = none)")
    eval_epsilon: float = _f(0.0, "epsilon of every evaluation (Atari: 0.01, as the literature)")
    goal: float = _f(15.0, "stop when the goal metric reaches this (lab: 15)")
    goal_metric: str = _f(
        "train",
        "train = mean reward of the last goal_window training episodes; eval = greedy evaluation",
        ("train", "eval"),
    )
    goal_window: int = _f(50, "training episodes averaged by the train goal metric")
    max_steps: int = _f(200_000, "stop after this many env steps (all envs together)")
    max_minutes: float = _f(
        0.0, "stop after this many minutes of training in all, resumes included (0 = no limit)"
    )
    checkpoint_every_steps: int = _f(0, "env steps between checkpoints (0 = only when stopping)")
    video: bool = _f(True, "record a greedy episode as video.mp4 at the end")
    # --- machine ---
    seed: int = _f(0, "seed of every random generator")
    device: str = _f("auto", "auto picks CUDA when present", ("auto", "cpu", "cuda"))
    cuda_graph: bool = _f(
        True, "GPU: record one update as a CUDA graph and replay it per batch (no effect on CPU)"
    )
    replay_on_device: bool = _f(
        True,
        "GPU: keep a copy of the replay's frames on the GPU and gather each batch there (when "
        "they fit in half its free memory; not with the gridworld's compact frames)",
    )
    torch_threads: int = _f(0, "torch CPU threads (0 = one per core)")

    def __post_init__(self):
        check_config(self)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @staticmethod
    def from_saved(values: dict) -> DQNConfig:
        """A run directory's config.json; a field it lacks (added since) takes the value the
        run was trained with (``ADDED_FIELDS``), so old runs resume and evaluate as they were."""
        return DQNConfig.from_dict({**ADDED_FIELDS, **values})

    @staticmethod
    def from_dict(values: dict) -> DQNConfig:
        known = {f.name for f in dataclasses.fields(DQNConfig)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UserError(f"unknown config fields: {', '.join(unknown)}")
        return DQNConfig(**values)

    @property
    def algo(self) -> str:
        return algo_name(self.double, self.dueling)


# Fields whose default changes what a run does, with the behaviour runs had before the field
# existed: replays of pixels, float32 updates, networks reading pixels.
ADDED_FIELDS = {"compact_replay": False, "precision": "float32", "grid_input": False}


def check_config(config: DQNConfig) -> None:
    """Raise UserError naming the first field whose value cannot work."""
    for f in dataclasses.fields(config):
        choices = f.metadata.get("choices")
        value = getattr(config, f.name)
        if choices and value not in choices:
            raise UserError(f"{f.name} must be one of {', '.join(choices)}, got {value!r}")
    positive = (
        "grid_size num_envs frame_stack n_step batch_size buffer_size train_every_steps "
        "updates_per_round target_update_every epsilon_decay_steps goal_window max_steps "
        "max_episode_steps eval_episodes"
    ).split()
    for name in positive:
        if getattr(config, name) <= 0:
            raise UserError(f"{name} must be positive, got {getattr(config, name)}")
    for name in ("learning_rate", "adam_eps"):
        if not getattr(config, name) > 0:  # also refuses NaN
            raise UserError(f"{name} must be positive, got {getattr(config, name)}")
    not_negative = (
        "seed warmup_steps grad_clip_norm final_eval_episodes eval_every_steps max_minutes "
        "checkpoint_every_steps torch_threads"
    ).split()
    for name in not_negative:
        if not getattr(config, name) >= 0:
            raise UserError(f"{name} must be 0 or more, got {getattr(config, name)}")
    if not 0.0 < config.tau <= 1.0:
        raise UserError(f"tau must be in (0, 1], got {config.tau}")
    if not 0.0 <= config.gamma <= 1.0:
        raise UserError(f"gamma must be in [0, 1], got {config.gamma}")
    for name in ("epsilon_start", "epsilon_end", "eval_epsilon"):
        if not 0.0 <= getattr(config, name) <= 1.0:
            raise UserError(f"{name} must be in [0, 1], got {getattr(config, name)}")
    if config.buffer_size // config.num_envs < config.n_step + config.frame_stack + 2:
        raise UserError("buffer_size is too small for num_envs, n_step and frame_stack")


# The four algorithms are two flags: (double, dueling).
ALGOS: dict[str, tuple[bool, bool]] = {
    "dqn": (False, False),
    "double": (True, False),
    "dueling": (False, True),
    "d3qn": (True, True),
}


def algo_name(double: bool, dueling: bool) -> str:
    return {flags: name for name, flags in ALGOS.items()}[(double, dueling)]


def with_algo(config: DQNConfig, algo: str) -> DQNConfig:
    if algo not in ALGOS:
        raise UserError(f"unknown algo {algo!r}; choose one of {', '.join(ALGOS)}")
    double, dueling = ALGOS[algo]
    return dataclasses.replace(config, double=double, dueling=dueling)


# The lab's DQN, exactly: one env; 100 random episodes (5,000 steps); then every 5th episode
# (250 steps) 20 updates of batch 64 followed by a hard target copy; epsilon 0.6 -> 0.1 by 0.0005
# per episode (1,000 episodes = 50,000 steps); Adam 1e-4, MSE, gamma 0.99, replay 50,000.
LAB = DQNConfig(
    num_envs=1,
    network="lab",
    double=False,
    dueling=False,
    gamma=0.99,
    n_step=1,
    learning_rate=1e-4,
    loss="mse",
    grad_clip_norm=0.0,
    batch_size=64,
    buffer_size=50_000,
    warmup_steps=5_000,
    train_every_steps=250,
    updates_per_round=20,
    target_update_every=20,
    tau=1.0,
    epsilon_start=0.6,
    epsilon_end=0.1,
    epsilon_decay_steps=50_000,
    max_steps=500_000,
    precision="float32",
)

# Tuned for wall time on a 2-core CPU with the lab's CNN: 16 envs share one forward per step,
# D3QN with 3-step returns, a 10x higher learning rate, one update per vector step, and a
# shorter horizon (gamma 0.8: the goals are a few steps away; with 0.99 the action's effect is a
# small difference on top of a large value, and learning took several times more steps).
FAST = DQNConfig()

# The fastest on this CPU with any network: ``fast`` with the one-cell-per-pixel CNN, whose
# updates cost a fraction of the lab CNN's (goal in a median 4.4 s instead of 8.5 s, 2 cores).
FASTEST = dataclasses.replace(FAST, network="cells")

# Ms. Pac-Man, DeepMind's preprocessing: Nature CNN on 4 stacked 84x84 frames (rebuilt by the
# replay), Dopamine-like DQN settings in env steps (4 frames each): replay 1M, 20k random steps,
# one update of 32 every 4 env steps, target copy every 8k env steps (2,000 updates), epsilon
# 1 -> 0.01 over 250k env steps (1M frames), Adam 1e-4, Huber, gradient norm clipped at 10;
# 3-step returns (Rainbow's) for speed. 2.5M env steps = 10M frames; evaluation at epsilon 0.01
# on whole games (raw score), 10 every 250k env steps and 30 at the end; stops at a mean
# evaluation score of 2,500 (the goal; Nature DQN: 2,311 after 200M frames).
ATARI = DQNConfig(
    env="mspacman",
    atari_preprocessing="standard",
    max_episode_steps=27_000,
    num_envs=8,
    frame_stack=4,
    network="nature",
    gamma=0.99,
    n_step=3,
    learning_rate=1e-4,
    adam_eps=1.5e-4,
    loss="huber",
    grad_clip_norm=10.0,
    batch_size=32,
    buffer_size=1_000_000,
    warmup_steps=20_000,
    train_every_steps=4,
    updates_per_round=1,
    target_update_every=2_000,
    epsilon_start=1.0,
    epsilon_end=0.01,
    epsilon_decay_steps=250_000,
    eval_every_steps=250_000,
    eval_episodes=10,
    final_eval_episodes=30,
    eval_epsilon=0.01,
    goal=2_500.0,
    goal_metric="eval",
    goal_window=100,
    max_steps=2_500_000,
    checkpoint_every_steps=500_000,
    precision="float32",  # bf16 is not measured on Atari learning yet
)

# The same learning on the lab's preprocessing: one 88x80x1 int8 frame per observation (no
# stack, as the lab fed it), v5 with a random skip of 2..4 (the lab's MsPacman-v0), raw rewards,
# whole games and no life-loss terminal.
ATARI_LAB = dataclasses.replace(ATARI, atari_preprocessing="lab", frame_stack=1)

PRESETS: dict[str, DQNConfig] = {
    "fast": FAST,
    "fastest": FASTEST,
    "lab": LAB,
    "atari": ATARI,
    "atari-lab": ATARI_LAB,
}

# The preset used when --preset is not given, per env.
DEFAULT_PRESETS: dict[str, str] = {"gridworld": "fast", "mspacman": "atari"}


def default_preset(env: str) -> str:
    return DEFAULT_PRESETS.get(env, "fast")


def preset(name: str) -> DQNConfig:
    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


def field_help() -> dict[str, str]:
    """Each field's one-line help, as the CLI shows it."""
    return {f.name: f.metadata["help"] for f in dataclasses.fields(DQNConfig)}


def build_config(preset_name: str, algo: str | None, overrides: dict) -> DQNConfig:
    """A preset, then ``--algo``'s two flags, then explicit field overrides (in that order)."""
    config = preset(preset_name)
    if algo is not None:
        config = with_algo(config, algo)
    return dataclasses.replace(config, **overrides)
