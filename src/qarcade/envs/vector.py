"""Vector-env helpers shared by the envs: stepping ahead.

``SendAhead`` sits right around a vector env that can step in the background (ale-py's
``AtariVectorEnv``: C++ threads; Gymnasium's ``AsyncVectorEnv``: one process per copy) and lets
a loop start a step early: ``send_ahead(envs, actions)`` finds it under any wrappers and starts
the step; the next ``envs.step(actions)`` through those wrappers collects it. Whatever the loop
does in between (the DQN loop's updates) runs while the envs step, and the results are those of
a plain ``step``.
"""

from __future__ import annotations

import numpy as np
from gymnasium.vector import AsyncVectorEnv, VectorEnv, VectorWrapper


class SendAhead(VectorWrapper):
    """Around an env with ``send``/``recv`` (ale-py) or ``step_async``/``step_wait`` (async)."""

    # Nothing to save in a snapshot (``qarcade.envs.atari_state``): between steps none is sent.
    state_fields = ()

    def __init__(self, env: VectorEnv):
        super().__init__(env)
        self._sent: np.ndarray | None = None

    def send(self, actions) -> None:
        """Start stepping ``actions``; the next ``step`` (with the same actions) collects it."""
        actions = np.array(actions, copy=True)
        if isinstance(self.env, AsyncVectorEnv):
            self.env.step_async(actions)
        else:
            self.env.send(actions)
        self._sent = actions

    def step(self, actions):
        if self._sent is None:
            return self.env.step(actions)
        sent, self._sent = self._sent, None
        result = self.env.step_wait() if isinstance(self.env, AsyncVectorEnv) else self.env.recv()
        if not np.array_equal(sent, actions):  # a bug in the caller: say so, nothing pending
            raise RuntimeError("step() got other actions than those sent ahead (stepped those)")
        return result


def send_ahead(envs: VectorEnv, actions: np.ndarray) -> bool:
    """Start ``envs`` stepping ``actions`` in the background where a ``SendAhead`` sits under its
    wrappers (then the next ``envs.step(actions)`` collects the step); False where none does."""
    env = envs
    while isinstance(env, VectorWrapper):
        if isinstance(env, SendAhead):
            env.send(actions)
            return True
        env = env.env
    return False
