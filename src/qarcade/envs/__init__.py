"""Gymnasium environments of the lab. Nothing about learning lives here (no torch)."""

import gymnasium as gym


def register_envs() -> None:
    """Register qarcade's environment ids with Gymnasium (idempotent)."""
    registry = gym.envs.registration.registry
    if "qarcade/MDP-v0" not in registry:
        gym.register(id="qarcade/MDP-v0", entry_point="qarcade.envs.mdp:MDPEnv")
    if "qarcade/GridWorld-v0" not in registry:
        # make: GridWorldEnv in a 50-step TimeLimit; make_vec: the native vector env (NEXT_STEP).
        gym.register(
            id="qarcade/GridWorld-v0",
            entry_point="qarcade.envs.gridworld:GridWorldEnv",
            vector_entry_point="qarcade.envs.gridworld:GridWorldVectorEnv",
            max_episode_steps=50,
        )
