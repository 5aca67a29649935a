"""Each variant learns a small seeded problem well above random (slow: ~1 minute in all).

The 3x3 gridworld (7 objects on 9 cells) with the pooled-pixel MLP: 4,000 env steps. The random
baseline (about 7.5 per 50 steps) is measured here, with the evaluation at epsilon 1.
"""

import numpy as np
import pytest

from qarcade.dqn.config import ALGOS, build_config
from qarcade.dqn.evaluate import evaluate, summarize
from qarcade.dqn.train import train

SMALL = dict(
    network="tiny",
    grid_size=3,
    num_envs=8,
    gamma=0.9,
    learning_rate=1e-3,
    train_every_steps=8,
    target_update_every=50,
    warmup_steps=400,
    epsilon_decay_steps=1500,
    buffer_size=4000,
    max_steps=4000,
    final_eval_episodes=32,
    video=False,
    torch_threads=1,
    seed=0,
)


@pytest.fixture(scope="module")
def random_mean():
    config = build_config("fast", None, SMALL)
    q = lambda obs: np.zeros((len(obs), 4))  # noqa: E731 - epsilon 1 ignores it
    return summarize(evaluate(q, config, 64, epsilon=1.0, seed=1))["mean"]


@pytest.mark.slow
@pytest.mark.parametrize("algo", list(ALGOS))
def test_each_variant_learns_well_above_random(algo, random_mean, tmp_path):
    summary = train(
        build_config("fast", algo, SMALL), tmp_path / algo, progress=False, log=lambda *a: None
    )
    assert random_mean > 2.0  # 4 goals on 9 cells: random play already finds some
    # the mean of the last 50 training episodes (epsilon 0.02 by then), as the lab's goal;
    # greedy play alone can loop in place, so it is reported, not asserted
    assert summary["train_mean_reward"] >= random_mean + 5, (random_mean, summary)
