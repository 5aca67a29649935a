"""Things people would rather look at than read: videos, notebook animations, plots."""

from __future__ import annotations

from pathlib import Path

from qarcade.outfiles import check_output, writing

# --- video ---
# Frames are (T, H, W, 3) uint8 arrays (an episode's env.render() output). Each frame is shown
# for 1/fps seconds (default 4 fps: 250 ms, long enough to follow a gridworld move) and blown up
# by nearest neighbour (``scale``; 84 px * 4 = 336 px, a multiple of 16 as H.264 likes).

VIDEO_SUFFIXES = (".mp4", ".gif")


def _video_frames(frames, scale: int, fps: float):
    import numpy as np

    from qarcade.errors import UserError

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise UserError(f"a video needs frames of shape (T, H, W, 3), got {frames.shape}")
    if not 0 < fps < float("inf") or int(scale) != scale or scale < 1:
        raise UserError(f"a video needs fps > 0 and a whole scale >= 1, got {fps} and {scale}")
    frames = frames.astype(np.uint8, copy=False)
    if scale != 1:
        frames = frames.repeat(int(scale), axis=1).repeat(int(scale), axis=2)  # (T, H*s, W*s, 3)
    return frames


def gif_bytes(frames, *, fps: float = 4.0, scale: int = 4) -> bytes:
    """An animated, looping GIF of ``frames``; identical consecutive frames merge into one
    shown for their summed time (the GIF encoder does this)."""
    import imageio.v3 as iio

    frames = _video_frames(frames, scale, fps)
    return iio.imwrite("<bytes>", frames, extension=".gif", duration=1000.0 / fps, loop=0)


def write_video(frames, path, *, fps: float = 4.0, scale: int = 4):
    """Write ``frames`` to ``path``: .mp4 (H.264 through imageio-ffmpeg) or .gif; returns the
    path. Any other extension, or a path that cannot be written (``outfiles.check_output``), is
    a UserError raised before anything is written; a write cut short leaves no file."""
    path = check_output(path, "video", suffixes=VIDEO_SUFFIXES)
    frames = _video_frames(frames, scale, fps)
    with writing(path, "video") as tmp:
        if path.suffix.lower() == ".gif":
            tmp.write_bytes(gif_bytes(frames, fps=fps, scale=1))
            return path
        import imageio.v2 as imageio

        # yuv420p so every player opens it; quality 8 of 10 keeps the flat colours clean
        with imageio.get_writer(
            tmp, fps=fps, codec="libx264", pixelformat="yuv420p", quality=8, macro_block_size=1
        ) as writer:
            for frame in frames:
                writer.append_data(frame)
    return path


class _InlineHTML:
    """What ``notebook_animation`` returns without IPython: Jupyter shows ``_repr_html_``."""

    def __init__(self, html: str):
        self.data = html

    def _repr_html_(self) -> str:
        return self.data


def notebook_animation(frames, *, fps: float = 4.0, scale: int = 4):
    """A looping animation of ``frames`` to show in a notebook cell: a base64 GIF inside an
    ``IPython.display.HTML`` (or an object with ``_repr_html_`` where IPython is missing)."""
    return _gif_html(gif_bytes(frames, fps=fps, scale=scale))


def notebook_gif(path):
    """A GIF file (a video ``qarcade eval --video x.gif`` wrote) shown in a notebook cell as
    ``notebook_animation`` shows frames: inside the cell's HTML, so it survives an export to
    HTML (nbconvert drops an ``image/gif`` output)."""
    return _gif_html(Path(path).read_bytes())


def _gif_html(gif: bytes):
    import base64

    data = base64.b64encode(gif).decode("ascii")
    html = f'<img src="data:image/gif;base64,{data}" style="image-rendering: pixelated"/>'
    try:
        from IPython.display import HTML
    except ImportError:
        return _InlineHTML(html)
    return HTML(html)


# --- plots ---

FIGURE_SUFFIXES = (".png", ".pdf", ".svg")


def check_figure_path(out: str | Path) -> Path:
    """``out`` as a Path to write a figure to, or a UserError naming what is wrong with it."""
    return check_output(out, "figure", suffixes=FIGURE_SUFFIXES)


def save_figure(fig, path, **kwargs) -> None:
    """``fig.savefig(path)``, whole or not at all (``outfiles.writing``)."""
    with writing(path, "figure") as tmp:
        fig.savefig(tmp, format=Path(path).suffix.lower()[1:] or None, **kwargs)


def pyplot():
    """matplotlib.pyplot on the Agg backend: files only, no display needed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_learning_curve(
    metrics,
    path,
    *,
    goal=None,
    window=50,
    title="",
    evaluations=None,
    goal_label="goal",
    train_goal=None,
):
    """Reward per training episode (faint points) and its moving mean over ``window`` episodes,
    against env steps, from a run's metrics.csv as a DataFrame, plus the greedy evaluations'
    means (evaluations.csv) when given, the goal and the training goal that is only noted on
    the way (the lab's, for a run that stops on greedy play); saved as a PNG at ``path``."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    _draw_learning_curve(ax, metrics, goal, window, title, evaluations, goal_label, train_goal)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def spread_episodes(steps, rewards, seed: int = 0):
    """Where to draw each episode's point so that piled-up points can be seen: (x, y).

    N envs stepped together end their episodes at the same step (the gridworld's 16 copies all
    finish every 50 steps), and whole-number returns repeat, so the points fall on a few spots.
    Episodes that ended at one step are spread evenly over the 40% of the gap before it (never
    past the step they ended at), and whole-number returns get up to +-0.2 of seeded jitter (the
    same picture every time); single episodes with other returns are drawn where they are."""
    import numpy as np

    steps = np.asarray(steps, dtype=np.float64)
    rewards = np.asarray(rewards, dtype=np.float64)
    x, y = steps.copy(), rewards.copy()
    unique = np.unique(steps)
    if len(unique) < len(steps):
        gap = np.diff(unique).min() if len(unique) > 1 else max(unique[0], 1.0)
        order = np.argsort(steps, kind="stable")  # (E,) episodes grouped by their step
        grouped = steps[order]
        start = np.searchsorted(grouped, grouped, side="left")  # (E,) its group's first index
        count = np.searchsorted(grouped, grouped, side="right") - start  # (E,) its group's size
        rank = np.arange(len(grouped)) - start  # (E,) 0 .. count - 1 within the group
        share = np.where(count > 1, rank / np.maximum(count - 1, 1), 1.0)  # 1: at the step
        x[order] = grouped - 0.4 * gap * (1.0 - share)
    if len(rewards) and np.all(rewards == np.round(rewards)):
        y = y + np.random.default_rng(seed).uniform(-0.2, 0.2, len(y))
    return x, y


def step_ends(steps):
    """(E,) True at the last episode of each step where episodes ended (metrics.csv's order):
    the moving mean is drawn there, once per step, so episodes that end together are no
    vertical stroke."""
    import numpy as np

    steps = np.asarray(steps)
    return np.append(steps[1:] != steps[:-1], True) if len(steps) else np.zeros(0, bool)


def y_range(values, *, low_quantile=0.005, high_quantile=0.995):
    """(bottom, top) that holds ``values`` (arrays, NaN ignored) but for their rarest extremes,
    with a margin: one 6,000-point game must not squash a curve that lives below 2,000."""
    import numpy as np

    finite = np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in values])
    finite = finite[np.isfinite(finite)]
    if not len(finite):
        return None
    bottom, top = np.quantile(finite, [low_quantile, high_quantile])
    span = top - bottom
    if finite.max() <= top + 0.3 * span:  # nothing far out: show everything
        top = finite.max()
    if finite.min() >= bottom - 0.3 * span:
        bottom = finite.min()
    margin = max(0.06 * (top - bottom), 0.5)
    return bottom - margin, top + margin


def draw_goal(ax, goal, label: str, top: float | None, ls: str = "--") -> str | None:
    """The goal as a dashed line; a goal far above what is drawn (Ms. Pac-Man's 2,500 over a
    curve of a few hundred) is not drawn, so it does not squash the curve: the note to show in
    a corner instead is returned."""
    if goal is None:
        return None
    text = f"{label} {goal:,g}"
    if top is not None and goal > top:
        return f"{text}: above the plot"
    ax.axhline(goal, color="k", ls=ls, lw=1, label=text)
    return None


def corner_note(ax, notes) -> None:
    """Notes about what the axes leave out, in a box in the upper right corner."""
    notes = [note for note in notes if note]
    if notes:
        ax.annotate(
            "\n".join(notes),
            xy=(0.99, 0.98),
            xycoords="axes fraction",
            ha="right",
            va="top",
            fontsize=8,
            bbox={"boxstyle": "round", "fc": "white", "ec": "0.6"},
        )


def _draw_learning_curve(
    ax, metrics, goal, window, title, evaluations=None, goal_label="goal", train_goal=None
):
    import numpy as np

    steps = metrics["step"].to_numpy(np.float64)
    rewards = metrics["reward"].to_numpy(np.float64)
    moving = metrics["reward"].rolling(window, min_periods=1).mean().to_numpy()
    x, y = spread_episodes(steps, rewards)
    alpha = 0.35 if len(x) < 2_000 else 0.15
    ax.plot(x, y, "o", ms=3, mew=0, alpha=alpha, color="C0", label="episode")
    ends = step_ends(steps)
    shown = [moving]
    ax.plot(steps[ends], moving[ends], "-", lw=2.2, color="C1", label=f"mean of last {window}")
    if evaluations is not None and len(evaluations):
        ax.plot(
            evaluations["step"], evaluations["mean"], "s-", ms=5, color="C2", label="greedy eval"
        )
        shown.append(evaluations["mean"].to_numpy())
    limits = y_range([rewards, *shown])
    notes = []
    if limits is not None:
        bottom, top = limits
        top = max(top, max(float(np.nanmax(s)) for s in shown) * 1.05)
        if goal is not None and goal <= 1.25 * top:
            top = max(top, goal + 0.05 * (top - bottom))  # a goal in reach stays in view
        ax.set_ylim(bottom, top)
        above = int((rewards > top).sum())
        if above:
            episodes = f"{above} episode{'s' if above > 1 else ''}"
            notes.append(f"{episodes} above the plot, up to {rewards.max():,g}")
    notes.insert(0, draw_goal(ax, goal, goal_label, ax.get_ylim()[1]))
    if train_goal and train_goal != goal:
        top = ax.get_ylim()[1]  # the orange curve's goal, only noted: dotted
        notes.insert(1, draw_goal(ax, train_goal, "training goal", top, ls=":"))
    corner_note(ax, notes)
    ax.set_xlabel("env steps")
    ax.set_ylabel("reward per episode")
    ax.set_title(title)
    ax.legend(loc="upper left" if _rising(moving) else "lower right", fontsize=8)
    ax.grid(alpha=0.3)


def _rising(moving) -> bool:
    """A curve that ends higher than it starts leaves the upper left corner free."""
    import numpy as np

    finite = np.asarray(moving, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    return len(finite) > 1 and finite[-1] > finite[0]


# A curve with at most this many points gets a marker on each: a short run (a few episodes, or
# one) shows where its values are, and a single point is seen at all.
MARKERS_UP_TO_POINTS = 30


def plot_curves_with_bands(
    curves, path, *, goal=None, xlabel="env steps", title="", runs=None, band_label=None
):
    """One line per label with a shaded band: ``curves`` maps label -> (x (T,), mean (T,),
    low (T,), high (T,)), e.g. a mean over seeds and its confidence interval. NaN leaves a gap
    (a band only where low and high are both numbers); short curves get markers. ``runs`` maps
    a label to its runs' own curves (R, T), drawn as thin lines of its colour; ``band_label``
    names the band in the legend (what it is: a range, an interval)."""
    import numpy as np
    from matplotlib.patches import Patch

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    drawn = []
    for label, (x, mean, low, high) in curves.items():
        x, mean = np.asarray(x, dtype=np.float64), np.asarray(mean, dtype=np.float64)
        low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
        short = np.isfinite(mean).sum() <= MARKERS_UP_TO_POINTS
        (line,) = ax.plot(x, mean, "o-" if short else "-", lw=2.2, ms=4, label=label)
        for run in (runs or {}).get(label, ()):
            ax.plot(x, run, "-", lw=0.8, alpha=0.6, color=line.get_color())
        band = np.isfinite(low) & np.isfinite(high)  # (T,)
        if band.any():
            ax.fill_between(x, low, high, where=band, color=line.get_color(), alpha=0.2, lw=0)
        drawn += [mean, low, high]
    limits = y_range(drawn, low_quantile=0.0, high_quantile=1.0)
    if limits is not None:
        bottom, top = limits
        if goal is not None and goal <= 1.25 * top:
            top = max(top, goal + 0.05 * (top - bottom))
        ax.set_ylim(bottom, top)
    corner_note(ax, [draw_goal(ax, goal, "goal", ax.get_ylim()[1])])
    handles, labels = ax.get_legend_handles_labels()
    if band_label:
        handles.append(Patch(color="0.5", alpha=0.3, lw=0))
        labels.append(band_label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("reward per episode")
    ax.set_title(title)
    ax.legend(handles, labels, loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


# --- a learning curve drawn while training runs ---


def _kernel_display():
    """IPython's ``display`` inside a Jupyter kernel, else None (a terminal, a script, pytest)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return None
    from IPython.display import display

    return display


class LiveCurve:
    """The learning curve of a run that is still training, redrawn as episodes finish.

    Pass it as ``train(config, run_dir, on_episodes=curve)``: each call adds the finished
    episodes' metrics rows (``runs.METRICS_COLUMNS`` order) and redraws the curve of
    ``plot_learning_curve``, at most once every ``every_s`` seconds, and never sooner than
    ``DRAW_SPACING`` times the last redraw's own time after it (a redraw runs on the training
    thread: this keeps drawing under about a tenth of the run). In a Jupyter kernel the picture
    is shown in the cell and updated in place through one display handle; elsewhere nothing is
    shown and nothing drawn, unless ``path`` asks for a PNG file (rewritten at each redraw).
    ``display`` replaces IPython's function (called as ``display(image, display_id=True)``,
    returning a handle with ``update``); use the object as a context manager, or call
    ``close()``, so the last episodes are drawn too.
    """

    DRAW_SPACING = 10.0

    def __init__(
        self,
        *,
        goal=None,
        window: int = 50,
        title: str = "",
        every_s: float = 1.0,
        path=None,
        display="auto",
        clock=None,
    ):
        import time

        self.goal, self.window, self.title, self.every_s = goal, window, title, every_s
        self.path = path
        self.rows: list[tuple] = []  # every row so far, in the order they finished
        self.redraws = 0
        self._display = _kernel_display() if display == "auto" else display
        self._handle = None
        self._clock = clock or time.monotonic
        self._next_at = None  # clock reading from which the next redraw may happen
        self._drawn_rows = 0

    def __call__(self, rows) -> None:
        self.rows.extend(rows)
        if self._next_at is None or self._clock() >= self._next_at:
            self.redraw()

    def metrics(self):
        """The rows so far as metrics.csv would read: a DataFrame with its columns."""
        import pandas as pd

        from qarcade.runs import METRICS_COLUMNS

        return pd.DataFrame(self.rows, columns=list(METRICS_COLUMNS))

    def png(self) -> bytes:
        """The curve of the rows so far as PNG bytes (drawn without pyplot's global state)."""
        import io

        from matplotlib.figure import Figure

        fig = Figure(figsize=(7, 4), dpi=100)
        ax = fig.subplots()
        _draw_learning_curve(ax, self.metrics(), self.goal, self.window, self.title)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        return buffer.getvalue()

    def redraw(self) -> None:
        """Draw now (if there is a row and somewhere to show it), whatever the time."""
        if not self.rows or (self._display is None and self.path is None):
            return
        started = self._clock()
        data = self.png()
        if self.path is not None:
            Path(self.path).write_bytes(data)
        if self._display is not None:
            try:
                from IPython.display import Image
            except ImportError:  # a display function given without IPython installed
                image = data
            else:
                image = Image(data=data, format="png")
            if self._handle is None:
                self._handle = self._display(image, display_id=True)
            else:
                self._handle.update(image)
        self.redraws += 1
        self._drawn_rows = len(self.rows)
        now = self._clock()
        self._next_at = now + max(self.every_s, self.DRAW_SPACING * (now - started))

    def close(self) -> None:
        """Draw the rows that arrived since the last redraw."""
        if len(self.rows) > self._drawn_rows:
            self.redraw()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
