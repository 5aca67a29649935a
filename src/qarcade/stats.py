"""Aggregate statistics over runs, as the rliable library computes them.

Agarwal et al., "Deep RL at the Edge of the Statistical Precipice" (NeurIPS 2021): report the
interquartile mean (IQM: the mean of the middle 50% of runs) with a stratified bootstrap
confidence interval (resample runs with replacement within each task, recompute the statistic,
take percentiles). Written with numpy/scipy so it needs neither rliable nor arch.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats as scipy_stats


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean over all entries: drop the lowest and highest 25%, average the rest."""
    return float(scipy_stats.trim_mean(np.asarray(scores, dtype=np.float64).ravel(), 0.25))


def stratified_bootstrap_ci(
    scores: np.ndarray,
    statistic=iqm,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile confidence interval of ``statistic`` over a (runs, tasks) score matrix.

    Each bootstrap replicate resamples the runs of every task (column) independently and with
    replacement, so every task keeps its number of runs (the "stratified" part).
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:
        scores = scores[:, None]  # (runs, 1 task)
    n_runs, n_tasks = scores.shape
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, n_runs, size=(reps, n_runs, n_tasks))  # (reps, runs, tasks)
    resampled = np.take_along_axis(scores[None], rows, axis=1)  # (reps, runs, tasks)
    replicates = np.array([statistic(sample) for sample in resampled])
    alpha = (1.0 - confidence) / 2.0
    low, high = np.percentile(replicates, [100 * alpha, 100 * (1 - alpha)])
    return float(low), float(high)


def smoothed_on_grid(
    steps: np.ndarray, rewards: np.ndarray, grid: np.ndarray, window: int = 50
) -> np.ndarray:
    """A run's moving mean of the last ``window`` episode rewards, read off at each grid step.

    Before the run's first finished episode the value is NaN; after its last, the last value.
    """
    steps, rewards = np.asarray(steps, dtype=np.float64), np.asarray(rewards, dtype=np.float64)
    if len(steps) == 0:
        return np.full(len(grid), np.nan)
    cumulative = np.concatenate([[0.0], np.cumsum(rewards)])
    ends = np.arange(1, len(rewards) + 1)
    starts = np.maximum(ends - window, 0)
    moving = (cumulative[ends] - cumulative[starts]) / (ends - starts)  # (episodes,)
    index = np.searchsorted(steps, grid, side="right") - 1  # last episode finished by each step
    return np.where(index >= 0, moving[np.maximum(index, 0)], np.nan)


def band_over_runs(
    values: np.ndarray, confidence: float = 0.95, reps: int = 500, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over runs at each grid point with a bootstrap percentile band: (mean, low, high).

    ``values`` is (runs, points); NaN (a run with no finished episode yet) is left out.
    """
    values = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, values.shape[0], size=(reps, values.shape[0]))  # (reps, runs)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
        mean = np.nanmean(values, axis=0)
        replicates = np.nanmean(values[rows], axis=1)  # (reps, points)
        alpha = (1.0 - confidence) / 2.0
        low, high = np.nanpercentile(replicates, [100 * alpha, 100 * (1 - alpha)], axis=0)
    return mean, low, high
