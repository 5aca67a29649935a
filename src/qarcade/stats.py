"""Aggregate statistics over runs, as the rliable library computes them.

Agarwal et al., "Deep RL at the Edge of the Statistical Precipice" (NeurIPS 2021): report the
interquartile mean (IQM: the mean of the middle 50% of runs) with a stratified bootstrap
confidence interval (resample runs with replacement within each task, recompute the statistic,
take percentiles). Written with numpy/scipy so it needs neither rliable nor arch.
"""

from __future__ import annotations

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
