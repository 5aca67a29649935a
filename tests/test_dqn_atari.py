"""The DQN loop on Ms. Pac-Man: the replay's stacks and n-step targets on real Atari frames
(across a lost life, never across a game), raw scores, the lab preset's int8 frames through the
network, and a CPU smoke run of the `atari` preset through the CLI with a resume."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from qarcade.cli import main
from qarcade.dqn.config import PRESETS, build_config, default_preset
from qarcade.dqn.envs import make_vector, with_episode_statistics
from qarcade.dqn.networks import network_for
from qarcade.dqn.replay import ReplayBuffer
from qarcade.runs import CHECKPOINT, RunDir

# --- replay on real Atari frames ---


def reference_stack(frames, game, t, k):
    """The k newest frames ending at slot t of one env, oldest first, never from an earlier
    game: before a game's first frame that frame repeats. frames (T, *frame), game (T,)."""
    first = t
    while first > 0 and game[first - 1] == game[t]:
        first -= 1  # the game's first slot
    slots = [max(s, first) for s in range(t - k + 1, t + 1)]
    return frames[slots]


def reference_nstep(rewards, terminated, truncated, life_lost, t, n, gamma):
    """(return, steps, discount) of the window from slot t: a lost life ends it like a game end
    (no bootstrap), a truncation ends it but bootstraps."""
    total = 0.0
    for j in range(n):
        total += gamma**j * rewards[t + j]
        if terminated[t + j] or life_lost[t + j]:
            return total, j + 1, 0.0
        if truncated[t + j]:
            return total, j + 1, gamma ** (j + 1)
    return total, n, gamma**n


@pytest.fixture(scope="module")
def atari_record():
    """1,600 random steps of 2 standard-preprocessed training envs, stored in a replay smaller
    than the record (so it wraps), and the same steps kept aside as plain per-env arrays."""
    config = build_config("atari", "d3qn", {"num_envs": 2})
    envs = make_vector(config, 2)
    assert with_episode_statistics(envs) is envs  # it records its own, the raw score
    rng = np.random.default_rng(0)
    k, n, gamma, steps = 4, 3, 0.99, 1600
    replay = ReplayBuffer(2 * 1000, 2, (84, 84, 1), np.uint8, k, n, gamma)
    frames, info = envs.reset(seed=7)
    replay.start(frames)
    record = {"frames": [frames], "game": [np.zeros(2, int)], "lives": [np.array(info["lives"])]}
    flags = {name: [] for name in ("rewards", "terminated", "truncated", "life_lost")}
    done_before = np.zeros(2, bool)
    clipped, scores = np.zeros(2), []  # (raw score in info["episode"], clipped sum) per game
    for _ in range(steps):
        actions = rng.integers(0, 9, size=2)
        frames, rewards, terminated, truncated, info = envs.step(actions)
        replay.add(actions, rewards, terminated, truncated, frames, info["life_loss"])
        # the step after a game's end is a reset: its frame is the first of the next game
        record["game"].append(record["game"][-1] + done_before)
        record["frames"].append(frames)
        record["lives"].append(np.array(info["lives"]))
        for name, value in zip(
            flags, (rewards, terminated, truncated, info["life_loss"]), strict=True
        ):
            flags[name].append(np.asarray(value))
        clipped += rewards * ~done_before
        done_before = terminated | truncated
        for e in np.flatnonzero(done_before):
            scores.append((float(info["episode"]["r"][e]), clipped[e]))
        clipped[done_before] = 0.0
    envs.close()
    arrays = {name: np.stack(values) for name, values in {**record, **flags}.items()}
    arrays["scores"] = np.array(scores)
    return replay, arrays, (k, n, gamma)


def test_atari_frames_are_one_grey_channel_and_rewards_are_clipped(atari_record):
    replay, arrays, _ = atari_record
    assert arrays["frames"].shape[1:] == (2, 84, 84, 1) and arrays["frames"].dtype == np.uint8
    assert set(np.unique(arrays["rewards"])) <= {-1.0, 0.0, 1.0}  # training envs clip
    assert arrays["life_lost"].any() and (arrays["terminated"] | arrays["truncated"]).any()
    # a lost life is not a game end: the game (and the lives counter) goes on
    lost = np.argwhere(arrays["life_lost"])
    assert not (arrays["terminated"] | arrays["truncated"])[lost[:, 0], lost[:, 1]].all()


def test_replay_stacks_cross_a_lost_life_but_never_a_game(atari_record):
    replay, arrays, (k, n, gamma) = atari_record
    low, high = replay.valid_range()
    assert low > 0  # the ring wrapped
    crossed_life = crossed_game_start = 0
    for env in range(2):
        frames, game, lives = (
            arrays["frames"][:, env],
            arrays["game"][:, env],
            arrays["lives"][:, env],
        )
        for t in range(low, high + 1):
            got = replay.stack(np.array([t]), np.array([env]))[0]  # (k, 84, 84, 1)
            assert np.array_equal(got, reference_stack(frames, game, t, k)), (env, t)
            window = slice(max(0, t - k + 1), t + 1)
            crossed_life += len(set(lives[window])) > 1 and len(set(game[window])) == 1
            crossed_game_start += len(set(game[window])) > 1
    assert crossed_life > 0 and crossed_game_start > 0  # both cases were checked


def test_nstep_targets_stop_at_a_lost_life(atari_record):
    replay, arrays, (k, n, gamma) = atari_record
    batch = replay.sample(4096, np.random.default_rng(1))
    cut_by_life = 0
    for i, (t, env) in enumerate(zip(batch.indices, batch.envs, strict=True)):
        columns = [arrays[name][:, env] for name in ("rewards", "terminated", "truncated")]
        total, steps, discount = reference_nstep(*columns, arrays["life_lost"][:, env], t, n, gamma)
        assert batch.returns[i] == pytest.approx(total, abs=1e-5)
        assert batch.discounts[i] == pytest.approx(discount, abs=1e-6)
        frames, game = arrays["frames"][:, env], arrays["game"][:, env]
        assert np.array_equal(batch.next_obs[i], reference_stack(frames, game, t + steps, k))
        cut_by_life += discount == 0.0 and arrays["life_lost"][t : t + steps, env].any()
    assert cut_by_life > 0


def test_an_ended_games_info_holds_its_raw_score_not_the_clipped_sum(atari_record):
    _, arrays, _ = atari_record
    raw, clipped = arrays["scores"].T  # one row per game that ended
    assert len(raw) >= 1 and (clipped > 0).all()
    assert (raw >= 10 * clipped).all()  # Ms. Pac-Man's smallest reward, a pellet, is 10 points


# --- presets and the lab's int8 frames ---


def test_atari_presets():
    atari, lab = PRESETS["atari"], PRESETS["atari-lab"]
    assert default_preset("mspacman") == "atari" and default_preset("gridworld") == "fast"
    assert (atari.network, atari.frame_stack, atari.atari_preprocessing) == (
        "nature",
        4,
        "standard",
    )
    assert atari.buffer_size == 1_000_000 and atari.eval_epsilon == 0.01
    assert 4 * atari.max_episode_steps == 108_000  # the literature's game length in frames
    assert (lab.frame_stack, lab.atari_preprocessing) == (1, "lab")


def test_lab_preset_keeps_int8_frames_and_the_network_scales_them():
    config = build_config("atari-lab", "d3qn", {"num_envs": 2, "atari_backend": "sync"})
    envs = make_vector(config, 2)
    frames, _ = envs.reset(seed=0)
    assert frames.shape == (2, 88, 80, 1) and frames.dtype == np.int8
    replay = ReplayBuffer(200, 2, frames.shape[1:], frames.dtype, config.frame_stack)
    replay.start(frames)
    for _ in range(5):
        frames, rewards, terminated, truncated, _ = envs.step(np.array([3, 4]))
        replay.add(np.array([3, 4]), rewards, terminated, truncated, frames)
    envs.close()
    obs = replay.latest_stacks()  # (2, 1, 88, 80, 1) int8, as stored
    assert obs.dtype == np.int8 and obs.shape == (2, 1, 88, 80, 1) and obs.min() < 0
    network = network_for(config, envs.single_observation_space, envs.single_action_space)
    with torch.no_grad():
        q = network(torch.from_numpy(obs))  # (2, 9)
        scaled = torch.from_numpy(obs).float().permute(0, 1, 4, 2, 3).reshape(2, 1, 88, 80) / 128
        expected = network.head(network.torso(scaled))
    assert q.shape == (2, 9) and torch.allclose(q, expected)


# --- a CPU smoke run through the CLI, then a resume ---

SMOKE = [
    "--algo", "d3qn", "--num-envs", "2", "--replay-size", "4000", "--warmup-steps", "500",
    "--train-every-steps", "16", "--target-update-every", "20", "--epsilon-decay-steps", "1000",
    "--max-episode-steps", "300", "--final-eval-episodes", "2", "--torch-threads", "1",
    "--eval-every-steps", "1000", "--eval-episodes", "1", "--no-progress", "--seed", "1",
]  # fmt: skip


def test_cpu_smoke_run_writes_a_run_directory_and_resumes(tmp_path, capsys):
    run_dir = tmp_path / "mspacman"
    assert main(["train", "mspacman", *SMOKE, "--max-steps", "2500", "--out", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "84x84x1 uint8 frames" in out and "after 10,000 frames" in out
    assert "evaluation at 2,000 env steps (0.01M frames)" in out  # one game, raw score
    assert len(pd.read_csv(run_dir / "evaluations.csv")) == 2
    for name in ("config.json", "metrics.csv", "summary.json", CHECKPOINT, "learning_curve.png"):
        assert (run_dir / name).stat().st_size > 0, name
    assert (run_dir / "video.mp4").stat().st_size > 0
    config = json.loads((run_dir / "config.json").read_text())
    assert config["env"] == "mspacman" and config["network"] == "nature"
    assert config["buffer_size"] == 4000 and config["frame_stack"] == 4  # atari preset
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["env_steps"] == 2500 and summary["frames"] == 10_000
    assert summary["final_eval"]["episodes"] == 2
    metrics = pd.read_csv(run_dir / "metrics.csv")
    assert len(metrics) >= 4 and (metrics["length"] <= 300).all()  # games cut at 1,200 frames
    # raw game scores (pellets are worth 10), not sums of clipped rewards
    assert (metrics["reward"] % 10 == 0).all() and metrics["reward"].max() >= 100

    assert main(["train", "--resume", str(run_dir), "--max-steps", "3000", "--no-progress"]) == 0
    assert "episodes in progress restart" in capsys.readouterr().out
    resumed = pd.read_csv(run_dir / "metrics.csv")
    assert resumed["episode"].tolist() == list(range(1, len(resumed) + 1))
    assert (
        resumed.iloc[: len(metrics)]
        .drop(columns="wall_time_s")
        .equals(metrics.drop(columns="wall_time_s"))
    )
    state = RunDir(run_dir).load_checkpoint()
    assert state["counters"]["env_steps"] == 3000 and state["replay"]["cursor"] > 1250


def test_lab_preset_trains_on_int8_frames(tmp_path):
    from qarcade.dqn.train import train

    config = build_config(
        "atari-lab",
        "dqn",
        {
            "num_envs": 2,
            "atari_backend": "sync",
            "buffer_size": 2000,
            "warmup_steps": 200,
            "train_every_steps": 16,
            "max_steps": 600,
            "max_episode_steps": 150,
            "final_eval_episodes": 1,
            "video": False,
            "torch_threads": 1,
        },
    )
    summary = train(config, tmp_path / "lab", progress=False, log=lambda *a: None)
    assert summary["env_steps"] == 600 and summary["grad_updates"] > 0
    assert summary["frames"] == 3 * 600  # the lab's skip of 2..4: 3 frames a step on average
    frames = np.asarray(RunDir(tmp_path / "lab").load_checkpoint()["replay"]["frames"])
    assert frames.dtype == np.int8 and frames.shape[2:] == (88, 80, 1)
    assert frames.min() < 0  # the lab's value map reaches the negative bytes
