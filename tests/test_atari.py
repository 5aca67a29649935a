"""Ms. Pac-Man: the lab's preprocessing by hand, the standard stack, the training/evaluation split,
the vector envs against the single one, and the commands a user runs."""

import json as json_module

import numpy as np
import pytest

from qarcade.cli import main
from qarcade.envs.atari import (
    LabPreprocessing,
    get_preset,
    lab_preprocess,
    make_atari_env,
    make_atari_vector_env,
    resolve_backend,
)
from qarcade.envs.atari_play import check_actions, parse_actions, play_actions, play_keyboard
from qarcade.errors import UserError

PACMAN = (210, 164, 74)

# --- the lab's preprocessing, against a hand-made frame ---


def hand_frame() -> np.ndarray:
    frame = np.zeros((210, 160, 3), dtype=np.uint8)
    frame[1, 0] = PACMAN  # kept (row 1, col 0) -> out[0, 0]; her colour -> 0 -> -128
    frame[1, 2] = (255, 255, 255)  # kept -> out[0, 1]; 765 // 3 - 128 = 127
    frame[3, 4] = (30, 0, 0)  # kept -> out[1, 2]; 30 // 3 - 128 = -118
    frame[3, 6] = (200, 200, 48)  # another colour summing to 448: the lab's rule erases it too
    frame[3, 8] = (210, 164, 75)  # 449 // 3 - 128 = 21
    frame[175, 158] = (100, 100, 100)  # the last kept row and column -> out[87, 79]; 100 - 128
    frame[0, :] = 255  # row 0: cropped
    frame[2, :] = 255  # an even row: skipped
    frame[:, 1] = 255  # an odd column: skipped
    frame[176:, :] = 255  # rows from 176 on (the score): cropped
    return frame


def test_lab_preprocess_shape_dtype_crop_stride_and_values():
    out = lab_preprocess(hand_frame())
    assert out.shape == (88, 80, 1) and out.dtype == np.int8
    assert out[0, 0, 0] == -128  # Ms. Pac-Man erased
    assert out[0, 1, 0] == 127
    assert out[1, 2, 0] == -118
    assert out[1, 3, 0] == -128
    assert out[1, 4, 0] == 21
    assert out[87, 79, 0] == -28
    # Everything else was black or removed by the crop and stride: the darkest value.
    written = np.zeros((88, 80), dtype=bool)
    written[[0, 0, 1, 1, 87], [1, 0, 2, 4, 79]] = True
    assert (out[..., 0][~written] == -128).all()


def test_lab_value_map_covers_int8_exactly():
    # Every channel sum 0..765 once, on kept pixels: v // 3 - 128, from -128 to 127.
    sums = np.arange(766)
    frame = np.zeros((210, 160, 3), dtype=np.uint8)
    rows, cols = 1 + 2 * (sums // 80), 2 * (sums % 80)
    frame[rows, cols, 0] = np.minimum(sums, 255)
    frame[rows, cols, 1] = np.clip(sums - 255, 0, 255)
    frame[rows, cols, 2] = np.clip(sums - 510, 0, 255)
    out = lab_preprocess(frame)[sums // 80, sums % 80, 0].astype(int)
    expected = np.array([0 if s == 448 else s for s in sums]) // 3 - 128
    assert (out == expected).all()
    assert out.min() == -128 and out.max() == 127


def test_lab_preprocess_batches_and_rejects_other_shapes():
    batch = np.stack([hand_frame(), np.full((210, 160, 3), 255, np.uint8)])
    out = lab_preprocess(batch)
    assert out.shape == (2, 88, 80, 1)
    assert (out[0] == lab_preprocess(hand_frame())).all() and (out[1] == 127).all()
    with pytest.raises(ValueError, match="210, 160, 3"):
        lab_preprocess(np.zeros((84, 84), np.uint8))


def test_lab_env_observes_the_preprocessed_screen():
    env = make_atari_env("mspacman", "lab", seed=1, render_mode="rgb_array")
    assert env.unwrapped._frameskip == (2, 5)
    assert env.unwrapped.ale.getFloat("repeat_action_probability") == 0.25
    observation, _ = env.reset(seed=1)
    for _ in range(30):
        observation, *_ = env.step(env.action_space.sample())
    assert env.observation_space.contains(observation)
    assert observation.shape == (88, 80, 1) and observation.dtype == np.int8
    assert (observation == lab_preprocess(env.render())).all()
    assert isinstance(env.get_wrapper_attr("player_colour_sum"), int)
    assert any(isinstance(w, LabPreprocessing) for w in _wrappers(env))


def _wrappers(env):
    while hasattr(env, "env"):
        yield env
        env = env.env


# --- the standard preprocessing ---


def test_standard_stack_shape_dtype_and_order():
    env = make_atari_env("mspacman", "standard", seed=2)
    observation, _ = env.reset(seed=2)
    assert observation.shape == (4, 84, 84) and observation.dtype == np.uint8
    # A fresh stack is three zero frames and the first real one, oldest first.
    assert (observation[:3] == 0).all() and observation[3].any()
    for _ in range(5):
        previous = observation
        observation, *_ = env.step(env.action_space.sample())
        assert (observation[:3] == previous[1:]).all()
    assert env.unwrapped._frameskip == 1  # the skip of 4 happens in AtariPreprocessing


@pytest.mark.parametrize("vector", [False, True])
def test_factory_seed_makes_the_stream_reproducible(vector):
    # Sticky actions and no-op starts on: only the seed given to the factory fixes them.
    def trajectory(seed):
        if vector:
            env = make_atari_vector_env("mspacman", "standard", 2, seed=seed)
        else:
            env = make_atari_env("mspacman", "standard", seed=seed)
        observation, _ = env.reset()  # no seed here: the factory's seed carries over
        frames = [observation]
        for action in [1, 3, 3, 2, 4] * 20:
            frames.append(env.step(np.array([action, action]) if vector else action)[0])
        env.close()
        return np.stack(frames)

    first = trajectory(11)
    assert (first == trajectory(11)).all()
    assert (first != trajectory(12)).any()


def _play_same_game(seed: int, steps: int, rng_seed: int = 0):
    """The same seeded game, as a training env and as an evaluation env: per-step outputs."""
    train = make_atari_env("mspacman", "standard", seed=seed, for_training=True)
    evaluate = make_atari_env("mspacman", "standard", seed=seed, for_training=False)
    train.reset(seed=seed)
    evaluate.reset(seed=seed)
    rng = np.random.default_rng(rng_seed)
    steps_out = []
    for _ in range(steps):
        action = int(rng.integers(9))
        steps_out.append((train.step(action), evaluate.step(action)))
        if steps_out[-1][1][2] or steps_out[-1][1][3]:
            break
    return steps_out


def test_rewards_clipped_for_training_only_and_raw_score_in_info():
    steps = _play_same_game(seed=3, steps=5000)
    train_rewards = np.array([t[1] for t, _ in steps])
    raw_rewards = np.array([e[1] for _, e in steps])
    assert raw_rewards.max() >= 10  # Ms. Pac-Man's pellets are worth 10
    assert set(np.unique(train_rewards)) <= {0.0, 1.0}
    assert (train_rewards == np.sign(raw_rewards)).all()
    # The game ran to its end: both envs report the raw score, not the clipped sum.
    (*_, terminated, _, train_info), (*_, _, _, eval_info) = steps[-1]
    assert terminated
    assert train_info["episode"]["r"] == eval_info["episode"]["r"] == raw_rewards.sum()
    assert train_info["episode"]["l"] == len(steps)
    assert raw_rewards.sum() > train_rewards.sum()


def test_life_loss_flagged_for_training_only_and_game_goes_on():
    steps = _play_same_game(seed=4, steps=5000)
    flags = [t[4]["life_loss"] for t, _ in steps]
    lives = [t[4]["lives"] for t, _ in steps]
    terminated = [t[2] for t, _ in steps]
    assert sum(flags) == 3  # 3 lives, all lost, in one game
    for i in np.flatnonzero(flags):
        assert lives[i] == (lives[i - 1] if i else 3) - 1
    assert not any(terminated[:-1]) and terminated[-1]  # only the last life ends the episode
    assert all("life_loss" not in e[4] for _, e in steps)


def test_lab_preset_keeps_raw_rewards_even_for_training():
    env = make_atari_env("mspacman", "lab", seed=5, for_training=True)
    rewards = [env.step(env.action_space.sample())[1] for _ in range(300)]
    assert max(rewards) >= 10


# --- vector envs ---


def test_auto_backend_is_ale_for_standard_and_async_for_lab():
    assert resolve_backend("auto", get_preset("standard")) == "ale"
    assert resolve_backend("auto", get_preset("lab")) == "async"
    with pytest.raises(UserError, match="standard preprocessing"):
        resolve_backend("ale", get_preset("lab"))
    with pytest.raises(UserError, match="unknown vector backend"):
        resolve_backend("threads", get_preset("lab"))


@pytest.mark.parametrize("backend, frame_stack", [("ale", 4), ("sync", 4), ("ale", 1)])
def test_vector_env_matches_single_env_frame_for_frame(backend, frame_stack):
    # Without the random parts (sticky actions, no-op starts) both paths are the same emulator.
    exact = {"repeat_action_probability": 0.0, "noop_max": 0, "frame_stack": frame_stack}
    single = make_atari_env("mspacman", "standard", seed=6, for_training=False, **exact)
    vector = make_atari_vector_env(
        "mspacman", "standard", 2, seed=6, for_training=False, backend=backend, **exact
    )
    observation, _ = single.reset(seed=6)
    observations, _ = vector.reset(seed=6)
    shape = (4, 84, 84) if frame_stack == 4 else (84, 84)
    assert observation.shape == shape and single.observation_space.shape == shape
    assert observations.shape == (2, *shape) and observations.dtype == np.uint8
    assert vector.single_observation_space.shape == shape
    assert (observations[0] == observation).all()
    rng = np.random.default_rng(6)
    rewards = []
    for _ in range(250):
        action = int(rng.integers(9))
        observation, reward, *_ = single.step(action)
        observations, vector_rewards, *_ = vector.step(np.array([action, 0]))
        assert (observations[0] == observation).all()
        assert vector_rewards[0] == reward
        rewards.append(reward)
    assert sum(rewards) > 0
    vector.close()


def test_vector_env_reports_raw_scores_life_loss_and_clipped_rewards():
    vector = make_atari_vector_env("mspacman", "standard", 2, seed=7, for_training=True)
    vector.reset(seed=7)
    rng = np.random.default_rng(7)
    clipped_sum, life_losses, score = np.zeros(2), np.zeros(2, int), None
    for _ in range(5000):
        _, rewards, terminated, truncated, info = vector.step(rng.integers(9, size=2))
        assert set(np.unique(rewards)) <= {0.0, 1.0}
        clipped_sum += rewards
        life_losses += info["life_loss"]
        if terminated[0]:
            assert info["_episode"][0]
            score = info["episode"]["r"][0]
            break
    assert life_losses[0] == 3
    assert score is not None and score > clipped_sum[0]
    assert score % 10 == 0
    vector.close()


def test_ale_vector_env_same_step_autoreset_keeps_the_final_frame():
    from gymnasium.vector import AutoresetMode

    vector = make_atari_vector_env(
        "mspacman", "standard", 1, seed=9, autoreset_mode=AutoresetMode.SAME_STEP
    )
    rng = np.random.default_rng(9)
    for _ in range(5000):
        observations, _, terminated, _, info = vector.step(rng.integers(9, size=1))
        if terminated[0]:
            break
    assert terminated[0] and info["episode"]["r"][0] > 0
    final = np.asarray(info["final_obs"][0])
    assert final.shape == (4, 84, 84) and final.any()
    assert (observations[0, :3] == 0).all()  # already the next game's first stack
    vector.close()


def test_lab_vector_env_matches_single_lab_env():
    single = make_atari_env("mspacman", "lab", seed=8, for_training=False)
    vector = make_atari_vector_env("mspacman", "lab", 2, seed=8, backend="sync")
    observation, _ = single.reset(seed=8)
    observations, _ = vector.reset(seed=8)
    assert observations.shape == (2, 88, 80, 1) and observations.dtype == np.int8
    for action in [3, 3, 1, 1, 2, 4, 4, 0] * 5:
        observation, *_ = single.step(action)
        observations, *_ = vector.step(np.array([action, action]))
        assert (observations[0] == observation).all()
    vector.close()


# --- commands a user runs ---


def test_preprocess_command_writes_the_figure(tmp_path, capsys):
    import matplotlib.image

    out = tmp_path / "frames.png"
    assert main(["preprocess", "mspacman", "--out", str(out), "--steps", "20"]) == 0
    assert str(out) in capsys.readouterr().out
    image = matplotlib.image.imread(out)
    assert image.shape[0] >= 300 and image.shape[1] >= 3 * 200
    assert image[..., :3].std() > 0.1  # three pictures, not a blank canvas


def test_preprocess_without_out_writes_a_named_figure_here(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["preprocess", "mspacman", "--steps", "5"]) == 0
    assert capsys.readouterr().out == "wrote mspacman-preprocessing.png\n"
    assert (tmp_path / "mspacman-preprocessing.png").stat().st_size > 0


def test_play_actions_scores_and_records_frames():
    actions = [3] * 20 + [2] * 20 + [1] * 40
    played = play_actions("mspacman", actions=actions, seed=0, record=True)
    assert played.steps == len(actions) and not played.game_over
    assert played.score > 0 and played.score % 10 == 0
    assert len(played.frames) == len(actions) + 1
    assert played.frames[0].shape == (210, 160, 3)
    again = play_actions("mspacman", actions=actions, seed=0)
    assert again.score == played.score and again.frames == []


def test_play_random_runs_to_game_over():
    played = play_actions("mspacman", random_steps=5000, seed=1)
    assert played.game_over and played.lives == 0 and played.steps < 5000


def test_play_command_random_with_video(tmp_path, capsys):
    import imageio.v3 as iio

    video = tmp_path / "game.mp4"
    argv = ["play", "mspacman", "--random", "60", "--seed", "3", "--video", str(video)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "mspacman seed 3: 60 steps, score" in out and "61 frames at 15 fps" in out
    frames = iio.imread(video)  # (T, H, W, 3): the 210x160 screens, scaled 2x
    assert frames.shape == (61, 420, 320, 3)
    assert frames[-1].std() > 10  # the maze, not a blank frame


def test_ctrl_c_during_play_keeps_the_game_and_writes_its_video(tmp_path, capsys, monkeypatch):
    import imageio.v3 as iio

    from qarcade.envs import atari_play

    make = atari_play.gym.make

    def make_interrupted(*args, **kwargs):  # Ctrl-C lands in the 9th step
        env = make(*args, **kwargs)
        step, calls = env.step, []

        def step_until_ctrl_c(action):
            calls.append(action)
            if len(calls) == 9:
                raise KeyboardInterrupt
            return step(action)

        env.step = step_until_ctrl_c
        return env

    monkeypatch.setattr(atari_play.gym, "make", make_interrupted)
    video = tmp_path / "game.gif"
    argv = ["play", "mspacman", "--random", "500", "--seed", "3", "--video", str(video)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "mspacman seed 3: 8 steps, score 0 (3 lives left, stopped by Ctrl-C)" in out
    assert f"video: {video} (9 frames at 15 fps)" in out
    assert iio.imread(video, index=None).shape == (9, 420, 320, 3)


def test_any_ale_game_plays_and_preprocesses_by_its_name(tmp_path, capsys, monkeypatch):
    assert main(["play", "ALE/Breakout-v5", "--random", "30", "--seed", "1", "--json"]) == 0
    result = json_module.loads(capsys.readouterr().out)
    assert result["env"] == "breakout" and result["steps"] == 30 and result["lives"] >= 4
    monkeypatch.chdir(tmp_path)
    assert main(["preprocess", "pong", "--steps", "5"]) == 0
    assert capsys.readouterr().out == (
        "pong: the standard preprocessing only (the lab's is Ms. Pac-Man's: it erases her "
        "colour, 210+164+74)\nwrote pong-preprocessing.png\n"
    )
    assert (tmp_path / "pong-preprocessing.png").stat().st_size > 0
    with pytest.raises(UserError, match="the lab's preprocessing is Ms. Pac-Man's"):
        make_atari_env("breakout", "lab")


def test_play_command_actions_json_matches_the_library(capsys):
    import json

    actions = [3] * 20 + [2] * 20 + [1] * 40
    text = ",".join(map(str, actions))
    assert main(["play", "mspacman", "--actions", text, "--seed", "0", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["steps"] == len(actions)
    assert result["score"] == play_actions("mspacman", actions=actions, seed=0).score > 0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["preprocess", "pongg", "--out", "x.png"], "unknown Atari game 'pongg'; closest: pong"),
        (["preprocess", "mspacman", "--out", "/no/such/dir/x.png"], "does not exist"),
        (["preprocess", "mspacman", "--out", "frames.txt"], "must end in .png"),
        (["play", "mspacman", "--actions", "0,3,12"], "action 12 is not one of"),
        (["play", "mspacman", "--actions", "0,left"], "comma-separated integers"),
        (["play", "mspacman", "--random", "5", "--actions", "1"], "--actions or --random"),
        (["play", "mspacman", "--random", "5", "--video", "x.avi"], "must end in .mp4 or .gif"),
        (["play", "mspacman"], "keyboard play needs a display"),
    ],
)
def test_one_line_errors(argv, message, capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert message in error and error.strip().count("\n") == 0


def test_parse_actions():
    assert parse_actions("0,3,3,8") == [0, 3, 3, 8]
    with pytest.raises(UserError, match="comma-separated integers, got '0,up'"):
        parse_actions("0,up")
    with pytest.raises(UserError, match="action -1 is not one of"):
        parse_actions("0,-1")


def test_keyboard_play_without_a_display_is_a_user_error(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(UserError, match="needs a display"):
        play_keyboard("mspacman")


def test_play_unknown_game_is_a_one_line_error_naming_the_closest(capsys):
    assert main(["play", "pacmann", "--random", "3"]) == 2
    error = capsys.readouterr().err
    assert "unknown env 'pacmann'; closest: pacman" in error and error.strip().count("\n") == 0


def test_bad_action_is_a_user_error_naming_the_actions():
    with pytest.raises(UserError, match="action 9 is not one of .*0 NOOP.*8 DOWNLEFT"):
        check_actions([0, 3, 9])
    with pytest.raises(UserError, match="unknown Atari game 'pongg'; closest: pong"):
        make_atari_env("pongg")
    with pytest.raises(UserError, match="unknown preprocessing"):
        make_atari_env("mspacman", "nature")
    with pytest.raises(UserError, match="unknown Atari preset field"):
        make_atari_env("mspacman", "standard", sticky=0.0)
    with pytest.raises(UserError, match="frame_stack must be at least 1"):
        make_atari_vector_env("mspacman", "standard", 2, frame_stack=0)


def test_train_help_says_each_envs_default_preset(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    preset_help = help_text.split("--preset {")[2].split("--algo")[0]  # 1: usage line, 2: its help
    assert (
        "(default: fast for the gridworld, atari for Atari games, classic for Gymnasium envs)"
        in preset_help
    )
    assert "None" not in preset_help


@pytest.mark.parametrize("backend", ["ale", "async", "sync"])
def test_a_step_sent_ahead_is_the_plain_step(backend):
    # send_ahead starts the step in ale-py's threads or the async processes; the next step()
    # through the wrappers (episode statistics, life loss, clipping) collects the same results.
    from qarcade.envs.vector import send_ahead

    exact = {"repeat_action_probability": 0.0, "frame_stack": 1}
    plain, ahead = (
        make_atari_vector_env("mspacman", "standard", 2, seed=4, backend=backend, **exact)
        for _ in range(2)
    )
    rng = np.random.default_rng(4)
    for _ in range(60):
        actions = rng.integers(9, size=2)
        assert send_ahead(ahead, actions) == (backend != "sync")  # sync cannot step ahead
        got, want = ahead.step(actions), plain.step(actions)
        for a, b in zip(got[:4], want[:4], strict=True):
            assert np.array_equal(a, b)
        assert np.array_equal(got[4]["life_loss"], want[4]["life_loss"])
    if backend != "sync":
        send_ahead(ahead, np.zeros(2, np.int64))
        with pytest.raises(RuntimeError, match="other actions"):
            ahead.step(np.ones(2, np.int64))
    plain.close()
    ahead.close()
