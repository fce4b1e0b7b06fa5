"""Minimum detectable effects against statsmodels' own power solvers."""

import numpy as np
import pytest
from statsmodels.stats.power import TTestIndPower, TTestPower

from rulelens.statistics import minimum_detectable_effect, standardized_effect
from rulelens.statistics.power import slope_t_power


def test_paired_wilcoxon_mde_matches_statsmodels():
    res = minimum_detectable_effect(30, test="wilcoxon_paired")
    expected = TTestPower().solve_power(effect_size=None, nobs=30 * 3 / np.pi, alpha=0.05, power=0.8)
    assert res["mde"] == pytest.approx(expected, rel=1e-6) and res["mde_name"] == "d_z"
    one_sample = minimum_detectable_effect(30, test="one_sample_wilcoxon")
    assert one_sample["mde"] == pytest.approx(res["mde"])


def test_bonferroni_family_and_two_sample():
    res = minimum_detectable_effect(20, test="mann_whitney", n_comparisons=3)
    expected = TTestIndPower().solve_power(effect_size=None, nobs1=20 * 3 / np.pi, ratio=1.0, alpha=0.05 / 3, power=0.8)
    assert res["mde"] == pytest.approx(expected, rel=1e-6) and res["alpha"] == pytest.approx(0.05 / 3)
    assert res["mde_name"] == "d"


def test_mde_decreases_with_n():
    for test in ("wilcoxon_paired", "mann_whitney", "slope_t"):
        mdes = [minimum_detectable_effect(n, test=test)["mde"] for n in (6, 10, 20, 50)]
        assert np.all(np.diff(mdes) < 0), (test, mdes)


def test_slope_mde_has_the_target_power():
    res = minimum_detectable_effect(5, test="slope_t")
    assert res["mde_name"] == "r" and 0 < res["mde"] < 1
    assert slope_t_power(res["mde"], 5, 0.05) == pytest.approx(0.8, abs=1e-6)


def test_too_small_n_is_not_testable():
    for test, n in (("wilcoxon_paired", 5), ("one_sample_wilcoxon", 4), ("slope_t", 2), ("mann_whitney", 2)):
        res = minimum_detectable_effect(n, test=test)
        assert np.isnan(res["mde"]) and "not testable at this n" in res["note"], (test, res)
    assert np.isfinite(minimum_detectable_effect(6, test="wilcoxon_paired")["mde"])  # 2/2^6 < 0.05
    # three pairs in a Holm family: alpha 0.05/3, 2/2^6 = 0.031 is above it
    assert np.isnan(minimum_detectable_effect(6, test="wilcoxon_paired", n_comparisons=3)["mde"])


def test_standardized_effect():
    assert standardized_effect([2.0, 3.0, 4.0], [1.0, 1.0, 1.0]) == pytest.approx(2.0)  # mean 2, sd 1
    assert np.isnan(standardized_effect([1.0, 2.0], [0.0, 1.0]))  # zero spread of differences
    assert standardized_effect([1.0, 2.0, 3.0], [0.0, 1.0, 2.0], paired=False) == pytest.approx(1.0)
