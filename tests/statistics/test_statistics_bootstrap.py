import numpy as np
import pytest

from rulelens.statistics import bootstrap_difference_ci, bootstrap_mean_ci, bootstrap_paired_difference_ci


def test_mean_ci_covers_and_is_seeded():
    x = np.random.default_rng(0).normal(loc=2.0, size=200)
    mean, low, high = bootstrap_mean_ci(x, n_resamples=2000, seed=5)
    assert mean == pytest.approx(x.mean())
    assert low < 2.0 < high
    # roughly mean +- 1.96 se
    se = x.std(ddof=1) / np.sqrt(x.size)
    assert high - low == pytest.approx(2 * 1.96 * se, rel=0.15)
    assert bootstrap_mean_ci(x, n_resamples=2000, seed=5) == (mean, low, high)


def test_degenerate_inputs():
    assert np.isnan(bootstrap_mean_ci([])).all()
    assert bootstrap_mean_ci([3.0, np.nan]) == (3.0, 3.0, 3.0)
    assert bootstrap_mean_ci([1.0, 1.0, 1.0]) == (1.0, 1.0, 1.0)


def test_paired_difference_removes_clause_effects():
    rng = np.random.default_rng(1)
    clause = rng.normal(scale=10, size=50)
    a = clause + 1.0 + rng.normal(scale=0.1, size=50)
    b = clause
    diff, low, high = bootstrap_paired_difference_ci(a, b, seed=0)
    assert low < 1.0 < high and high - low < 0.2
    udiff, ulow, uhigh = bootstrap_difference_ci(a, b, seed=0)
    assert udiff == pytest.approx(diff)
    assert uhigh - ulow > 10 * (high - low)  # unpaired ignores the pairing


def test_paired_length_mismatch():
    with pytest.raises(ValueError):
        bootstrap_paired_difference_ci([1, 2], [1])
