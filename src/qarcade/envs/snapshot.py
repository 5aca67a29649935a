"""A vector env's whole state as arrays and plain values, so that a checkpoint resumes it.

A checkpoint must be data, never code: instead of pickling the env, ``vector_snapshot`` reads
the state of each layer of the stack (a dict of numpy arrays, ints, bytes, lists) and
``restore_vector`` writes it into the same stack built anew from the run's config.

The layers, outermost first:

- vector wrappers: the fields that change as the env runs, named in ``VECTOR_STATE`` or by a
  wrapper's class attribute ``state_fields`` (``()``: a wrapper with nothing to save); the
  episode statistics' start times as seconds elapsed (a clock reading means nothing in another
  process);
- the innermost layer that knows its own state, through two methods: ``snapshot()`` (raises
  ``TypeError`` where it cannot be read) and ``restore(state)``. The gridworld's vector env is one
  (its ``GridCore`` arrays, RNG states, step counters and autoreset flags); Atari's
  ``ResumableVectorEnv`` (``qarcade.envs.atari_state``) another (emulators and wrappers).

A stack with a layer of neither kind has no snapshot (``None``): its episodes restart on resume.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from gymnasium.vector import VectorEnv, VectorWrapper
from gymnasium.wrappers import vector as vector_wrappers

# Each Gymnasium vector wrapper the stacks use, with the fields that change as the env runs.
VECTOR_STATE: dict[type, tuple[str, ...]] = {
    vector_wrappers.RecordEpisodeStatistics: (
        "episode_count",
        "episode_returns",
        "episode_lengths",
        "prev_dones",
        "return_queue",
        "length_queue",
        "time_queue",
    ),  # fmt: skip
    vector_wrappers.TransformReward: (),
    vector_wrappers.TransformObservation: (),
}


def state_fields(wrapper, table: dict[type, tuple[str, ...]]) -> tuple[str, ...]:
    fields = getattr(type(wrapper), "state_fields", None)
    if fields is None:
        fields = table.get(type(wrapper))
    if fields is None:
        raise TypeError(f"cannot snapshot {type(wrapper).__name__}: its state is not known")
    return fields


def save_fields(wrapper, table: dict[type, tuple[str, ...]]) -> dict[str, Any]:
    fields = {name: copy.deepcopy(getattr(wrapper, name)) for name in state_fields(wrapper, table)}
    if isinstance(wrapper, vector_wrappers.RecordEpisodeStatistics):
        fields["episode_elapsed_s"] = time.perf_counter() - wrapper.episode_start_times  # (N,)
    return fields


def load_fields(wrapper, table: dict[type, tuple[str, ...]], fields: dict[str, Any]) -> None:
    fields = dict(fields)
    elapsed_s = fields.pop("episode_elapsed_s", None)
    if set(fields) != set(state_fields(wrapper, table)):
        raise ValueError(f"snapshot does not fit {type(wrapper).__name__}")
    for name, value in fields.items():
        setattr(wrapper, name, copy.deepcopy(value))
    if elapsed_s is not None:
        wrapper.episode_start_times = time.perf_counter() - elapsed_s


def _knows_its_state(env) -> bool:
    return callable(getattr(type(env), "snapshot", None)) and callable(
        getattr(type(env), "restore", None)
    )


def vector_snapshot(envs: VectorEnv) -> dict[str, Any] | None:
    """The stack's state as arrays and plain values, or None where a layer cannot say its own."""
    wrappers, env = [], envs
    try:
        while not _knows_its_state(env):
            if not isinstance(env, VectorWrapper):
                return None
            wrappers.append(save_fields(env, VECTOR_STATE))
            env = env.env
        return {"wrappers": wrappers, "env": env.snapshot()}  # wrappers: outermost first
    except TypeError:  # a layer whose state cannot be read (ale-py's vector env)
        return None


def restore_vector(envs: VectorEnv, state: dict[str, Any]) -> None:
    """Puts the stack back in the state ``vector_snapshot`` read (a stack of the same build);
    ``ValueError`` where the snapshot does not fit it."""
    env = envs
    for fields in state["wrappers"]:
        if not isinstance(env, VectorWrapper) or _knows_its_state(env):
            raise ValueError("env snapshot does not fit this env: other wrappers")
        load_fields(env, VECTOR_STATE, fields)
        env = env.env
    if not _knows_its_state(env):
        raise ValueError("env snapshot does not fit this env: other wrappers")
    env.restore(state["env"])
