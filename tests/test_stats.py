"""IQM and the stratified bootstrap against hand-computed cases."""

import itertools

import numpy as np
import pytest

from qarcade.stats import iqm, stratified_bootstrap_ci


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
