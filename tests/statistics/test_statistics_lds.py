"""Linear datamodeling score: known answers on constructed additive models and the permutation baseline.

The simulated "model" is additive in the words: the actual score of a mask is the sum of the kept
words' effects plus a little noise, with mostly positive effects (as leave-one-out attributions
are), N = 20 words and 32 masks per clause. The verdict's unit of replication is the clause: a
simulated study is a set of clauses, one (LDS, permutation baseline) pair per clause, tested over
clauses (n = clauses).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rulelens.statistics.lds import (
    LDS_COLUMNS,
    LDS_SUMMARY_STATISTICS,
    ablation_masks,
    clause_seed,
    lds_summary,
    lds_verdict_test,
    linear_datamodeling_score,
    permuted_attribution_lds,
)

N_WORDS, N_MASKS = 20, 32


def test_masks_are_seeded_boolean_and_distinct():
    a = ablation_masks(12, n_masks=32, keep_prob=0.5, seed=7)
    b = ablation_masks(12, n_masks=32, keep_prob=0.5, seed=7)
    assert a.dtype == bool and a.shape == (32, 12)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, ablation_masks(12, n_masks=32, seed=8))
    assert len({row.tobytes() for row in a}) == 32
    assert 0.35 < a.mean() < 0.65


def test_few_words_get_every_distinct_mask_before_repeats():
    masks = ablation_masks(3, n_masks=10, seed=0)
    assert masks.shape == (10, 3)
    assert len({row.tobytes() for row in masks[:8]}) == 8  # all 2^3 masks first


def test_mask_arguments_are_checked():
    with pytest.raises(ValueError):
        ablation_masks(0)
    with pytest.raises(ValueError):
        ablation_masks(5, keep_prob=1.0)


def test_clause_seed_is_stable_and_independent_of_other_clauses():
    assert clause_seed(0, "C-1", "lds") == clause_seed(0, "C-1", "lds")
    assert clause_seed(0, "C-1", "lds") != clause_seed(0, "C-2", "lds")
    assert clause_seed(0, "C-1", "lds") != clause_seed(1, "C-1", "lds")
    assert clause_seed(0, "C-1", "lds") != clause_seed(0, "C-1", "curves")
    assert clause_seed(0, 17) == clause_seed(0, "17")  # the id's text, not Python's hash()
    assert 0 <= clause_seed(0, "x") < 2**64


def test_lds_is_one_for_an_additive_model_with_its_true_weights():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(5, 30))
        weights = rng.normal(size=n)
        masks = ablation_masks(n, 32, 0.5, seed=int(rng.integers(1_000)))
        actual = 3.0 + masks @ weights  # s(x with only the kept words) of an additive "model"
        assert linear_datamodeling_score(weights, masks, actual) == pytest.approx(1.0)
        assert linear_datamodeling_score(-weights, masks, actual) == pytest.approx(-1.0)


def test_lds_is_scipy_spearman_of_the_summed_attributions():
    rng = np.random.default_rng(2)
    for _ in range(30):
        n = int(rng.integers(2, 25))
        masks = ablation_masks(n, 32, seed=int(rng.integers(1_000)))
        scores = rng.normal(size=n)
        actual = masks @ rng.normal(size=n) + rng.normal(size=32)
        actual[0] = np.nan  # dropped
        keep = np.isfinite(actual)
        expected = stats.spearmanr(masks[keep] @ scores, actual[keep]).statistic
        assert linear_datamodeling_score(scores, masks, actual) == pytest.approx(expected, abs=1e-12)


def test_lds_is_nan_when_nothing_varies():
    masks = ablation_masks(4, 8, seed=0)
    assert np.isnan(linear_datamodeling_score(np.zeros(4), masks, np.arange(8.0)))
    assert np.isnan(linear_datamodeling_score(np.ones(4), masks, np.full(8, 2.0)))
    assert np.isnan(permuted_attribution_lds(np.ones(4), masks, np.full(8, 2.0), n_permutations=10))
    assert np.isnan(permuted_attribution_lds(np.arange(4.0), masks, np.arange(8.0), n_permutations=0))
    with pytest.raises(ValueError):
        linear_datamodeling_score(np.ones(3), masks, np.arange(8.0))
    with pytest.raises(ValueError):
        permuted_attribution_lds(np.ones(3), masks, np.arange(8.0), n_permutations=10)
    with pytest.raises(ValueError):
        permuted_attribution_lds(np.ones(4), masks, np.arange(8.0), n_permutations=-1)


# ---------------------------------------------------------------------------------------------
# The simulated additive model (unit of replication: the clause)
# ---------------------------------------------------------------------------------------------
def _clause(rng, attribution: str, n_permutations: int = 50) -> tuple[float, float]:
    """One simulated clause: (LDS, permutation baseline) of the given kind of attribution."""
    effects = rng.normal(1.0, 0.5, N_WORDS)  # mostly positive, like leave-one-out attributions
    masks = ablation_masks(N_WORDS, N_MASKS, 0.5, seed=int(rng.integers(2**62)))
    actual = masks @ effects + rng.normal(0.0, 0.5, N_MASKS)
    given = {
        "true": effects,
        "constant": np.ones(N_WORDS),
        "shuffled": rng.permutation(effects),  # the null: the right values on the wrong words
        "sign_flipped": -effects,
        "gaussian": rng.standard_normal(N_WORDS),
    }[attribution]
    lds = linear_datamodeling_score(given, masks, actual)
    baseline = permuted_attribution_lds(
        given, masks, actual, n_permutations=n_permutations, seed=int(rng.integers(2**62))
    )
    return lds, baseline


def _study(attribution: str, n_clauses: int, seed: int, n_permutations: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """One simulated study: per clause the LDS and its baseline (n = ``n_clauses``)."""
    rng = np.random.default_rng(seed)
    pairs = np.array([_clause(rng, attribution, n_permutations) for _ in range(n_clauses)])
    return pairs[:, 0], pairs[:, 1]


def test_attributions_without_word_information_score_high_lds_through_the_kept_count():
    """Why the baseline is a permutation: on mostly positive effects a constant or shuffled attribution
    already reaches a high LDS (the number of kept words drives both sides), far above i.i.d. normal
    vectors (about 0, the earlier baseline), but not above its own permutations."""
    lds = {kind: _study(kind, 40, seed=3) for kind in ("true", "constant", "shuffled", "gaussian")}
    assert np.mean(lds["true"][0]) > 0.95
    assert np.mean(lds["constant"][0]) > 0.7 and np.mean(lds["shuffled"][0]) > 0.6
    assert abs(np.mean(lds["gaussian"][0])) < 0.15
    assert np.mean(lds["true"][1]) == pytest.approx(np.mean(lds["shuffled"][1]), abs=0.05)
    np.testing.assert_array_equal(lds["constant"][0], lds["constant"][1])  # permuting changes nothing


def test_permuted_baseline_is_seeded_and_the_mean_over_permutations():
    rng = np.random.default_rng(4)
    scores = rng.normal(1.0, 0.5, 10)
    masks = ablation_masks(10, 32, seed=3)
    actual = masks @ rng.normal(1.0, 0.5, 10)
    first = permuted_attribution_lds(scores, masks, actual, n_permutations=30, seed=9)
    assert first == permuted_attribution_lds(scores, masks, actual, n_permutations=30, seed=9)
    assert first != permuted_attribution_lds(scores, masks, actual, n_permutations=30, seed=10)
    permuted = np.random.default_rng(9).permuted(np.tile(scores, (30, 1)), axis=1)
    by_hand = np.mean([linear_datamodeling_score(p, masks, actual) for p in permuted])
    assert first == pytest.approx(by_hand, abs=1e-12)


def test_few_words_use_every_permutation_once():
    masks = ablation_masks(4, 16, seed=0)
    scores, actual = np.array([3.0, 1.0, 0.5, -1.0]), masks @ np.array([2.0, 1.0, 1.0, 0.2])
    exact = permuted_attribution_lds(scores, masks, actual, n_permutations=24, seed=0)  # 4! = 24
    assert exact == permuted_attribution_lds(scores, masks, actual, n_permutations=100, seed=1)
    orders = itertools.permutations(range(4))
    by_hand = np.mean([linear_datamodeling_score(scores[list(order)], masks, actual) for order in orders])
    assert exact == pytest.approx(by_hand, abs=1e-12)


def test_nan_attributions_count_as_zero_in_the_baseline_too():
    masks = ablation_masks(6, 32, seed=1)
    actual = masks @ np.arange(1.0, 7.0)
    with_nan = np.array([np.nan, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert permuted_attribution_lds(with_nan, masks, actual, 50, seed=2) == permuted_attribution_lds(
        np.array([0.0, 2.0, 3.0, 4.0, 5.0, 6.0]), masks, actual, 50, seed=2
    )


def test_true_attributions_pass_and_attributions_without_word_information_do_not():
    """Known answers over 10 simulated clauses (unit: clause; n = 10)."""
    true = lds_verdict_test(*_study("true", 10, seed=20))
    assert true["passed"] and true["p_value"] < 1e-4 and true["effect_size"] > 1 and true["n"] == 10
    constant = lds_verdict_test(*_study("constant", 10, seed=21))
    assert not constant["passed"] and constant["p_value"] == 1.0 and constant["note"] == "all differences zero"
    shuffled = lds_verdict_test(*_study("shuffled", 10, seed=22))
    assert not shuffled["passed"] and shuffled["p_value"] > 0.05
    flipped = lds_verdict_test(*_study("sign_flipped", 10, seed=23))
    assert not flipped["passed"] and flipped["mean_difference"] < 0 and flipped["p_value"] < 1e-4


@pytest.mark.slow
def test_false_pass_rate_under_the_null_stays_near_alpha():
    """200 seeded null studies of 10 clauses each (the attribution is its true effects permuted over
    the words: no word information): the verdict passes in at most 8% (alpha = 0.05). The per-clause
    differences are skewed, so this is the property the test choice rests on (docs/statistics.md)."""
    rng = np.random.default_rng(30)
    passed = 0
    for _ in range(200):
        lds, baseline = _study("shuffled", 10, seed=int(rng.integers(2**62)), n_permutations=20)
        passed += lds_verdict_test(lds, baseline)["passed"]
    assert passed / 200 <= 0.08


def test_planted_effect_passes_in_most_seeded_studies():
    """True attributions over 6 clauses (the default run's clauses per variant) pass in >= 90% of 50 studies."""
    rng = np.random.default_rng(40)
    passed = sum(
        lds_verdict_test(*_study("true", 6, seed=int(rng.integers(2**62)), n_permutations=20))["passed"]
        for _ in range(50)
    )
    assert passed / 50 >= 0.9


def test_verdict_test_edge_cases():
    assert lds_verdict_test([0.5], [0.2])["note"].startswith("1 clause")
    assert np.isnan(lds_verdict_test([0.5], [0.2])["p_value"])
    result = lds_verdict_test([0.9, np.nan, 0.8, 0.7], [0.5, 0.4, np.nan, 0.6])  # NaN pairs dropped
    assert result["n"] == 2 and result["test"] == "t_test_paired" and result["effect_size_name"] == "d_z"
    assert lds_verdict_test([0.2, 0.3, 0.4], [0.2, 0.3, 0.4])["p_value"] == 1.0  # all differences zero
    assert not lds_verdict_test([0.5, 0.4, 0.6], [0.6, 0.5, 0.8])["passed"]  # below the baseline
    with pytest.raises(ValueError):
        lds_verdict_test([0.1, 0.2], [0.1])


# ---------------------------------------------------------------------------------------------
# The per-variant summary
# ---------------------------------------------------------------------------------------------
def _table(n_clauses=12):
    rng = np.random.default_rng(5)
    rows = []
    for variant, level in (("lora.m", 0.8), ("fft.s", 0.3)):
        for c in range(n_clauses):
            baseline = 0.6 + rng.normal(scale=0.05)
            rows.append(
                {
                    "variant": variant,
                    "clause_id": f"c{c}",
                    "lds": baseline + level * 0.3 + rng.normal(scale=0.05),
                    "lds_permuted": baseline,
                }
            )
    return pd.DataFrame(rows)


def test_lds_columns_name_the_permutation_baseline():
    assert LDS_COLUMNS == (
        "variant",
        "clause_id",
        "n_words",
        "n_masks",
        "keep_prob",
        "lds",
        "lds_permuted",
        "full_score",
    )


def test_summary_per_variant_with_ci_and_paired_t_test_over_clauses():
    summary = lds_summary(_table(), n_resamples=500)
    assert list(summary.columns) == ["strategy", "model_size", *LDS_SUMMARY_STATISTICS]
    assert list(summary["strategy"]) == ["fft", "lora"] and list(summary["model_size"]) == ["s", "m"]
    lora = summary[summary["strategy"] == "lora"].iloc[0]
    assert lora["unit"] == "clause" and lora["n_clauses"] == 12 and lora["test"] == "t_test_paired"
    assert lora["lds_ci_low"] <= lora["lds_mean"] <= lora["lds_ci_high"]
    assert lora["permuted_ci_low"] <= lora["permuted_mean"] <= lora["permuted_ci_high"]
    assert lora["difference_mean"] == pytest.approx(0.24, abs=0.03)
    assert lora["difference_mean"] == pytest.approx(lora["lds_mean"] - lora["permuted_mean"])
    assert lora["p_value"] < 0.001 and lora["t_statistic"] > 0 and lora["effect_size"] > 2
    assert lora["effect_size_name"] == "d_z"
    again = lds_summary(_table(), n_resamples=500)
    pd.testing.assert_frame_equal(summary, again)


def test_summary_drops_nan_clauses_and_handles_empty_tables():
    table = _table(6)
    table.loc[0, "lds"] = np.nan
    summary = lds_summary(table.assign(strategy="s", model_size="m"), by=("variant",))
    assert summary.set_index("variant").loc["lora.m", "n_clauses"] == 5
    empty = lds_summary(pd.DataFrame(columns=["variant", "lds", "lds_permuted"]))
    assert empty.empty and list(empty.columns) == ["strategy", "model_size", *LDS_SUMMARY_STATISTICS]
