"""Names of environments: short names, ALE games in any spelling, Gymnasium ids, module:Env-v0;
and the one-line errors for what DQN cannot learn."""

import gymnasium as gym
import pytest

from qarcade.cli import main
from qarcade.dqn.config import build_config, default_preset
from qarcade.envs.resolve import check_spaces, resolve_env
from qarcade.errors import UserError


@pytest.mark.parametrize(
    "name,canonical,family,gym_id",
    [
        ("gridworld", "gridworld", "gridworld", "qarcade/GridWorld-v0"),
        ("mspacman", "mspacman", "atari", "ALE/MsPacman-v5"),
        ("ms_pacman", "mspacman", "atari", "ALE/MsPacman-v5"),
        ("breakout", "breakout", "atari", "ALE/Breakout-v5"),
        ("ALE/Pong-v5", "pong", "atari", "ALE/Pong-v5"),
        ("BreakoutNoFrameskip-v4", "breakout", "atari", "ALE/Breakout-v5"),
        ("space_invaders", "spaceinvaders", "atari", "ALE/SpaceInvaders-v5"),
        ("CartPole-v1", "CartPole-v1", "gym", "CartPole-v1"),
        ("Acrobot-v1", "Acrobot-v1", "gym", "Acrobot-v1"),
    ],
)
def test_names_resolve_to_one_env_each(name, canonical, family, gym_id):
    ref = resolve_env(name)
    assert (ref.name, ref.family, ref.gym_id) == (canonical, family, gym_id)


def test_unknown_ids_name_the_closest_registered_ones():
    with pytest.raises(UserError, match=r"unknown env 'CartPol-v1'; closest: CartPole-v1"):
        resolve_env("CartPol-v1")
    with pytest.raises(UserError, match=r"closest: breakout"):
        resolve_env("breakot")


def test_spaces_dqn_cannot_learn_are_refused_in_one_line():
    discrete, box = gym.spaces.Discrete(3), gym.spaces.Box(-1, 1, (4,))
    assert check_spaces("x", box, discrete) == "vector"
    assert check_spaces("x", gym.spaces.Box(0, 255, (84, 84, 3), "uint8"), discrete) == "image"
    with pytest.raises(UserError, match=r"DQN needs a discrete action space; x has Box"):
        check_spaces("x", box, gym.spaces.Box(-2, 2, (1,)))
    with pytest.raises(UserError, match=r"x observes Dict.*qarcade reads a flat Box"):
        check_spaces("x", gym.spaces.Dict({"a": box}), discrete)


def test_each_family_has_its_default_preset_and_a_preset_keeps_to_its_family():
    assert [default_preset(e) for e in ("gridworld", "breakout", "Acrobot-v1")] == [
        "fast",
        "atari",
        "classic",
    ]
    acrobot = build_config("classic", None, {"env": "Acrobot-v1"})
    assert acrobot.goal == gym.spec("Acrobot-v1").reward_threshold == -100  # the env's own
    assert acrobot.network == "mlp" and acrobot.max_episode_steps == 0  # the env's own limit
    assert build_config("classic", None, {"env": "Acrobot-v1", "goal": -90.0}).goal == -90.0
    breakout = build_config("atari", None, {"env": "breakout"})
    assert breakout.goal == float("inf")  # Ms. Pac-Man's 2,500 is not Breakout's
    with pytest.raises(UserError, match="preset classic is for Gymnasium envs, not breakout; for "
                       "breakout use atari or atari-lab"):  # fmt: skip
        build_config("classic", None, {"env": "breakout"})


@pytest.mark.parametrize(
    "args,message",
    [
        (["train", "CartPol-v1"], "unknown env 'CartPol-v1'; closest: CartPole-v1"),
        (["train", "Pendulum-v1"], "DQN needs a discrete action space; Pendulum-v1 has Box(-2.0"),
        (["train", "FrozenLake-v1"], "FrozenLake-v1 observes Discrete(16); qarcade reads"),
        (["train", "no_such_module:Env-v0"], "cannot import 'no_such_module'"),
        (["train", "CartPole-v1", "--network", "nature"], "network nature reads images"),
        (["train", "breakout", "--atari-preprocessing", "lab"], "the lab's preprocessing is Ms."),
        (["play", "CartPole-v1"], "play takes gridworld or an Atari game"),
        (["preprocess", "pongg"], "unknown Atari game 'pongg'; closest: pong"),
    ],
)
def test_what_cannot_be_trained_is_a_one_line_error(capsys, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    assert main([*args, "--no-progress"] if args[0] == "train" else args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "runs").exists()  # refused before a run directory was made
