"""The training loop's on_episodes hook and media.LiveCurve, the learning curve that redraws
while a run trains: rows arrive in order and match metrics.csv; the pictures are read back."""

import io

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from tiny_runs import QUIET, tiny

from qarcade.dqn.train import train
from qarcade.media import LiveCurve
from qarcade.runs import METRICS_COLUMNS, RunDir

LIVE = dict(epsilon_decay_steps=200, final_eval_episodes=0, max_steps=600, seed=5)


def read_png(data: bytes):
    """(H, W, channels) floats in [0, 1]; fails if ``data`` is not a PNG."""
    return matplotlib.image.imread(io.BytesIO(data), format="png")


def line_pixels(image) -> int:
    """Pixels of the moving mean's line: matplotlib's second colour (C1, #ff7f0e)."""
    rgb = (image[..., :3] * 255).astype(int)
    return int((np.abs(rgb - [255, 127, 14]).sum(axis=-1) < 30).sum())


def metrics_rows(episodes: int, step_every: int = 50) -> list[tuple]:
    """Rows as the loop writes them: reward rising with the episode."""
    return [
        (e, e * step_every, float(e % 7), 50, 0.1, 0.01, 0.1 * e) for e in range(1, episodes + 1)
    ]


# --- the hook ---


# --- the live curve ---


class FakeDisplay:
    """IPython's display/update protocol: records what was shown."""

    def __init__(self):
        self.shown = []  # PNG bytes, one per display or update
        self.displays = 0

    def __call__(self, image, display_id=None):
        assert display_id is True
        self.displays += 1
        self.shown.append(image.data)
        return self

    def update(self, image):
        self.shown.append(image.data)


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_live_curve_draws_at_once_then_at_most_once_per_interval():
    display, clock = FakeDisplay(), FakeClock()
    curve = LiveCurve(goal=5.0, window=10, every_s=1.0, display=display, clock=clock)
    rows = metrics_rows(40)
    curve(rows[:4])  # first rows: drawn at once
    assert len(display.shown) == 1 and display.displays == 1
    clock.now = 0.5
    curve(rows[4:8])  # too soon
    assert len(display.shown) == 1
    clock.now = 1.2
    curve(rows[8:20])  # a second later: the same handle is updated
    assert len(display.shown) == 2 and display.displays == 1
    clock.now = 1.5
    curve(rows[20:40])
    assert len(display.shown) == 2
    curve.close()  # the rows since the last redraw are drawn
    assert len(display.shown) == 3 and curve.redraws == 3
    curve.close()  # nothing new: no redraw
    assert len(display.shown) == 3
    first, _, last = (read_png(data) for data in display.shown)
    assert first.shape[:2] == last.shape[:2] == (400, 700)
    assert last[..., :3].std() > 0.05, "blank picture"
    assert line_pixels(last) > line_pixels(first) > 0  # 40 episodes draw a longer line than 4


def test_a_slow_redraw_spaces_the_next_ones_out(monkeypatch):
    display, clock = FakeDisplay(), FakeClock()
    curve = LiveCurve(every_s=1.0, display=display, clock=clock)
    draw = curve.png

    def slow_png():  # each redraw takes 0.3 s of the (fake) clock
        clock.now += 0.3
        return draw()

    monkeypatch.setattr(curve, "png", slow_png)
    rows = metrics_rows(30)
    curve(rows[:10])  # drawn from 0 to 0.3 s: the next no sooner than 0.3 + 10 x 0.3 s
    clock.now = 3.2
    curve(rows[10:20])
    assert curve.redraws == 1
    clock.now = 3.4
    curve(rows[20:])
    assert curve.redraws == 2 and len(display.shown) == 2


def test_live_curve_frame_is_what_metrics_csv_reads(tmp_path):
    run = RunDir.create(tmp_path / "run", tiny("dqn", **LIVE).to_dict())
    rows = metrics_rows(12)
    run.append_rows("metrics.csv", rows)
    curve = LiveCurve(display=None)
    curve(rows)
    pd.testing.assert_frame_equal(curve.metrics(), run.read_metrics(), check_dtype=False)


def test_live_curve_outside_jupyter_shows_nothing_and_can_write_a_file(tmp_path):
    quiet = LiveCurve()  # pytest is no Jupyter kernel: nothing to show, nothing drawn
    quiet(metrics_rows(5))
    quiet.close()
    assert quiet.redraws == 0 and len(quiet.rows) == 5
    assert line_pixels(read_png(quiet.png())) > 0  # it can still draw on demand
    path = tmp_path / "live.png"
    with LiveCurve(path=path, every_s=3600) as to_file:
        to_file(metrics_rows(3))
        first = path.read_bytes()
        to_file(metrics_rows(30)[3:])  # within the hour: not redrawn yet
        assert path.read_bytes() == first
    assert to_file.redraws == 2 and path.read_bytes() != first  # leaving the block drew it
    assert read_png(path.read_bytes()).shape[:2] == (400, 700)


# --- the hook, in a training run ---


@pytest.mark.slow
def test_on_episodes_gets_every_row_in_order_and_the_live_curve_follows(tmp_path):
    calls, display = [], FakeDisplay()
    config = tiny("dqn", **LIVE)
    curve = LiveCurve(goal=config.goal, every_s=0.0, display=display)

    def on_episodes(rows):
        calls.append(rows)
        curve(rows)

    with curve:
        summary = train(config, tmp_path / "run", on_episodes=on_episodes, **QUIET)
    assert len(calls) >= 2 and all(calls), "one call per vector step that closed episodes"
    rows = [row for call in calls for row in call]
    assert [row[0] for row in rows] == list(range(1, summary["episodes"] + 1))
    steps = [row[1] for row in rows]
    assert steps == sorted(steps) and steps[-1] <= summary["env_steps"]
    written = RunDir(tmp_path / "run").read_metrics()
    received = pd.DataFrame(rows, columns=list(METRICS_COLUMNS))
    pd.testing.assert_frame_equal(received, written, check_dtype=False)
    # rows of one call finished in the same vector step: same env step, consecutive episodes
    for call in calls:
        assert len({row[1] for row in call}) == 1
    # the live curve saw the same rows and redrew (in place) as they came
    assert curve.rows == rows
    assert len(display.shown) == curve.redraws >= 2 and display.displays == 1
    assert line_pixels(read_png(display.shown[-1])) > line_pixels(read_png(display.shown[0]))
