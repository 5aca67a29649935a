"""IQM and the stratified bootstrap against hand-computed cases."""

import itertools

import numpy as np
import pytest

from qarcade.stats import band_over_runs, iqm, smoothed_on_grid, stratified_bootstrap_ci


def test_iqm_drops_the_outer_quartiles():
    # 8 runs: the middle four are 3, 4, 5, 6 -> 4.5, whatever the outliers are.
    assert iqm([1, 2, 3, 4, 5, 6, 7, 8]) == pytest.approx(4.5)
    assert iqm([-1000, 2, 3, 4, 5, 6, 7, 1e9]) == pytest.approx(4.5)


def test_iqm_pools_runs_and_tasks():
    scores = np.array([[1, 5], [2, 6], [3, 7], [4, 8]])  # (runs, tasks)
    assert iqm(scores) == pytest.approx(4.5)


def test_constant_scores_give_a_point_interval():
    assert stratified_bootstrap_ci(np.full(5, 3.0)) == pytest.approx((3.0, 3.0))


def test_bootstrap_matches_the_exact_resampling_distribution():
    # With 3 runs there are 27 equally likely resamples: the bootstrap percentiles must approach
    # the percentiles of the exact distribution of the mean over them.
    scores = np.array([0.0, 1.0, 10.0])
    exact = [np.mean(scores[list(idx)]) for idx in itertools.product(range(3), repeat=3)]
    low, high = stratified_bootstrap_ci(scores, statistic=np.mean, reps=20000, confidence=0.8)
    assert low == pytest.approx(np.percentile(exact, 10), abs=0.35)
    assert high == pytest.approx(np.percentile(exact, 90), abs=0.35)


def test_stratified_keeps_each_task_separate():
    # Task 0 always scores 0, task 1 always 10: any stratified resample has the same mean, 5;
    # a pooled resample would not.
    scores = np.array([[0.0, 10.0], [0.0, 10.0], [0.0, 10.0]])
    assert stratified_bootstrap_ci(scores, statistic=np.mean) == pytest.approx((5.0, 5.0))


def test_smoothed_on_grid_reads_the_moving_mean_at_each_step():
    steps = np.array([10, 20, 30, 40])  # env step at which each episode ended
    rewards = np.array([1.0, 3.0, 5.0, 7.0])
    grid = np.array([5, 10, 25, 40, 100])
    values = smoothed_on_grid(steps, rewards, grid, window=2)
    # before any episode: NaN; then mean of the last <= 2 episodes finished by that step
    assert np.isnan(values[0])
    assert values[1:].tolist() == [1.0, 2.0, 6.0, 6.0]


def test_band_over_runs_ignores_runs_without_data():
    values = np.array([[np.nan, 1.0, 2.0], [np.nan, 3.0, 2.0]])
    mean, low, high = band_over_runs(values)
    assert np.isnan(mean[0])
    assert mean[1:].tolist() == [2.0, 2.0]
    assert low[2] == high[2] == 2.0
    assert 1.0 <= low[1] <= 2.0 <= high[1] <= 3.0
