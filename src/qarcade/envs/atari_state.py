"""The Atari env stack's whole state, so that a checkpoint resumes a game step for step.

Pickling an ale-py env does not save its game: ``AtariEnv`` pickles as its constructor
arguments, so it comes back as a new emulator (fresh sticky-action stream, frame counter at
zero). What a resumed run needs, and what ``snapshot`` collects instead:

- the emulator: ``ALEInterface.cloneState(include_rng=True)``, the console, the episode's frame
  number (the frame limit counts it) and the ALE's RNG, which draws the sticky actions;
- ``AtariEnv.np_random``: the lab preset's random frame skip and the standard preset's no-op
  starts draw from it;
- each wrapper's own fields (named in ``ENV_STATE`` / ``qarcade.envs.snapshot.VECTOR_STATE``,
  or by a wrapper's ``state_fields``): AtariPreprocessing's two max-pool frames and life
  counter, a frame stack's queue, the episode statistics, the life-loss counter;
- whether a copy's game just ended: a next-step-autoresetting vector env resets that copy on
  its next step, a flag it keeps to itself (in a worker process for the async backend), so the
  restored copy does the reset itself (``ResumableEnv``).

The snapshot is plain values (the emulator's bytes, arrays, ints, dicts): a checkpoint stores it
(``qarcade.envs.snapshot.vector_snapshot``) and a resume rebuilds the env from the run's config,
then ``ResumableVectorEnv.restore``s it, for the ``sync`` and ``async`` backends (Gymnasium vector
envs of ``ResumableEnv`` copies). For code of one's own, ``ResumableVectorEnv`` also pickles as
"build the same vector env, then restore this snapshot". ale-py's C++ ``AtariVectorEnv``
(backend ``ale``) offers no way to read or set its emulators' states: it has no snapshot, and a
run on it restarts its games on resume.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import ale_py
import gymnasium as gym
from gymnasium.vector import AsyncVectorEnv, SyncVectorEnv, VectorEnv, VectorWrapper
from gymnasium.wrappers import (
    AtariPreprocessing,
    FrameStackObservation,
    OrderEnforcing,
)

from qarcade.envs.snapshot import VECTOR_STATE
from qarcade.envs.snapshot import load_fields as _load
from qarcade.envs.snapshot import save_fields as _save

# Each Gymnasium wrapper of one Atari env, with the fields that change as the env runs. A
# wrapper of ours names its own in a class attribute ``state_fields`` instead.
ENV_STATE: dict[type, tuple[str, ...]] = {
    AtariPreprocessing: ("lives", "game_over", "obs_buffer"),
    FrameStackObservation: ("obs_queue", "padding_value"),
    OrderEnforcing: ("_has_reset",),
}


# --- one env ---


class ResumableEnv(gym.Wrapper):
    """The outermost wrapper of each vector-env copy: its ``snapshot`` is the copy's state.

    ``env.snapshot`` reads the state; ``env.snapshot = state`` restores it (a property, so a
    vector env's ``set_attr`` hands each copy its own, in its own process where it has one).
    """

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self._game_ended = False  # the last step ended the game: next-step autoreset is due
        self._reset_on_next_step = False  # restored with a reset due: do it on the next step

    def reset(self, **kwargs):
        self._game_ended = self._reset_on_next_step = False
        return self.env.reset(**kwargs)

    def step(self, action):
        if self._reset_on_next_step:  # what the vector env would have done with this step
            observation, info = self.reset()
            return observation, 0.0, False, False, info
        observation, reward, terminated, truncated, info = self.env.step(action)
        self._game_ended = bool(terminated or truncated)
        return observation, reward, terminated, truncated, info

    @property
    def snapshot(self) -> dict[str, Any]:
        wrappers, env = [], self.env
        while isinstance(env, gym.Wrapper):
            wrappers.append(_save(env, ENV_STATE))
            env = env.env
        if not isinstance(env, ale_py.AtariEnv):
            raise TypeError(f"cannot snapshot {type(env).__name__}: not an ale-py AtariEnv")
        return {
            "ale": env.ale.cloneState(include_rng=True).serialize(),  # bytes
            "np_random": copy.deepcopy(env.np_random.bit_generator.state),
            "wrappers": wrappers,  # outermost first
            "game_ended": self._game_ended,
        }

    @snapshot.setter
    def snapshot(self, state: dict[str, Any]) -> None:
        env = self.env
        for fields in state["wrappers"]:
            if not isinstance(env, gym.Wrapper):
                raise ValueError("snapshot does not fit this env: more wrappers than it has")
            _load(env, ENV_STATE, fields)
            env = env.env
        if isinstance(env, gym.Wrapper) or not isinstance(env, ale_py.AtariEnv):
            raise ValueError("snapshot does not fit this env: other wrappers")
        env.ale.restoreState(ale_py.ALEState(state["ale"]))
        env.np_random.bit_generator.state = copy.deepcopy(state["np_random"])
        self._game_ended = state["game_ended"]
        self._reset_on_next_step = state["game_ended"]


# --- the vector env ---


class ResumableVectorEnv(VectorWrapper):
    """The outermost wrapper of an Atari vector env: pickles as ``rebuild()`` + its snapshot.

    ``rebuild``: a picklable callable that builds the same vector env (this wrapper included),
    or None where the state cannot be read (``why_not`` says why; pickling then raises).
    """

    def __init__(
        self, env: VectorEnv, rebuild: Callable[[], ResumableVectorEnv] | None, why_not: str = ""
    ):
        super().__init__(env)
        self._rebuild = rebuild
        self._why_not = why_not

    def snapshot(self) -> dict[str, Any]:
        """The whole stack's state: each vector wrapper's fields, each copy's snapshot."""
        if self._rebuild is None:
            raise TypeError(self._why_not)
        wrappers, env = [], self.env
        while isinstance(env, VectorWrapper):
            wrappers.append(_save(env, VECTOR_STATE))
            env = env.env
        if not isinstance(env, SyncVectorEnv | AsyncVectorEnv):
            raise TypeError(f"cannot snapshot {type(env).__name__}: {self._why_not}")
        return {
            "wrappers": wrappers,  # outermost first
            "copies": list(env.get_attr("snapshot")),  # one ResumableEnv.snapshot per copy
            "action_space": copy.deepcopy(self.action_space.np_random.bit_generator.state),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Puts the stack back in the state ``snapshot`` read (the same build of vector env)."""
        env = self.env
        for fields in state["wrappers"]:
            if not isinstance(env, VectorWrapper):
                raise ValueError("snapshot does not fit this env: more wrappers than it has")
            _load(env, VECTOR_STATE, fields)
            env = env.env
        if len(state["copies"]) != self.num_envs:
            raise ValueError(f"snapshot has {len(state['copies'])} copies, the env {self.num_envs}")
        env.set_attr("snapshot", state["copies"])
        self.action_space.np_random.bit_generator.state = copy.deepcopy(state["action_space"])

    def __reduce__(self):
        return _restored, (self._rebuild, self.snapshot())


def _restored(rebuild: Callable[[], ResumableVectorEnv], state: dict[str, Any]):
    envs = rebuild()
    envs.restore(state)
    return envs
