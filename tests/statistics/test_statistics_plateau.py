"""The size-level plateau test calls flat and straight truths a plateau rarely and finds a planted one.

Unit of replication: the model size (one checkpoint each); each simulated study is one ladder of
size means with Gaussian size-level noise, seeded.
"""

from __future__ import annotations

import numpy as np
import pytest

from rulelens.statistics.plateau import plateau_test

LADDER = np.array([0.1, 0.3, 1.0, 3.0, 7.0, 14.0, 32.0, 70.0]) * 1e9  # eight sizes, 0.1B-70B
GPU_LADDER = np.array([0.5, 1.5, 3.0, 7.0, 14.0]) * 1e9


def _rate(truth, noise, seeds=range(80), ladder=LADDER, margin=0.02):
    rng = np.random.default_rng(0)
    hits = 0
    for seed in seeds:
        y = truth(np.log(ladder)) + noise * rng.standard_normal(ladder.size)
        hits += plateau_test(ladder, y, margin=margin, n_boot=150, seed=seed)["status"] == "plateau"
    return hits / len(seeds)


def test_a_flat_truth_is_rarely_a_plateau():
    assert _rate(lambda x: np.full_like(x, 0.6), 0.02) <= 0.06


def test_a_straight_truth_is_rarely_a_plateau():
    assert _rate(lambda x: 0.3 + 0.05 * (x - x.min()), 0.02) <= 0.06


def test_a_planted_plateau_is_found_with_its_knee():
    knee = np.log(7e9)

    def truth(x):
        return 0.8 + 0.08 * (np.minimum(x, knee) - knee)

    assert _rate(truth, 0.005, seeds=range(40)) >= 0.8
    result = plateau_test(LADDER, truth(np.log(LADDER)), margin=0.02, n_boot=100)
    assert result["status"] == "plateau" and result["knee_n_params"] == pytest.approx(7e9, rel=0.05)


def test_too_few_sizes_are_not_testable_and_a_zero_spread_is_not_a_plateau():
    assert plateau_test(LADDER[:4], [0.1, 0.2, 0.3, 0.3], margin=0.02)["status"] == "not testable"
    flat = plateau_test(LADDER, np.full(LADDER.size, 0.5), margin=0.02, n_boot=50)
    assert flat["status"] == "not reached"  # no rise: never "a plateau at the smallest size"


def test_the_published_knee_cannot_be_confirmed_on_a_five_size_gpu_ladder():
    knee = np.log(7e9)
    y = 0.8 + 0.08 * (np.minimum(np.log(GPU_LADDER), knee) - knee)
    result = plateau_test(GPU_LADDER, y, margin=0.02, n_boot=100)
    # three sizes must follow the knee to show it flat: the knee searched is at most the 3B rung, and
    # after it quality still rises (3B -> 7B), so the 7B plateau is not confirmed
    assert result["knee_n_params"] <= 3.0e9 * 1.0001 and result["flat_sizes"] >= 3
    assert result["status"] != "plateau"
