"""Linear datamodeling score: known answers on constructed additive models and random attributions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rulelens.statistics.lds import (
    ablation_masks,
    clause_seed,
    lds_summary,
    linear_datamodeling_score,
    random_attribution_lds,
)


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


def test_lds_of_random_attributions_is_near_zero():
    rng = np.random.default_rng(1)
    values, baselines = [], []
    for clause in range(300):
        n = 15
        weights = rng.normal(size=n)
        masks = ablation_masks(n, 32, 0.5, seed=clause)
        actual = masks @ weights + rng.normal(scale=0.1, size=32)
        values.append(linear_datamodeling_score(rng.normal(size=n), masks, actual))
        baselines.append(random_attribution_lds(masks, actual, n, n_random=10, seed=clause))
    assert abs(np.mean(values)) < 0.05
    assert abs(np.mean(baselines)) < 0.03


def test_lds_is_nan_when_nothing_varies():
    masks = ablation_masks(4, 8, seed=0)
    assert np.isnan(linear_datamodeling_score(np.zeros(4), masks, np.arange(8.0)))
    assert np.isnan(linear_datamodeling_score(np.ones(4), masks, np.full(8, 2.0)))
    assert np.isnan(random_attribution_lds(masks, np.arange(8.0), 4, n_random=0))
    with pytest.raises(ValueError):
        linear_datamodeling_score(np.ones(3), masks, np.arange(8.0))


def test_random_baseline_is_seeded():
    masks = ablation_masks(10, 32, seed=3)
    actual = masks @ np.arange(10.0)
    assert random_attribution_lds(masks, actual, 10, seed=4) == random_attribution_lds(masks, actual, 10, seed=4)


def _table(n_clauses=12):
    rng = np.random.default_rng(5)
    rows = []
    for variant, level in (("lora.m", 0.8), ("fft.s", 0.3)):
        for c in range(n_clauses):
            rows.append(
                {
                    "variant": variant,
                    "clause_id": f"c{c}",
                    "lds": level + rng.normal(scale=0.05),
                    "lds_random": rng.normal(scale=0.05),
                }
            )
    return pd.DataFrame(rows)


def test_summary_per_variant_with_ci_and_paired_wilcoxon():
    summary = lds_summary(_table(), n_resamples=500)
    assert list(summary["strategy"]) == ["fft", "lora"] and list(summary["model_size"]) == ["s", "m"]
    lora = summary[summary["strategy"] == "lora"].iloc[0]
    assert lora["n_clauses"] == 12
    assert lora["lds_ci_low"] <= lora["lds_mean"] <= lora["lds_ci_high"]
    assert lora["random_ci_low"] <= lora["random_mean"] <= lora["random_ci_high"]
    assert lora["lds_mean"] == pytest.approx(0.8, abs=0.05)
    assert lora["p_value"] < 0.01 and lora["effect_size"] == pytest.approx(1.0)
    assert lora["difference_mean"] == pytest.approx(lora["lds_mean"] - lora["random_mean"])
    again = lds_summary(_table(), n_resamples=500)
    pd.testing.assert_frame_equal(summary, again)


def test_summary_drops_nan_clauses_and_handles_empty_tables():
    table = _table(6)
    table.loc[0, "lds"] = np.nan
    summary = lds_summary(table.assign(strategy="s", model_size="m"), by=("variant",))
    assert summary.set_index("variant").loc["lora.m", "n_clauses"] == 5
    assert lds_summary(pd.DataFrame(columns=["variant", "lds", "lds_random"])).empty
