"""Hyperparameters of the DQN family: one frozen dataclass, named presets, the four algorithms.

Every field is declared once, by ``_f``: its default, its one-line help (the CLI's ``--help``),
its allowed values or range, whether a resumed run may change it, and the value runs had before
the field existed. The CLI turns each field into a flag (``--learning-rate``), presets are
``dataclasses.replace`` of the defaults, and the resolved config is saved as ``config.json``.

DQN (Mnih et al. 2015), Double DQN (van Hasselt et al. 2016) and Dueling DQN (Wang et al. 2016)
differ only in two flags: ``double`` picks the TD target, ``dueling`` picks the network head.
D3QN is both. ``--algo`` sets exactly those two flags and nothing else.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

from qarcade.errors import UserError

# More OpenMP threads than this only slow a run down, and far more abort libgomp: a few per
# core, with room for a run configured on a bigger machine and resumed on this one.
MAX_THREADS = 4 * max(os.cpu_count() or 1, 16)
# A frame stack is a handful of recent frames (DQN's is 4); far more multiplies every batch.
MAX_FRAME_STACK = 32

# What ``check`` may say of a numeric field: (test, how the error describes the range). Besides,
# ``check_config`` keeps every integer within numpy's and torch's int64 and every float finite
# but where the check is "goal" (a learning rate of inf makes every weight NaN).
CHECKS = {
    "positive": (lambda v: v > 0, "must be positive"),
    "not_negative": (lambda v: v >= 0, "must be 0 or more"),
    "unit": (lambda v: 0.0 <= v <= 1.0, "must be in [0, 1]"),
    "tau": (lambda v: 0.0 < v <= 1.0, "must be in (0, 1]"),
    "goal": (lambda v: -math.inf < v <= math.inf, "must be a number (inf: no goal)"),
    "frames": (lambda v: 1 <= v <= MAX_FRAME_STACK, f"must be in 1..{MAX_FRAME_STACK}"),
    "threads": (
        lambda v: 0 <= v <= MAX_THREADS,
        f"must be 0 (one per free core) to {MAX_THREADS} (a few per core)",
    ),
}
INT64 = 2**63  # numpy's and torch's integers (torch.manual_seed, array sizes) stay below it
_TYPES = {  # a field's type: (accepts, how the error names it)
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "float": (lambda v: isinstance(v, int | float) and not isinstance(v, bool), "a number"),
    "str": (lambda v: isinstance(v, str), "a string"),
}
_NO_DEFAULT = object()


def _f(
    default: Any,
    help: str,
    choices: tuple | None = None,
    *,
    check: str | None = None,
    resumable: bool = False,
    before: Any = _NO_DEFAULT,
    only: str | None = None,
):
    """A config field. ``check``: a key of ``CHECKS``. ``resumable``: ``--resume`` may change it
    (budgets and bookkeeping, not the learning). ``before``: the value runs saved before the
    field existed had in effect, for their config.json (default: the field's default).
    ``only``: the field matters only on "gridworld", on "atari", on "cuda" or with the "mlp"
    network (a run's log leaves it out elsewhere)."""
    metadata = {"help": help, "choices": choices, "check": check, "resumable": resumable}
    metadata["only"] = only
    if before is not _NO_DEFAULT:
        metadata["before"] = before
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class DQNConfig:
    # --- environment ---
    env: str = _f(
        "gridworld",
        "environment: gridworld, an Atari game (mspacman, breakout, ALE/Pong-v5) or any "
        "Gymnasium id with discrete actions (CartPole-v1, module:Env-v0)",
    )
    grid_size: int = _f(5, "gridworld: cells per side", check="positive", only="gridworld")
    partial: bool = _f(
        False, "gridworld: observe only the 3x3 window around the hero", only="gridworld"
    )
    max_episode_steps: int = _f(
        50,
        "episode length limit in env steps (a truncation; 0 = the env's own); Atari: 4 frames each",
        check="not_negative",
    )
    num_envs: int = _f(16, "environment copies stepped together", check="positive")
    frame_stack: int = _f(1, "frames per observation, rebuilt by index", check="frames")
    compact_replay: bool = _f(
        True,
        "store the env's exact compact frame code (gridworld: its grid), not pixels",
        before=False,
        only="gridworld",
    )
    grid_input: bool = _f(
        True,
        "gridworld on a CPU: the network reads the grid the frame is scaled from "
        "(the same network and outputs, cheaper); pixels on a GPU",
        before=False,
        only="gridworld",
    )
    atari_preprocessing: str = _f(
        "standard",
        "Atari: standard = DeepMind's (84x84 grey, skip 4, clipped rewards); lab = the lab's",
        ("standard", "lab"),
        only="atari",
    )
    atari_backend: str = _f(
        "auto",
        "Atari vector env: auto = ale-py's C++ one for standard, async processes for lab",
        ("auto", "ale", "async", "sync"),
        only="atari",
    )
    # --- network ---
    network: str = _f(
        "lab",
        "torso: the lab's CNN, the Nature CNN, one cell per pixel (cells), pooled (tiny), MLP",
        ("lab", "nature", "cells", "tiny", "mlp"),
    )
    mlp_width: int = _f(
        256, "mlp: units of each of its two hidden layers", check="positive", only="mlp"
    )
    dueling: bool = _f(True, "dueling head Q = V + A - mean(A) instead of a plain head")
    # --- learning ---
    double: bool = _f(True, "double DQN target: online argmax, target network evaluates")
    gamma: float = _f(0.8, "discount per env step (the lab: 0.99)", check="unit")
    n_step: int = _f(3, "n-step returns (1 = one-step TD as in the lab)", check="positive")
    learning_rate: float = _f(1e-3, "Adam learning rate", check="positive")
    adam_eps: float = _f(1e-8, "Adam epsilon", check="positive")
    loss: str = _f("huber", "TD loss on (Q - target)", ("mse", "huber"))
    precision: str = _f(
        "auto",
        "arithmetic of the updates: bf16 autocasts the forwards and backward; "
        "auto = bf16 on a CPU with bfloat16 matrix units, else float32",
        ("auto", "float32", "bf16"),
        resumable=True,
        before="float32",
    )
    grad_clip_norm: float = _f(
        10.0, "clip the gradient's global L2 norm (0 = no clipping)", check="not_negative"
    )
    batch_size: int = _f(64, "transitions per gradient update", check="positive")
    buffer_size: int = _f(20_000, "replay capacity in transitions (all envs)", check="positive")
    augment: bool = _f(
        True,
        "gridworld: learn each sampled transition turned by a random one of the square's 8 "
        "rotations and mirrors, its action turned alike (the game plays the same turned)",
        only="gridworld",
        before=False,
    )
    warmup_steps: int = _f(
        800, "env steps of uniformly random play before learning", check="not_negative"
    )
    train_every_steps: int = _f(16, "env steps between update rounds", check="positive")
    updates_per_round: int = _f(1, "gradient updates per round", check="positive")
    target_update_every: int = _f(50, "gradient updates between target syncs", check="positive")
    tau: float = _f(1.0, "target sync: 1 = hard copy, <1 = Polyak weight", check="tau")
    # --- exploration ---
    epsilon_start: float = _f(1.0, "epsilon when learning starts", check="unit")
    epsilon_end: float = _f(0.02, "final epsilon", check="unit")
    epsilon_decay_steps: int = _f(
        5_000, "env steps after warm-up to anneal epsilon linearly", check="positive"
    )
    # --- evaluation and stopping ---
    eval_every_steps: int = _f(
        0,
        "env steps between greedy evaluations (0 = only at the end)",
        check="not_negative",
        resumable=True,
    )
    eval_episodes: int = _f(
        16, "episodes per periodic evaluation", check="positive", resumable=True
    )
    final_eval_episodes: int = _f(
        100,
        "episodes of the final greedy evaluation (0 = none)",
        check="not_negative",
        resumable=True,
    )
    eval_epsilon: float = _f(
        0.0, "epsilon of every evaluation (Atari: 0.01)", check="unit", resumable=True
    )
    goal: float = _f(
        15.0, "stop when the goal metric reaches this (lab: 15)", check="goal", resumable=True
    )
    goal_metric: str = _f(
        "train",
        "train = mean reward of the last goal_window training episodes; eval = evaluation",
        ("train", "eval"),
        resumable=True,
    )
    goal_max_stuck: float = _f(
        0.0,
        "eval goal: the largest share of evaluation episodes that may end stuck (no reward and "
        "at most 2 different observations in their last 10 steps)",
        check="unit",
        resumable=True,
        before=1.0,
    )
    train_goal: float = _f(
        15.0,
        "note when the mean reward of the last goal_window training episodes first reaches "
        "this (the lab's goal), without stopping; 0 = none",
        resumable=True,
        before=0.0,
    )
    goal_window: int = _f(
        50, "training episodes averaged by the train goal", check="positive", resumable=True
    )
    max_steps: int = _f(
        200_000, "stop after this many env steps (all envs)", check="positive", resumable=True
    )
    max_minutes: float = _f(
        0.0,
        "stop after this many minutes in all, resumes included (0 = no limit)",
        check="not_negative",
        resumable=True,
    )
    checkpoint_every_steps: int = _f(
        0,
        "env steps between checkpoints (0 = only when stopping)",
        check="not_negative",
        resumable=True,
    )
    checkpoint_every_minutes: float = _f(
        5.0,
        "minutes of training between checkpoints, besides checkpoint_every_steps (0 = none): "
        "a crash loses at most this much",
        check="not_negative",
        resumable=True,
    )
    video: bool = _f(True, "record a greedy episode as video.mp4 at the end", resumable=True)
    # --- machine ---
    seed: int = _f(0, "seed of every random generator", check="not_negative")
    device: str = _f(
        "auto", "auto picks CUDA when present", ("auto", "cpu", "cuda"), resumable=True
    )
    cuda_graph: bool = _f(
        True, "GPU: replay each update as a recorded CUDA graph", resumable=True, only="cuda"
    )
    replay_on_device: bool = _f(
        True,
        "GPU: keep the replay's frames on the GPU, gather batches there",
        resumable=True,
        only="cuda",
    )
    torch_threads: int = _f(
        0,
        "torch CPU threads (0 = one per core other work leaves free, re-checked during the run;"
        " N fixes it, so a seed repeats its numbers)",
        check="threads",
        resumable=True,
    )

    def __post_init__(self):
        check_config(self)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @staticmethod
    def from_saved(values: dict) -> DQNConfig:
        """A run directory's config.json; a field it lacks (added since) takes the value the
        run was trained with (its ``before``), so old runs resume and evaluate as they were."""
        return DQNConfig.from_dict({**added_fields(), **values})

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


def resumable_fields() -> set[str]:
    """Fields a resumed run may change: budgets and bookkeeping, not the learning."""
    return {f.name for f in dataclasses.fields(DQNConfig) if f.metadata["resumable"]}


def added_fields() -> dict[str, Any]:
    """Fields whose default changes what a run does, with the value runs had before them."""
    return {
        f.name: f.metadata["before"]
        for f in dataclasses.fields(DQNConfig)
        if "before" in f.metadata
    }


def shown_fields(config: DQNConfig, device_type: str) -> dict[str, Any]:
    """The fields that matter for ``config``'s env on ``device_type``, as a run's log shows
    them (config.json keeps them all)."""
    applies = {
        None: True,
        "gridworld": config.env == "gridworld",
        "atari": env_family(config.env) == "atari",
        "cuda": device_type == "cuda",
        "mlp": config.network == "mlp",
    }
    return {
        f.name: getattr(config, f.name)
        for f in dataclasses.fields(config)
        if applies[f.metadata["only"]]
    }


def check_config(config: DQNConfig) -> None:
    """Raise UserError naming the first field whose value cannot work (a config.json or a
    sweep file may hold any JSON or TOML value: a string, a list, null, a bool for a number).
    An integer given for a float field becomes a float."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        accepts, kind = _TYPES.get(f.type, (lambda v: True, ""))  # another type: its own checks
        if not accepts(value):
            raise UserError(f"{f.name} must be {kind}, got {value!r}")
        if f.type == "int" and not -INT64 < value < INT64:
            raise UserError(f"{f.name} must be below 2^63 (a 64-bit integer), got {value}")
        if f.type == "float" and isinstance(value, int):
            try:
                value = float(value)
            except OverflowError:
                raise UserError(f"{f.name} is too large, got {value}") from None
            object.__setattr__(config, f.name, value)  # frozen: the one place it is set
        if f.type == "float" and not math.isfinite(value) and f.metadata["check"] != "goal":
            raise UserError(f"{f.name} must be a finite number, got {value}")
        choices = f.metadata["choices"]
        if choices and value not in choices:
            raise UserError(f"{f.name} must be one of {', '.join(choices)}, got {value!r}")
        check = f.metadata["check"]
        if check is not None:
            test, says = CHECKS[check]
            if not test(value):  # also refuses NaN
                raise UserError(f"{f.name} {says}, got {value}")
    if config.buffer_size // config.num_envs < config.n_step + config.frame_stack + 2:
        raise UserError("buffer_size is too small for num_envs, n_step and frame_stack")
    if config.batch_size > config.buffer_size:
        raise UserError(
            f"batch_size {config.batch_size:,} is more than the replay holds "
            f"(buffer_size {config.buffer_size:,})"
        )
    if config.env == "gridworld" and config.max_episode_steps == 0:
        raise UserError("max_episode_steps must be positive on the gridworld (it never ends)")


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
    augment=False,
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

# Tuned for wall time on a 2-core CPU: a CNN of the lab's family whose first conv sees one
# gridworld cell per output (``cells``: 12x12 stride 12, then a 3x3 conv and a dense layer of
# 256; its updates cost about a third of the lab CNN's, which took 2.4x the time of the demo
# before it to play this well), 16 envs sharing one forward per step, D3QN with 3-step returns,
# one update per vector step, a 5x higher learning rate than the lab's (at 1e-3 this network
# stalled near random play on 2 seeds of 14), a shorter horizon (gamma 0.8: the goals are a
# few steps away; with 0.99 the action's effect is a small difference on top of a large value,
# and learning took several times more steps), and batches turned by the square's symmetries.
# It stops on what a user watches, greedy play: an evaluation of 50 episodes every 1,600 env
# steps scoring 24 (a shortest-path planner ~26.3) with none of them stuck in a loop; the lab's
# training goal (15) is noted on the way. ``--network lab`` trains the lab's own CNN instead.
FAST = DQNConfig(
    network="cells",
    learning_rate=5e-4,
    goal_metric="eval",
    goal=24.0,
    eval_every_steps=1_600,
    eval_episodes=50,
)

# The lab's stopping rule (a mean training reward of 15 over the last 50 episodes), for a run of
# another preset that should stop where the lab's runs did (benchmarks to the lab's goal).
LAB_GOAL = {"goal": 15.0, "goal_metric": "train", "eval_every_steps": 0}

# The quickest run to the lab's goal: ``fast`` stopping at a mean training reward of 15, about
# half its env steps; its agent still loops in many greedy episodes (docs/BENCHMARKS.md).
FASTEST = dataclasses.replace(FAST, **LAB_GOAL)

# Ms. Pac-Man, DeepMind's preprocessing: Nature CNN on 4 stacked 84x84 frames (rebuilt by the
# replay), Dopamine-like DQN settings in env steps (4 frames each): replay 1M, 20k random steps,
# one update of 32 every 4 env steps, target copy every 8k env steps (2,000 updates), epsilon
# 1 -> 0.01 over 250k env steps (1M frames), Adam 1e-4, Huber, gradient norm clipped at 10;
# 3-step returns (Rainbow's) for speed. 2.5M env steps = 10M frames; evaluation at epsilon 0.01
# on whole games (raw score), 10 every 250k env steps and 30 at the end; stops at a mean
# evaluation score of 2,500.
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
    goal_max_stuck=1.0,
    train_goal=0.0,
    goal_window=100,
    max_steps=2_500_000,
    checkpoint_every_steps=500_000,
    precision="float32",  # bf16's effect on Atari learning is untested
)

# The same learning on the lab's preprocessing: one 88x80x1 int8 frame per observation (no
# stack, as the lab fed it), v5 with a random skip of 2..4 (the lab's MsPacman-v0), raw rewards,
# whole games and no life-loss terminal.
ATARI_LAB = dataclasses.replace(ATARI, atari_preprocessing="lab", frame_stack=1)

# Low-dimensional control (CartPole, Acrobot, MountainCar, LunarLander: any env whose
# observation is a flat vector), tuned on CartPole-v1 for env steps and wall time to a greedy
# 475 on a 2-core CPU (docs/BENCHMARKS.md, "Any Gymnasium environment"): an MLP of two 256-unit
# layers, 8 envs sharing one forward, D3QN with 3-step returns (one-step DQN took 3x the steps),
# a high replay ratio (4 updates of 64 per vector step of 8 envs: half of those took ~2x the
# steps) at the Zoo's learning rate 2.3e-3, a hard target copy every 128 updates, epsilon
# 1 -> 0.04 over 8,000 steps. A run stops when a greedy evaluation of 20 fresh episodes (every
# 2,500 env steps) reaches the env's reward_threshold (CartPole-v1 475; an env without one runs
# to max_steps); episodes keep the env's own limit (max_episode_steps 0).
CLASSIC = DQNConfig(
    env="CartPole-v1",
    max_episode_steps=0,
    num_envs=8,
    frame_stack=1,
    network="mlp",
    mlp_width=256,
    gamma=0.99,
    n_step=3,
    learning_rate=2.3e-3,
    loss="huber",
    grad_clip_norm=10.0,
    batch_size=64,
    buffer_size=50_000,
    warmup_steps=1_000,
    train_every_steps=2,
    updates_per_round=1,
    target_update_every=128,
    epsilon_start=1.0,
    epsilon_end=0.04,
    epsilon_decay_steps=8_000,
    eval_every_steps=2_500,
    eval_episodes=20,
    final_eval_episodes=100,
    goal=475.0,
    goal_metric="eval",
    train_goal=0.0,  # the lab's 15 is the gridworld's
    goal_window=20,
    max_steps=150_000,
    precision="float32",  # bfloat16 only slows a network this small
    torch_threads=1,  # a second thread only waits on a network this small
)

PRESETS: dict[str, DQNConfig] = {
    "fast": FAST,
    "fastest": FASTEST,
    "lab": LAB,
    "atari": ATARI,
    "atari-lab": ATARI_LAB,
    "classic": CLASSIC,
}

# The preset used when --preset is not given, per env family (``qarcade.envs.resolve``):
# gymnasium envs whose observations are images start from ``classic`` with the Nature CNN.
DEFAULT_PRESETS: dict[str, str] = {"gridworld": "fast", "atari": "atari", "gym": "classic"}


def env_family(env: str) -> str:
    """ "gridworld", "atari" or "gym" (a ``UserError`` for a name that means no env)."""
    from qarcade.envs.resolve import family

    return family(env)


def default_preset(env: str) -> str:
    return DEFAULT_PRESETS[env_family(env)]


def preset(name: str) -> DQNConfig:
    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


def field_help() -> dict[str, str]:
    """Each field's one-line help, as the CLI shows it."""
    return {f.name: f.metadata["help"] for f in dataclasses.fields(DQNConfig)}


FAMILY_NAMES = {"gridworld": "the gridworld", "atari": "Atari games", "gym": "Gymnasium envs"}


def build_config(preset_name: str, algo: str | None, overrides: dict) -> DQNConfig:
    """A preset, then ``--algo``'s two flags, then explicit field overrides (in that order).

    A preset is for one family of envs (the gridworld, Atari games, other Gymnasium envs); on
    another env of its family it takes that env's goal (``for_env``), and on another family
    it is refused: its budgets, network and frames are another game's."""
    config = preset(preset_name)
    env = overrides.get("env", config.env)
    if env != config.env:
        preset_family, env_family_ = env_family(config.env), env_family(env)
        if preset_family != env_family_:
            fits = [n for n, v in PRESETS.items() if env_family(v.env) == env_family_]
            listed = ", ".join(fits[:-1]) + " or " + fits[-1] if len(fits) > 1 else "".join(fits)
            raise UserError(
                f"preset {preset_name} is for {FAMILY_NAMES[preset_family]}, not {env}; "
                f"for {env} use {listed}"
            )
        config = for_env(config, env, set(overrides))
    if algo is not None:
        config = with_algo(config, algo)
    return dataclasses.replace(config, **overrides)


def for_env(config: DQNConfig, env: str, overridden: set[str]) -> DQNConfig:
    """``config`` (a preset of ``env``'s family) on ``env``: the goal is the env's own
    (Gymnasium's ``reward_threshold``; none, so the step budget, where it has none); a
    Gymnasium env that shows images gets the Nature CNN. Fields in ``overridden`` are kept."""
    changes: dict[str, Any] = {"env": env, "goal": math.inf}
    if env_family(env) == "gym":
        from qarcade.envs.resolve import gym_env_info

        info = gym_env_info(env)  # a UserError where DQN cannot learn it
        if info["reward_threshold"] is not None:
            changes["goal"] = float(info["reward_threshold"])
        if info["observations"] == "image":
            changes["network"] = "nature"
    return dataclasses.replace(config, **{k: v for k, v in changes.items() if k not in overridden})
