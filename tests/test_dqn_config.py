"""Config: presets, the four algorithms as two flags, validation, JSON round trip."""

import dataclasses

import pytest

from qarcade.dqn.config import ALGOS, LAB, DQNConfig, field_help, preset, with_algo
from qarcade.errors import UserError


def test_algo_sets_only_the_two_flags():
    base = preset("fast")
    for algo, (double, dueling) in ALGOS.items():
        config = with_algo(base, algo)
        assert (config.double, config.dueling) == (double, dueling)
        assert config.algo == algo
        assert dataclasses.replace(config, double=base.double, dueling=base.dueling) == base


def test_lab_preset_is_the_labs_hyperparameters():
    assert (LAB.num_envs, LAB.network, LAB.n_step, LAB.batch_size) == (1, "lab", 1, 64)
    assert (LAB.learning_rate, LAB.loss, LAB.gamma, LAB.buffer_size) == (1e-4, "mse", 0.99, 50_000)
    # 100 random episodes, then every 5th episode 20 updates and a hard copy
    assert LAB.warmup_steps == 100 * 50
    assert (LAB.train_every_steps, LAB.updates_per_round) == (5 * 50, 20)
    assert (LAB.target_update_every, LAB.tau) == (20, 1.0)
    assert (LAB.epsilon_start, LAB.epsilon_end) == (0.6, 0.1)
    assert LAB.epsilon_decay_steps == round((0.6 - 0.1) / 0.0005) * 50
    assert LAB.goal == 15 and LAB.goal_window == 50


def test_every_field_has_help():
    helps = field_help()
    assert set(helps) == {f.name for f in dataclasses.fields(DQNConfig)}
    assert all(text.strip() for text in helps.values())


def test_json_round_trip_and_unknown_fields():
    config = with_algo(preset("lab"), "d3qn")
    assert DQNConfig.from_dict(config.to_dict()) == config
    with pytest.raises(UserError, match="unknown config fields: bogus"):
        DQNConfig.from_dict({**config.to_dict(), "bogus": 1})


@pytest.mark.parametrize(
    "change,message",
    [
        ({"network": "resnet"}, "network must be one of"),
        ({"tau": 0.0}, "tau"),
        ({"batch_size": 0}, "batch_size must be positive"),
        ({"epsilon_end": 1.5}, "epsilon_end"),
        ({"buffer_size": 16}, "buffer_size is too small"),
    ],
)
def test_bad_values_are_user_errors(change, message):
    with pytest.raises(UserError, match=message):
        dataclasses.replace(preset("fast"), **change)


def test_unknown_preset_and_algo():
    with pytest.raises(UserError, match="unknown preset"):
        preset("turbo")
    with pytest.raises(UserError, match="unknown algo"):
        with_algo(LAB, "rainbow")


def test_a_preset_for_another_env_is_refused_in_one_line():
    from qarcade.dqn.config import build_config

    with pytest.raises(UserError, match="preset atari is for Atari games, not gridworld; for "
                       "gridworld use fast, fastest or lab"):  # fmt: skip
        build_config("atari", "d3qn", {"env": "gridworld"})
    with pytest.raises(UserError, match="for mspacman use atari or atari-lab"):
        build_config("lab", None, {"env": "mspacman"})
    assert build_config("atari-lab", None, {"env": "mspacman"}).env == "mspacman"
