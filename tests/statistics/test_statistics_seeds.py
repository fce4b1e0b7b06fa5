"""Strategy comparisons with the training run as the unit (rulelens.statistics.seeds).

Unit of replication in every simulation: the training run (a strategy x seed replicate); clauses
are shared by all runs and averaged within a run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rulelens.statistics.seeds import (
    RUN_TEST,
    compare_strategies_over_runs,
    has_seed_replicates,
    hedges_g,
    over_seeds,
    run_means,
    welch_pair,
)


def simulated_runs(rng, effect: float, n_seeds: int = 3, n_clauses: int = 24, run_sd: float = 0.02) -> pd.DataFrame:
    """Clause focus of two strategies at one size: clause effects shared by every run, a run effect per run
    (sd ``run_sd``), clause x run noise, and ``effect`` added to every FFT run."""
    clause_effect = rng.normal(0.7, 0.05, n_clauses)
    rows = []
    for strategy in ("fft", "lora"):
        for seed in range(n_seeds):
            run_effect = rng.normal(0, run_sd) + (effect if strategy == "fft" else 0.0)
            values = clause_effect + run_effect + rng.normal(0, 0.03, n_clauses)
            rows += [
                dict(strategy=strategy, model_size="m", seed=seed, clause_id=f"c{i}", normalised_entropy=v)
                for i, v in enumerate(values)
            ]
    return pd.DataFrame(rows)


def fft_vs_lora(table: pd.DataFrame) -> pd.Series:
    out = compare_strategies_over_runs(table, ["normalised_entropy"])
    return out[out["group_a"] == "fft"].iloc[0]


@pytest.mark.slow
def test_no_strategy_effect_is_significant_in_about_5_percent_of_seeded_studies():
    rejections = [fft_vs_lora(simulated_runs(np.random.default_rng(i), 0.0))["p_value"] < 0.05 for i in range(200)]
    assert 0.02 <= np.mean(rejections) <= 0.08


def test_a_strategy_effect_large_against_the_run_spread_is_found_with_three_seeds():
    rows = [fft_vs_lora(simulated_runs(np.random.default_rng(i), -0.08)) for i in range(200)]
    assert np.mean([r["p_value"] < 0.05 for r in rows]) > 0.8
    assert all(r["direction"] == -1 for r in rows if r["p_value"] < 0.05)  # FFT lower entropy, never reversed


def test_clause_count_does_not_inflate_the_evidence():
    """The run is the unit: 240 clauses instead of 24 do not make a run-level effect the size of the
    run spread significant (a clause-level test on the same data would be)."""
    table = simulated_runs(np.random.default_rng(3), -0.02, n_clauses=240)
    row = fft_vs_lora(table)
    assert row["n"] == 6 and row["test"] == RUN_TEST
    wide = table.pivot_table(index="clause_id", columns="strategy", values="normalised_entropy")
    assert stats.wilcoxon(wide["fft"], wide["lora"]).pvalue < 1e-6  # what counting clauses x seeds would claim
    assert row["p_value"] > stats.wilcoxon(wide["fft"], wide["lora"]).pvalue * 1e3


def test_welch_pair_is_scipys_welch_test_with_hedges_g():
    a, b = np.array([0.61, 0.64, 0.60]), np.array([0.70, 0.69, 0.73, 0.71])
    row = welch_pair(a, b)
    expected = stats.ttest_ind(a, b, equal_var=False)
    assert row["p_value"] == pytest.approx(expected.pvalue) and row["statistic"] == pytest.approx(expected.statistic)
    assert row["ci_low"] < row["mean_difference"] < row["ci_high"] < 0
    pooled = np.sqrt((2 * a.var(ddof=1) + 3 * b.var(ddof=1)) / 5)
    assert hedges_g(a, b) == pytest.approx((1 - 3 / (4 * 7 - 9)) * (a.mean() - b.mean()) / pooled)
    assert np.isnan(welch_pair([0.6], [0.7, 0.8])["p_value"])  # one run: not testable, never p = 1
    assert "not testable" in welch_pair([0.6], [0.7, 0.8])["note"]


def test_run_means_use_the_clauses_every_run_saw():
    table = simulated_runs(np.random.default_rng(0), 0.0, n_seeds=2, n_clauses=4)
    table = table[~((table["strategy"] == "lora") & (table["seed"] == 1) & (table["clause_id"] == "c0"))]
    means = run_means(table, "normalised_entropy")
    kept = table[table["clause_id"] != "c0"]
    expected = kept.query("strategy == 'fft' and seed == 0")["normalised_entropy"].mean()
    assert means[("fft", 0)] == pytest.approx(expected)


def test_seed_replicates_are_averaged_so_a_clause_counts_once():
    table = simulated_runs(np.random.default_rng(0), 0.0, n_seeds=3, n_clauses=5).assign(n_params=1)
    assert has_seed_replicates(table) and not has_seed_replicates(table[table["seed"] == 0])
    per_clause = over_seeds(table, ["normalised_entropy"], ["strategy", "model_size", "n_params", "clause_id"])
    assert len(per_clause) == 10 and "seed" not in per_clause.columns
    first = table[(table["strategy"] == "fft") & (table["clause_id"] == "c0")]["normalised_entropy"].mean()
    assert per_clause.iloc[0]["normalised_entropy"] == pytest.approx(first)
