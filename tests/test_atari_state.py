"""Exact resume on Atari: a pickled vector env (sync and async backends) continues step for step,
a training run stopped and resumed ends like the uninterrupted one, ale-py's vector env refuses
to pickle, and seeds of any size reach ale-py's vector env folded into the range it takes."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch

from qarcade.dqn.config import build_config
from qarcade.dqn.train import train
from qarcade.envs.atari import fold_ale_seed, make_atari_vector_env
from qarcade.runs import RunDir

# Short games (400 emulator frames; the first pellet comes after ~270) so that a few hundred
# steps cross several ends of game.
SHORT = dict(max_frames_per_episode=400)


def play(envs, actions):
    """Steps ``envs`` through ``actions`` (T, N); returns everything a training loop reads."""
    steps = []
    for row in actions:
        observations, rewards, terminated, truncated, info = envs.step(row)
        episode = info.get("episode", {})
        steps.append(
            {
                "observations": observations.copy(),
                "rewards": rewards,
                "terminated": terminated,
                "truncated": truncated,
                "lives": np.asarray(info["lives"]),
                "life_loss": info.get("life_loss"),
                "ended": info.get("_episode"),
                "score": episode.get("r"),
                "length": episode.get("l"),
            }
        )
    return steps


def assert_same_steps(expected, got):
    assert len(expected) == len(got)
    for t, (one, other) in enumerate(zip(expected, got, strict=True)):
        for key, value in one.items():
            if value is None:
                assert other[key] is None, (t, key)
            else:
                assert np.array_equal(value, other[key]), (t, key)


def step_until_a_game_ends(envs, rng, at_least: int):
    """Steps with random actions until one copy's game has just ended (but not every copy's), so
    that its next step is an autoreset: the hardest moment to checkpoint."""
    for t in range(1000):
        _, _, terminated, truncated, _ = envs.step(rng.integers(0, 9, size=envs.num_envs))
        ended = terminated | truncated
        if t >= at_least and ended.any() and not ended.all():
            return
    raise AssertionError("no game ended")


@pytest.mark.parametrize(
    "preprocessing, backend, options",
    [
        ("standard", "sync", {"frame_stack": 1}),  # the loop's: the replay stacks
        ("standard", "sync", {"frame_stack": 4, "for_training": False}),  # a stack, raw rewards
        ("lab", "async", {}),  # random frame skip, one process per copy
    ],
)
def test_pickled_vector_env_continues_step_for_step(preprocessing, backend, options):
    envs = make_atari_vector_env(
        "mspacman", preprocessing, 2, seed=4, backend=backend, **SHORT, **options
    )
    rng = np.random.default_rng(0)
    step_until_a_game_ends(envs, rng, at_least=20)
    restored = pickle.loads(pickle.dumps(envs))
    actions = rng.integers(0, 9, size=(250, 2))  # (T, N)
    expected, got = play(envs, actions), play(restored, actions)
    envs.close()
    restored.close()
    assert_same_steps(expected, got)
    ends = np.array([step["terminated"] | step["truncated"] for step in expected])  # (T, N)
    assert ends.any(axis=0).all()  # every copy played on into another game after the restore
    assert (np.array([step["rewards"] for step in expected]) != 0).any()


def test_restored_env_differs_from_a_fresh_one():
    # The comparison above can fail: a new env with the same settings plays differently.
    envs = make_atari_vector_env("mspacman", "lab", 2, seed=4, backend="sync", **SHORT)
    rng = np.random.default_rng(0)
    step_until_a_game_ends(envs, rng, at_least=20)
    state = pickle.dumps(envs)
    fresh = make_atari_vector_env("mspacman", "lab", 2, seed=4, backend="sync", **SHORT)
    actions = rng.integers(0, 9, size=(60, 2))
    restored = pickle.loads(state)
    expected, got, other = play(envs, actions), play(restored, actions), play(fresh, actions)
    assert_same_steps(expected, got)
    with pytest.raises(AssertionError):
        assert_same_steps(expected, other)


def test_snapshot_of_another_env_build_is_refused():
    envs = make_atari_vector_env("mspacman", "lab", 2, seed=1, backend="sync")
    other = make_atari_vector_env("mspacman", "lab", 3, seed=1, backend="sync")
    with pytest.raises(ValueError, match="copies"):
        other.restore(envs.snapshot())
    standard = make_atari_vector_env("mspacman", "standard", 2, seed=1, backend="sync")
    with pytest.raises(ValueError, match="does not fit"):
        standard.restore(envs.snapshot())


def test_ale_vector_env_refuses_to_pickle():
    envs = make_atari_vector_env("mspacman", "standard", 2, seed=1, backend="ale")
    with pytest.raises(TypeError, match="backend 'ale'"):
        pickle.dumps(envs)
    envs.close()


# --- seeds for ale-py's vector env ---


def test_fold_ale_seed_keeps_every_copys_seed_a_c_int():
    assert fold_ale_seed(5, 4) == 5
    for seed in (2**31 - 4, 2**31, 2**40 + 7, 2**64, -1):
        folded = fold_ale_seed(seed, 4)
        assert 0 <= folded and folded + 3 < 2**31, seed
    assert fold_ale_seed(np.int64(2**40), 4) == fold_ale_seed(2**40, 4)
    assert fold_ale_seed([2**31 + 1, 3], 2).tolist() == [1, 3]


def first_frames(seed, steps=10):
    """The frames of ``steps`` steps of ale-py's vector env after ``reset(seed=seed)``."""
    envs = make_atari_vector_env("mspacman", "standard", 2, backend="ale")
    envs.reset(seed=seed)
    actions = np.random.default_rng(0).integers(0, 9, size=(steps, 2))
    frames = np.stack([step["observations"] for step in play(envs, actions)])  # (T, 2, 84, 84)
    envs.close()
    return frames


def test_ale_vector_env_takes_seeds_of_any_size():
    big = 2**40 + 12345  # the training loop's evaluation seeds reach 2**32
    folded = fold_ale_seed(big, 2)
    frames = first_frames(folded)
    assert np.array_equal(first_frames(big), frames)
    assert np.array_equal(first_frames(np.uint64(big)), frames)
    assert not np.array_equal(first_frames(folded + 1), frames)
    per_copy = [2**33 + 5, 2**31 + 9]  # one seed per copy
    assert np.array_equal(first_frames(per_copy), first_frames(np.array([5, 9])))


# --- the training loop: stop, resume, and end as if never stopped ---

RESUME = {
    "num_envs": 2,
    "atari_backend": "sync",
    "max_episode_steps": 60,  # 240 frames: the games end and autoreset on both sides of the stop
    "buffer_size": 1000,
    "warmup_steps": 100,
    "train_every_steps": 16,
    "target_update_every": 4,
    "epsilon_decay_steps": 300,
    "final_eval_episodes": 1,
    "eval_epsilon": 0.05,
    "video": False,
    "torch_threads": 1,
    "seed": 2,
}
STEPS = 400  # 200 vector steps; the stop at 250 env steps falls inside the third games
QUIET = dict(progress=False, log=lambda *args: None)


def atari_config(max_steps, **changes):
    return build_config("atari", "d3qn", {**RESUME, "max_steps": max_steps, **changes})


@pytest.mark.slow
def test_atari_run_stopped_and_resumed_ends_like_the_uninterrupted_run(tmp_path):
    train(atari_config(STEPS), tmp_path / "whole", **QUIET)
    train(atari_config(250), tmp_path / "split", **QUIET)
    logged = []
    train(atari_config(STEPS), tmp_path / "split", resume=True, progress=False, log=logged.append)
    assert not any("restart" in line for line in logged)  # the games went on
    whole, split = RunDir(tmp_path / "whole"), RunDir(tmp_path / "split")
    metrics = whole.read_metrics().drop(columns="wall_time_s")
    pd.testing.assert_frame_equal(metrics, split.read_metrics().drop(columns="wall_time_s"))
    assert len(metrics) >= 6 and (metrics["step"] > 250).any() and (metrics["step"] < 250).any()
    for name, tensor in whole.load_checkpoint()["learner"]["online"].items():
        assert torch.equal(tensor, split.load_checkpoint()["learner"]["online"][name]), name
    assert whole.read_summary()["final_eval"] == split.read_summary()["final_eval"]
