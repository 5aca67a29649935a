"""Training on any Gymnasium env and any Atari game from the same commands: CartPole with the
classic preset (learning, video, eval, resume, plot), a user's env from its own module by its
module:Env-v0 id, and a few thousand frames of Breakout that `qarcade eval` plays."""

import json
import sys
import textwrap

import imageio.v3 as iio
import pytest

from qarcade.cli import main
from qarcade.dqn.config import build_config
from qarcade.dqn.train import train

QUIET = dict(progress=False, log=lambda *args: None)

# A user's package: a corridor of 6 cells, walk right to the end (+1), -0.01 per step.
CORRIDOR = textwrap.dedent(
    """
    import gymnasium as gym
    import numpy as np

    class Corridor(gym.Env):
        metadata = {"render_modes": []}

        def __init__(self, render_mode=None, length=6):
            self.length = length
            self.observation_space = gym.spaces.Box(0.0, 1.0, (length,), np.float32)
            self.action_space = gym.spaces.Discrete(2)

        def _observation(self):
            observation = np.zeros(self.length, np.float32)
            observation[self.position] = 1.0
            return observation

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self.position = 0
            return self._observation(), {}

        def step(self, action):
            self.position = min(max(self.position + (1 if action == 1 else -1), 0), self.length - 1)
            end = self.position == self.length - 1
            return self._observation(), 1.0 if end else -0.01, end, False, {}

    gym.register(
        "QarcadeTestCorridor-v0", entry_point=Corridor, max_episode_steps=30, reward_threshold=0.9
    )
    """
)


@pytest.mark.filterwarnings("ignore:.*Overriding environment")
def test_a_users_env_trains_from_the_cli_by_its_module_id(tmp_path, monkeypatch, capsys):
    (tmp_path / "qarcade_test_corridor.py").write_text(CORRIDOR)
    monkeypatch.syspath_prepend(str(tmp_path))
    run = tmp_path / "run"
    env = "qarcade_test_corridor:QarcadeTestCorridor-v0"
    flags = ["--warmup-steps", "200", "--epsilon-decay-steps", "800", "--eval-every-steps", "500"]
    flags += ["--max-steps", "4000", "--final-eval-episodes", "10", "--seed", "1"]
    assert main(["train", env, *flags, "--no-progress", "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{env}: preset classic, the default for Gymnasium envs\n")
    assert "no video: " in out and "does not render rgb_array frames" in out  # one line, no crash
    summary = json.loads((run / "summary.json").read_text())
    assert summary["goal_reached"] and summary["goal"] == 0.9  # the spec's reward_threshold
    assert summary["final_eval"]["mean"] == pytest.approx(0.96)  # 5 steps right: the optimum
    sys.modules.pop("qarcade_test_corridor")  # eval imports the module again, by the id
    assert main(["eval", str(run), "--episodes", "3"]) == 0
    assert "mean 0.96" in capsys.readouterr().out


def test_cartpole_run_directory_videos_evaluates_resumes_and_plots(tmp_path, capsys):
    run = tmp_path / "cartpole"
    flags = ["--max-steps", "1200", "--warmup-steps", "300", "--final-eval-episodes", "2"]
    flags += ["--eval-every-steps", "0", "--seed", "2", "--torch-threads", "1"]
    assert main(["train", "CartPole-v1", *flags, "--no-progress", "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert "d3qn on CartPole-v1: " in out and "network=mlp" in out and "goal=475.0" in out
    frames = iio.imread(run / "video.mp4")  # classic control draws with pygame (the dev extra)
    assert frames.ndim == 4 and frames.shape[-1] == 3 and len(frames) >= 9
    assert (run / "learning_curve.png").stat().st_size > 0 and list((run / "tb").iterdir())
    video = tmp_path / "agent.gif"
    assert main(["eval", str(run), "--episodes", "2", "--video", str(video)]) == 0
    assert "d3qn on CartPole-v1, 2 episodes at epsilon 0" in capsys.readouterr().out
    assert video.stat().st_size > 0
    assert main(["train", "--resume", str(run), "--max-steps", "1600", "--no-progress"]) == 0
    assert json.loads((run / "summary.json").read_text())["env_steps"] >= 1600
    capsys.readouterr()
    assert main(["plot", str(run), "--out", str(tmp_path / "curves.png")]) == 0
    assert (tmp_path / "curves.png").stat().st_size > 0
    capsys.readouterr()
    assert main(["explain", str(run), "--json"]) == 0  # Q-values along one greedy episode
    explained = json.loads(capsys.readouterr().out)
    assert explained["figure"] == str(run / "q_values.png") and (run / "q_values.png").exists()
    assert explained["action_names"] == ["0", "1"] and explained["ended"]
    assert sum(explained["action_counts"]) == explained["steps"] == explained["return"]


def test_a_breakout_run_writes_a_run_directory_that_eval_plays(tmp_path, capsys):
    run = tmp_path / "breakout"
    flags = ["--max-steps", "400", "--warmup-steps", "200", "--train-every-steps", "50"]
    flags += ["--buffer-size", "2000", "--num-envs", "2", "--max-episode-steps", "100"]
    flags += ["--final-eval-episodes", "1", "--no-video", "--torch-threads", "1"]
    assert main(["train", "ALE/Breakout-v5", *flags, "--no-progress", "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("breakout: preset atari, the default for Atari games\n")
    assert "network=nature" in out and "atari_preprocessing=standard" in out
    assert json.loads((run / "config.json").read_text())["env"] == "breakout"
    assert main(["eval", str(run), "--episodes", "1", "--video", str(tmp_path / "b.gif")]) == 0
    assert "d3qn on breakout, 1 episode at epsilon 0.01" in capsys.readouterr().out


@pytest.mark.slow
def test_cartpole_learns_with_the_classic_preset(tmp_path):
    """The default for CartPole-v1, a small budget (seed 2 reaches a greedy 500 at 5,000 env
    steps; the threshold leaves room for other CPUs' arithmetic)."""
    overrides = {"seed": 2, "max_steps": 5_000, "video": False, "final_eval_episodes": 20}
    summary = train(build_config("classic", None, overrides), tmp_path / "run", **QUIET)
    assert summary["final_eval"]["mean"] >= 200  # random play: about 22


def test_a_sweep_on_a_gymnasium_env_takes_its_preset_and_goal(tmp_path):
    from qarcade.sweep import SweepSpec, expand_trials

    spec = SweepSpec(env="Acrobot-v1", preset="classic", algos=("dqn", "d3qn"), seeds=2)
    trials = expand_trials(spec, tmp_path)
    assert len(trials) == 4
    for trial in trials:
        config = trial["config"]
        assert config["env"] == "Acrobot-v1" and config["network"] == "mlp"
        assert config["goal"] == -100.0 and config["goal_metric"] == "eval"
