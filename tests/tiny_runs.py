"""The tiny seeded training run that several test files share: a 3x3 gridworld, the small
``tiny`` network, 4 envs, a few hundred env steps (about a second of training)."""

from qarcade.dqn.config import build_config

TINY = dict(
    network="tiny",
    grid_size=3,
    num_envs=4,
    buffer_size=2000,
    warmup_steps=100,
    epsilon_decay_steps=300,
    train_every_steps=8,
    target_update_every=10,
    final_eval_episodes=4,
    video=False,
    seed=3,
    torch_threads=1,
)
QUIET = dict(progress=False, log=lambda *args: None)  # train(..., **QUIET): no bar, no log


def tiny(algo: str = "d3qn", **changes):
    """The ``fast`` preset with TINY's budget, ``algo``'s two flags and ``changes``."""
    return build_config("fast", algo, {**TINY, **changes})


def tiny_flags(**changes) -> list[str]:
    """TINY with ``changes`` as ``qarcade train`` flags: ``["--network", "tiny", ...]``."""
    flags = []
    for key, value in {**TINY, **changes}.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + flag[2:])
        else:
            flags += [flag, str(value)]
    return flags
