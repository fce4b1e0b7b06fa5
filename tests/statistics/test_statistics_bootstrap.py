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


def test_every_interval_is_scipys_percentile_bootstrap():
    """The helpers only choose what is resampled: the interval is scipy.stats.bootstrap's, same seed."""
    from scipy import stats

    from rulelens.statistics.bootstrap import bootstrap_f1_ci

    rng = np.random.default_rng(2)
    x, y = rng.normal(size=40), rng.normal(size=40)

    def scipy_ci(data, statistic, paired=False):
        ci = stats.bootstrap(
            data, statistic, n_resamples=999, method="percentile", paired=paired, rng=np.random.default_rng(11)
        ).confidence_interval
        return ci.low, ci.high

    assert bootstrap_mean_ci(x, 999, seed=11)[1:] == pytest.approx(scipy_ci((x,), np.mean), abs=1e-12)
    assert bootstrap_paired_difference_ci(x, y, 999, seed=11)[1:] == pytest.approx(
        scipy_ci((x - y,), np.mean), abs=1e-12
    )
    assert bootstrap_difference_ci(x, y, 999, seed=11)[1:] == pytest.approx(
        scipy_ci((x, y), lambda a, b, axis: a.mean(axis) - b.mean(axis)), abs=1e-12
    )
    p, r = rng.uniform(size=40), rng.uniform(size=40)

    def f1(a, b, axis):
        mp, mr = a.mean(axis), b.mean(axis)
        return 2 * mp * mr / (mp + mr)

    assert bootstrap_f1_ci(p, r, 999, seed=11)[1:] == pytest.approx(scipy_ci((p, r), f1, paired=True), abs=1e-12)


@pytest.mark.slow
def test_the_interval_covers_a_known_mean_and_a_null_difference_about_95_percent_of_the_time():
    """Unit: one simulated study (30 clauses); 300 seeded studies. Known answer: mean 1.0, no paired effect."""
    rng = np.random.default_rng(7)
    covered, false_positive = 0, 0
    for run in range(300):
        x = rng.normal(loc=1.0, size=30)
        _, low, high = bootstrap_mean_ci(x, n_resamples=500, seed=run)
        covered += low <= 1.0 <= high
        clause = rng.normal(scale=3.0, size=30)
        _, dlow, dhigh = bootstrap_paired_difference_ci(clause + rng.normal(size=30), clause, 500, seed=run)
        false_positive += not dlow <= 0.0 <= dhigh
    assert 0.88 <= covered / 300 <= 0.99  # the percentile interval undercovers a little at n = 30
    assert false_positive / 300 <= 0.11


def test_a_group_of_one_value_is_held_fixed_in_the_unpaired_difference():
    diff, low, high = bootstrap_difference_ci([2.0], [0.0, 1.0, 2.0, 3.0], seed=0)
    assert diff == pytest.approx(0.5)
    assert low < 0.5 < high
    assert bootstrap_difference_ci([2.0], [1.0]) == (1.0, 1.0, 1.0)
