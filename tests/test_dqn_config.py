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


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--seed", "18446744073709551616"], "seed must be below 2^63"),
        (["--goal-window", str(2**64)], "goal_window must be below 2^63"),
        (["--batch-size", "1000000000"], "batch_size 1,000,000,000 is more than the replay"),
        (["--frame-stack", "1000"], "frame_stack must be in 1..32"),
        (["--torch-threads", "100000000"], "torch_threads must be 0 (one per free core) to"),
        (["--learning-rate", "inf"], "learning_rate must be a finite number, got inf"),
        (["--adam-eps", "nan"], "adam_eps must be a finite number, got nan"),
        (["--max-minutes", "inf"], "max_minutes must be a finite number, got inf"),
        (["--goal", "nan"], "goal must be a number"),
        (["--goal=-inf"], "goal must be a number"),
    ],
)
def test_the_issues_arguments_are_refused_before_work(capsys, tmp_path, flags, message):
    from qarcade.cli import main

    out = tmp_path / "run"
    assert main(["train", "gridworld", "--out", str(out), "--no-progress", *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not out.exists()  # refused before the run directory was made


def test_a_cli_seed_is_below_2_63(capsys):
    from qarcade.cli import main

    for args in (["mdp"], ["play", "gridworld", "--actions", "3"], ["eval", "x"]):
        with pytest.raises(SystemExit) as exit:
            main([*args, "--seed", str(2**63)])
        assert exit.value.code == 2
        assert "[0, 2^63)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["play", "gridworld", "--actions", "3", "--fps", "0"])
    assert "--fps: must be positive and finite" in capsys.readouterr().err


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("gamma", "high", "gamma must be a number, got 'high'"),
        ("gamma", [0.9], "gamma must be a number, got [0.9]"),
        ("gamma", None, "gamma must be a number, got None"),
        ("num_envs", True, "num_envs must be an integer, got True"),
        ("num_envs", 2.0, "num_envs must be an integer, got 2.0"),
        ("double", 1, "double must be true or false, got 1"),
        ("network", 5, "network must be a string, got 5"),
        ("learning_rate", 10**400, "learning_rate is too large"),
    ],
)
def test_a_saved_config_of_the_wrong_types_is_one_line(field, value, message):
    saved = {**DQNConfig().to_dict(), field: value}
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        DQNConfig.from_saved(saved)


def test_an_integer_for_a_float_field_becomes_a_float():
    config = DQNConfig.from_saved({**DQNConfig().to_dict(), "gamma": 0, "goal": 15})
    assert type(config.gamma) is float and type(config.goal) is float
