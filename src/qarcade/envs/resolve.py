"""Which environment a name on the command line means, and whether DQN can learn it.

Three families, each with its own env factory and presets (``qarcade.dqn.envs``,
``qarcade.dqn.config``):

- ``gridworld``: the lab's pixel gridworld (``qarcade/GridWorld-v0``), by its short name;
- ``atari``: every game of the Arcade Learning Environment, by ale-py's name in any of its
  spellings (``breakout``, ``ms_pacman``, ``mspacman``, ``ALE/Breakout-v5``,
  ``BreakoutNoFrameskip-v4``); the canonical name is the v5 id's lower-cased game
  (``breakout``, ``mspacman``, ``spaceinvaders``), and qarcade's own preprocessing drives it;
- ``gym``: any other id in Gymnasium's registry, ``module:Env-v0`` included (the module is
  imported first, as ``gymnasium.make`` does, so a user's package registers its envs).

Everything here is Gymnasium's registry and spaces; nothing of learning.
"""

from __future__ import annotations

import difflib
import functools
import importlib
from dataclasses import dataclass

import gymnasium as gym

from qarcade.errors import UserError

GRIDWORLD_ID = "qarcade/GridWorld-v0"
ALE_ENTRY_POINT = "ale_py.env:AtariEnv"


@dataclass(frozen=True)
class EnvRef:
    """A resolved environment name."""

    name: str  # canonical: what a config's ``env`` holds ("gridworld", "breakout", "CartPole-v1")
    family: str  # "gridworld", "atari" or "gym"
    gym_id: str  # the id ``gymnasium.make`` takes (a module:Env-v0 keeps its module)

    @property
    def spec(self) -> gym.envs.registration.EnvSpec:
        """The registry's spec (its module, if any, already imported by ``resolve_env``)."""
        return gym.registry[self.gym_id.split(":", 1)[-1]]


@dataclass(frozen=True)
class AtariGame:
    """One ALE game: its v5 id and its ROM (the name ale-py's vector env takes)."""

    key: str  # "breakout", "mspacman"
    env_id: str  # "ALE/Breakout-v5"
    rom: str  # "breakout", "ms_pacman"


def _squash(name: str) -> str:
    """The spelling-free form of a game's name: "ms_pacman", "MsPacman" -> "mspacman"."""
    return "".join(c for c in name.lower() if c.isalnum())


@functools.cache
def atari_games() -> dict[str, AtariGame]:
    """Every ALE game ale-py registers, by canonical key; empty when ale-py is not installed."""
    try:
        import ale_py  # noqa: F401 - importing it registers the ALE/... ids
    except ImportError:
        return {}
    games = {}
    for env_id, spec in gym.registry.items():
        if env_id.startswith("ALE/") and env_id.endswith("-v5") and "game" in spec.kwargs:
            key = _squash(env_id[len("ALE/") : -len("-v5")])
            games[key] = AtariGame(key, env_id, spec.kwargs["game"])
    return games


def atari_game(name: str) -> AtariGame | None:
    """The ALE game ``name`` names in any spelling (short, ROM, any registered ALE id), or None."""
    games = atari_games()
    if name in gym.registry and gym.registry[name].entry_point == ALE_ENTRY_POINT:
        rom = gym.registry[name].kwargs.get("game")
        return next((g for g in games.values() if g.rom == rom), None)
    return games.get(_squash(name)) if "/" not in name and ":" not in name else None


def _is_ale(spec) -> bool:
    return spec.entry_point == ALE_ENTRY_POINT


def resolve_env(name: str) -> EnvRef:
    """The environment ``name`` means; a ``UserError`` naming the closest ids where none."""
    if name == "gridworld":
        return EnvRef("gridworld", "gridworld", GRIDWORLD_ID)
    if ":" in name:
        _import_env_module(name)
    bare = name.split(":", 1)[1] if ":" in name else name
    spec = gym.registry.get(bare)
    if spec is not None and not _is_ale(spec):
        if bare == GRIDWORLD_ID:
            return EnvRef("gridworld", "gridworld", GRIDWORLD_ID)
        return EnvRef(name, "gym", name)
    game = atari_game(bare)
    if game is not None:
        return EnvRef(game.key, "atari", game.env_id)
    if spec is not None:  # an ALE id while ale-py is missing cannot get here (not registered)
        return EnvRef(name, "gym", name)
    raise UserError(_unknown_message(name))


def _import_env_module(name: str) -> None:
    module = name.split(":", 1)[0]
    try:
        importlib.import_module(module)
    except ImportError as error:
        raise UserError(f"cannot import {module!r} for {name!r}: {error}") from None
    except Exception as error:  # the user's module failed while registering its envs
        raise UserError(
            f"importing {module!r} for {name!r} failed: {type(error).__name__}: {error}"
        ) from None


def _unknown_message(name: str) -> str:
    known = ["gridworld", *atari_games(), *(i for i in gym.registry if not i.startswith("ALE/"))]
    by_lower = {k.lower(): k for k in known}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=4, cutoff=0.6)
    hint = f"; closest: {', '.join(by_lower[c] for c in close)}" if close else ""
    return (
        f"unknown env {name!r}{hint} (gridworld, an Atari game such as breakout, or any "
        "Gymnasium id, module:Env-v0 included)"
    )


def family(name: str) -> str:
    """ "gridworld", "atari" or "gym" for a name ``resolve_env`` accepts."""
    return resolve_env(name).family


# --- what DQN can learn ---


def is_image_space(space: gym.Space) -> bool:
    """(H, W) or (H, W, C) uint8 frames with C <= 4: what the CNNs read."""
    return (
        isinstance(space, gym.spaces.Box)
        and space.dtype == "uint8"
        and len(space.shape) in (2, 3)
        and (len(space.shape) == 2 or space.shape[2] <= 4)
    )


def is_vector_space(space: gym.Space) -> bool:
    """A flat Box of numbers: what the MLP reads."""
    return isinstance(space, gym.spaces.Box) and len(space.shape) == 1


def check_spaces(name: str, observation_space: gym.Space, action_space: gym.Space) -> str:
    """ "vector" or "image": what the observations are; a ``UserError`` in one line where DQN
    cannot act on ``action_space`` or no network of qarcade's reads ``observation_space``."""
    if not isinstance(action_space, gym.spaces.Discrete):
        raise UserError(f"DQN needs a discrete action space; {name} has {action_space}")
    if is_vector_space(observation_space):
        return "vector"
    if is_image_space(observation_space):
        return "image"
    raise UserError(
        f"{name} observes {observation_space}; qarcade reads a flat Box (an MLP) or "
        "uint8 images (H, W) or (H, W, C) (the CNNs)"
    )


@functools.cache
def gym_env_info(name: str) -> dict:
    """A Gymnasium env's spaces and the spec's figures, read from one env made and closed:
    {"observation_space", "action_space", "observations" ("vector" or "image"),
    "reward_threshold" (None where the spec has none), "max_episode_steps", "render_modes",
    "render_fps"}. Raises ``UserError`` where DQN cannot learn it or it cannot be made."""
    ref = resolve_env(name)
    try:
        env = gym.make(ref.gym_id, disable_env_checker=True)
    except gym.error.DependencyNotInstalled as error:
        raise UserError(f"{name} needs a package that is not installed: {error}") from None
    except Exception as error:
        raise UserError(f"cannot make {name}: {type(error).__name__}: {error}") from None
    try:
        kind = check_spaces(name, env.observation_space, env.action_space)
        spec = env.spec
        return {
            "observation_space": env.observation_space,
            "action_space": env.action_space,
            "observations": kind,
            "reward_threshold": None if spec is None else spec.reward_threshold,
            "max_episode_steps": None if spec is None else spec.max_episode_steps,
            "render_modes": list(env.metadata.get("render_modes", [])),
            "render_fps": env.metadata.get("render_fps"),
        }
    finally:
        env.close()
