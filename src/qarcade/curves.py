"""Learning curves of several runs, the figure ``qarcade plot`` draws.

Each run's moving mean of training rewards (from its ``metrics.csv``) on a common step grid
(``stats.smoothed_on_grid``); runs of one label (by default one algorithm) averaged, with a band
that says how far apart they are: with fewer than ``CI_FROM_RUNS`` runs the range of the runs
themselves (a confidence interval from two or three runs would pretend a precision they do not
have), from that many on a 95% bootstrap interval of the mean (``stats.band_over_runs``); drawn
by ``media.plot_curves_with_bands`` with each run as a thin line.
Pictures of what one agent learned (value maps, Q-learning vs Q*) are in ``qarcade.explain``,
which re-exports these names.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qarcade.errors import UserError

# Runs of one label from which the band is a 95% bootstrap interval of their mean; below, the
# band is their range (min to max) and the runs are drawn one by one.
CI_FROM_RUNS = 5


def run_label(config: dict, envs: set[str]) -> str:
    """The default group of a run: its algo (with the env when the runs mix envs)."""
    from qarcade.dqn.config import algo_name

    algo = algo_name(bool(config.get("double")), bool(config.get("dueling")))
    return f"{config.get('env')} {algo}" if len(envs) > 1 else algo


def smoothing_window(goal_window: int, shortest_run_episodes: int) -> int:
    """The moving mean's window when none is asked for: the runs' goal window, but at most half
    the episodes of the shortest run (at least 1), so a short run still shows its trend instead
    of a running mean of everything so far."""
    return max(1, min(goal_window, shortest_run_episodes // 2))


def learning_curves(
    run_dirs: list[str | Path],
    labels: list[str] | None = None,
    *,
    points: int = 100,
    window: int | None = None,
) -> dict[str, dict]:
    """Per label: the runs' moving mean of training rewards on a common step grid, their mean
    and a band: the runs' range with fewer than ``CI_FROM_RUNS`` runs, else a 95% bootstrap
    interval of the mean.

    The window is ``window`` episodes, by default ``smoothing_window`` of the first run's
    goal_window. The grid is every step at which an episode ended, when there are at most
    ``points`` such steps (short runs: a point per episode), else ``points`` steps from 0 to the
    last episode. A label's line stops at its longest run's last episode; a run that stopped
    earlier keeps its last value until then. The band is NaN where fewer than two of the
    label's runs have a value: one run says nothing about the spread.

    ``labels`` gives one label per run (runs with the same label form one band); by default a
    run's label is its algo from config.json. Returns label -> {"runs", "window", "steps" (P,),
    "mean", "low", "high" (P,), "band" ("range" or "95% bootstrap"), "values" (runs, P): each
    run's own curve, "final_mean"}.
    """
    from qarcade.runs import RunDir
    from qarcade.stats import band_over_runs, smoothed_on_grid

    if not run_dirs:
        raise UserError("name at least one run directory")
    if labels is not None and len(labels) not in (len(run_dirs),):
        raise UserError(f"give one --label per run directory ({len(run_dirs)}), got {len(labels)}")
    runs = [RunDir.open(path) for path in run_dirs]
    configs = [run.read_config() for run in runs]
    metrics = []
    for run in runs:
        try:
            frame = run.read_metrics()
        except (OSError, ValueError) as error:
            raise UserError(f"cannot read {run / 'metrics.csv'}: {error}") from None
        if frame.empty:
            raise UserError(f"{run.path} has no finished episode yet")
        metrics.append(frame)
    if labels is None:
        envs = {config.get("env") for config in configs}
        labels = [run_label(config, envs) for config in configs]
    if window is None:
        shortest = min(len(frame) for frame in metrics)
        window = smoothing_window(int(configs[0].get("goal_window", 50)), shortest)
    episode_steps = np.unique(np.concatenate([frame["step"].to_numpy() for frame in metrics]))
    if len(episode_steps) <= points:
        grid = episode_steps.astype(np.float64)  # (P,) a point per episode end
    else:
        grid = np.linspace(0.0, float(episode_steps[-1]), points)  # (P,)
    curves = {}
    for label in dict.fromkeys(labels):
        members = [m for m, lab in zip(metrics, labels, strict=True) if lab == label]
        values = np.stack(
            [smoothed_on_grid(m["step"], m["reward"], grid, window) for m in members]
        )  # (runs, P)
        values[:, grid > max(float(m["step"].max()) for m in members)] = np.nan
        mean, low, high = band_over_runs(values)
        band = "95% bootstrap" if len(members) >= CI_FROM_RUNS else "range"
        if band == "range":
            low, high = _range_over_runs(values)
        spread = np.isfinite(values).sum(axis=0) >= 2  # (P,) a band needs two runs
        low, high = np.where(spread, low, np.nan), np.where(spread, high, np.nan)
        finite = mean[~np.isnan(mean)]
        curves[label] = {
            "runs": len(members),
            "window": window,
            "steps": grid,
            "mean": mean,
            "low": low,
            "high": high,
            "band": band,
            "values": values,
            "final_mean": float(finite[-1]) if len(finite) else None,
        }
    return curves


def _range_over_runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) (P,): the lowest and highest run at each point, NaN where none has a value."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
        return np.nanmin(values, axis=0), np.nanmax(values, axis=0)


def plot_runs(
    run_dirs: list[str | Path],
    out: str | Path,
    labels: list[str] | None = None,
    *,
    points: int = 100,
    window: int | None = None,
    title: str = "",
) -> dict[str, dict]:
    """Draw ``learning_curves`` of the runs on one plot (a line and a band per label), with the
    goal line when every run has the same goal; returns the curves."""
    import json

    from qarcade import media
    from qarcade.runs import RunDir

    out = media.check_figure_path(out)
    curves = learning_curves(run_dirs, labels, points=points, window=window)
    goals = {json.dumps(RunDir(path).read_config().get("goal")) for path in run_dirs}
    goal = json.loads(goals.pop()) if len(goals) == 1 else None
    window = next(iter(curves.values()))["window"]
    if not title:
        title = "reward per training episode"
        if window > 1:
            title = f"mean of the last {window} training episodes"
    several = [c for c in curves.values() if c["runs"] > 1]
    kinds = {c["band"] for c in several}
    band_label = None
    if kinds == {"range"}:
        band_label = "shaded: range of the runs (thin lines)"
    elif kinds == {"95% bootstrap"}:
        band_label = "shaded: 95% bootstrap interval of the mean"
    elif kinds:
        band_label = f"shaded: range below {CI_FROM_RUNS} runs, else 95% interval of the mean"
    names = {label: f"{label}, {_mean_of(c['runs'])}" for label, c in curves.items()}
    media.plot_curves_with_bands(
        {names[label]: (c["steps"], c["mean"], c["low"], c["high"]) for label, c in curves.items()},
        out,
        goal=goal,
        title=title,
        runs={
            names[label]: c["values"]
            for label, c in curves.items()
            if c["runs"] > 1 and c["band"] == "range"
        },
        band_label=band_label,
    )
    return curves


def _mean_of(runs: int) -> str:
    return "1 run" if runs == 1 else f"mean of {runs} runs"
