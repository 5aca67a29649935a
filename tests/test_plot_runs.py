"""`qarcade plot` on short runs (one episode, a handful): a point per episode with markers, a
smoothing window that shrinks with the runs, a band only where two runs have a value, and each
line ending where its runs end. Pictures are checked by reading the PNG back."""

import json

import matplotlib.image
import numpy as np
import pytest

from qarcade import explain
from qarcade.cli import main
from qarcade.dqn.config import build_config
from qarcade.runs import METRICS, RunDir


def fake_run(path, rewards, *, algo="dqn", seed=0, step_every=50, goal=None):
    """A run directory whose metrics.csv holds ``rewards``, an episode every ``step_every``."""
    changes = {"seed": seed} if goal is None else {"seed": seed, "goal": goal}
    run = RunDir.create(path, build_config("fast", algo, changes).to_dict())
    rows = [(i + 1, (i + 1) * step_every, r, 50, 0.1, 0.0, 0.0) for i, r in enumerate(rewards)]
    run.append_rows(METRICS, rows)
    return path


def read_png(path):
    return matplotlib.image.imread(str(path), format="png")


def pixels_near(image, rgb, tolerance=8) -> np.ndarray:
    """(H, W) True where the picture has colour ``rgb`` (0-255)."""
    return np.abs((image[..., :3] * 255).astype(int) - rgb).max(axis=-1) <= tolerance


FIRST_LINE = (31, 119, 180)  # matplotlib's C0, #1f77b4
FIRST_BAND = (210, 228, 240)  # C0 at alpha 0.2 on white


def band_pixels(image) -> int:
    """Pixels of the first band's colour; a line's anti-aliased edges have a few dozen."""
    return int(pixels_near(image, FIRST_BAND, tolerance=2).sum())


@pytest.mark.parametrize(
    "goal_window, episodes, window",
    [(50, 1, 1), (50, 3, 1), (50, 5, 2), (50, 99, 49), (50, 100, 50), (50, 5000, 50), (7, 9, 4)],
)
def test_smoothing_window_is_at_most_half_the_shortest_run(goal_window, episodes, window):
    assert explain.smoothing_window(goal_window, episodes) == window


def test_one_episode_is_one_point_without_a_band(tmp_path):
    (curve,) = explain.learning_curves([fake_run(tmp_path / "a", [3.0])]).values()
    assert curve["window"] == 1 and curve["final_mean"] == 3.0
    np.testing.assert_array_equal(curve["steps"], [50.0])
    np.testing.assert_array_equal(curve["mean"], [3.0])
    assert np.isnan(curve["low"]).all() and np.isnan(curve["high"]).all()


def test_short_runs_get_a_point_per_episode_end_and_a_band_where_two_runs_are(tmp_path):
    runs = [
        fake_run(tmp_path / "a", [1.0, 4.0, 2.0, 6.0], seed=0, step_every=50),  # 50 .. 200
        fake_run(tmp_path / "b", [0.0, 2.0, 4.0, 3.0, 7.0, 8.0], seed=1, step_every=45),  # .. 270
        fake_run(tmp_path / "c", [5.0, 5.0, 9.0, 9.0], algo="d3qn", step_every=40),  # .. 160
    ]
    curves = explain.learning_curves(runs)
    dqn, d3qn = curves["dqn"], curves["d3qn"]
    steps = sorted({50, 100, 150, 200, 45, 90, 135, 180, 225, 270, 40, 80, 120, 160})
    np.testing.assert_array_equal(dqn["steps"], steps)
    assert dqn["window"] == d3qn["window"] == 2  # the shortest run has 4 episodes
    at = {step: i for i, step in enumerate(steps)}
    # step 45: only run b has an episode (mean of its first: 0); no band from one run
    assert dqn["mean"][at[45]] == 0.0 and np.isnan(dqn["low"][at[45]])
    # step 100: a's last two (1, 4) -> 2.5, b's last two by then (0, 2) -> 1; mean 1.75
    assert dqn["mean"][at[100]] == pytest.approx(1.75)
    assert dqn["low"][at[100]] == pytest.approx(1.0) and dqn["high"][at[100]] == pytest.approx(2.5)
    # after a's end (200) a keeps its last value (4) until b's end; the line stops at 270
    assert dqn["mean"][at[270]] == pytest.approx((4.0 + 7.5) / 2)
    assert dqn["final_mean"] == pytest.approx(5.75)
    # d3qn (one run, last episode at 160): its own points, no band, nothing after its end
    assert d3qn["mean"][at[160]] == 9.0 and d3qn["final_mean"] == 9.0
    assert np.isnan(d3qn["mean"][[at[s] for s in steps if s > 160]]).all()
    assert np.isnan(d3qn["low"]).all()


def test_long_runs_keep_the_goal_window_and_an_even_grid(tmp_path):
    run = fake_run(tmp_path / "a", list(np.linspace(0.0, 20.0, 300)))
    (curve,) = explain.learning_curves([run], points=100).values()
    assert curve["window"] == 50
    np.testing.assert_allclose(curve["steps"], np.linspace(0, 300 * 50, 100))
    assert explain.learning_curves([run], window=10)["dqn"]["window"] == 10  # asked: kept


def test_one_episode_run_draws_a_visible_point(tmp_path):
    run = fake_run(tmp_path / "a", [30.0], goal=15.0)  # above the goal: the top of the plot
    out = tmp_path / "one.png"
    explain.plot_runs([run], out)
    image = read_png(out)
    assert image.shape[:2] == (400, 700)
    upper = pixels_near(image, FIRST_LINE)[: image.shape[0] // 2]  # the legend is lower right
    assert upper.sum() >= 15, "the episode's point is not drawn"
    assert band_pixels(image) < 100, "one run has no band"


def test_band_is_drawn_for_two_runs_and_not_for_one(tmp_path):
    one = [fake_run(tmp_path / "a", [1.0, 4.0, 2.0, 6.0, 3.0, 5.0])]
    two = [*one, fake_run(tmp_path / "b", [3.0, 0.0, 5.0, 2.0, 7.0, 4.0], seed=1)]
    explain.plot_runs(one, tmp_path / "one.png")
    explain.plot_runs(two, tmp_path / "two.png")
    assert band_pixels(read_png(tmp_path / "one.png")) < 100
    assert band_pixels(read_png(tmp_path / "two.png")) > 2000


def test_qarcade_plot_reports_the_window_and_where_each_line_ends(tmp_path, capsys):
    short = fake_run(tmp_path / "short", [3.0], algo="d3qn")
    long = fake_run(tmp_path / "long", [1.0, 2.0, 3.0, 4.0])
    out = tmp_path / "curves.png"
    assert main(["plot", str(long), str(short), "--out", str(out), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["window"] == 1
    assert document["curves"]["dqn"] == {"runs": 1, "final_mean": 4.0, "last_step": 200.0}
    assert document["curves"]["d3qn"] == {"runs": 1, "final_mean": 3.0, "last_step": 50.0}
    assert main(["plot", str(long), "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "dqn: 1 run(s), smoothed mean at step 200: 3.50",
        f"wrote {out} (moving mean over 2 episodes)",
    ]


def test_few_runs_are_shown_with_their_range_many_with_an_interval_of_the_mean(tmp_path):
    rewards = [[float(s + e) for e in range(6)] for s in range(5)]
    runs = [fake_run(tmp_path / f"r{s}", rewards[s], seed=s) for s in range(5)]
    two = explain.learning_curves(runs[:2])["dqn"]
    assert two["band"] == "range" and two["values"].shape == (2, 6)
    np.testing.assert_array_equal(two["low"], two["values"].min(axis=0))
    np.testing.assert_array_equal(two["high"], two["values"].max(axis=0))
    five = explain.learning_curves(runs)["dqn"]
    assert five["band"] == "95% bootstrap"
    inside = (five["low"] > five["values"].min(axis=0)) & (
        five["high"] < five["values"].max(axis=0)
    )
    assert inside[-1], "an interval of the mean of 5 runs is narrower than their range"


def test_episodes_ending_together_are_spread_before_their_step_only():
    from qarcade.media import spread_episodes, step_ends

    steps = np.repeat([800.0, 1600.0, 2400.0], 16)  # 16 envs finish together
    rewards = np.tile(np.arange(16.0) % 3, 3)  # whole numbers: piled up
    x, y = spread_episodes(steps, rewards)
    assert (x <= steps).all() and (x >= steps - 0.4 * 800).all()
    assert len(np.unique(x)) == 48  # no two points on one spot
    assert np.abs(y - rewards).max() <= 0.2 and (y != rewards).any()
    np.testing.assert_array_equal(spread_episodes(steps, rewards)[1], y)  # the same each time
    assert step_ends(steps).sum() == 3  # the mean is drawn once per step
    single = np.array([10.0, 25.0, 60.0])
    x, y = spread_episodes(single, np.array([1.5, 2.5, 0.5]))
    np.testing.assert_array_equal(x, single)  # alone at its step: where it is
    np.testing.assert_array_equal(y, [1.5, 2.5, 0.5])  # not whole numbers: not moved


def test_a_goal_far_above_the_curve_is_named_not_drawn(tmp_path):
    import pandas as pd
    from matplotlib.figure import Figure

    from qarcade.media import _draw_learning_curve

    rewards = np.r_[np.linspace(100, 600, 200), 6_000.0]  # one lucky game
    metrics = pd.DataFrame({"step": np.arange(1, 202) * 500, "reward": rewards})
    ax = Figure().subplots()
    _draw_learning_curve(ax, metrics, 2_500, 100, "mspacman", goal_label="evaluation goal")
    bottom, top = ax.get_ylim()
    assert 600 < top < 1_000 and bottom < 100  # the curve fills the plot
    assert not [line for line in ax.get_lines() if line.get_label().startswith("evaluation")]
    notes = [text.get_text() for text in ax.texts]
    assert notes == ["evaluation goal 2,500: above the plot\n1 episode above the plot, up to 6,000"]
    ax = Figure().subplots()
    _draw_learning_curve(ax, metrics.iloc[:200], 700, 100, "near")  # a goal in reach: a line
    assert [line.get_ydata()[0] for line in ax.get_lines() if line.get_label() == "goal 700"]
    assert ax.get_ylim()[1] > 700 and not ax.texts


def test_a_run_that_stops_on_greedy_play_draws_the_training_goal_it_noted_too():
    import pandas as pd
    from matplotlib.figure import Figure

    from qarcade.media import _draw_learning_curve

    metrics = pd.DataFrame({"step": np.arange(1, 101) * 160, "reward": np.linspace(0, 24, 100)})
    ax = Figure().subplots()
    _draw_learning_curve(ax, metrics, 24.0, 50, "d3qn", None, "evaluation goal", 15.0)
    goals = {line.get_label(): line.get_ydata()[0] for line in ax.get_lines()}
    assert goals["evaluation goal 24"] == 24.0
    assert goals["training goal 15"] == 15.0
    ax = Figure().subplots()  # a run that stops on its training mean: one line
    _draw_learning_curve(ax, metrics, 15.0, 50, "d3qn", None, "goal", 15.0)
    assert [line.get_label() for line in ax.get_lines() if "goal" in line.get_label()] == [
        "goal 15"
    ]
