import numpy as np
import pytest

from rulelens.statistics import category_shares, category_summary, clause_category_shares
from rulelens.words import CATEGORIES, DEONTIC, NUMERICAL_CONSTRAINT, OTHER, RULE_IDENTIFIER


def test_category_shares_known_answer():
    shares = [0.6, 0.2, 0.1, 0.1]
    cats = [NUMERICAL_CONSTRAINT, NUMERICAL_CONSTRAINT, OTHER, DEONTIC]
    out = category_shares(shares, cats).set_index("category")
    assert out.loc[NUMERICAL_CONSTRAINT, "mass_share"] == pytest.approx(0.8)
    assert out.loc[NUMERICAL_CONSTRAINT, "word_share"] == pytest.approx(0.5)
    assert out.loc[NUMERICAL_CONSTRAINT, "enrichment"] == pytest.approx(1.6)
    assert out.loc[OTHER, "enrichment"] == pytest.approx(0.4)
    assert out.loc[RULE_IDENTIFIER, "category_words"] == 0
    assert np.isnan(out.loc[RULE_IDENTIFIER, "enrichment"])  # no identifier words: nothing to enrich
    assert out["mass_share"].sum() == pytest.approx(1.0)
    assert out["word_share"].sum() == pytest.approx(1.0)


def test_clause_table_matches_single_clause_function(make_long_table):
    rng = np.random.default_rng(3)
    cats = {f"c{i}": list(rng.choice(CATEGORIES, size=7)) for i in range(6)}
    table = make_long_table(
        {("fft", "s"): {c: rng.normal(size=7) for c in cats}, ("lora", "s"): {c: rng.normal(size=7) for c in cats}},
        categories=cats,
    )
    out = clause_category_shares(table)
    assert len(out) == 2 * 6 * len(CATEGORIES)
    for (strategy, clause), group in table.groupby(["strategy", "clause_id"]):
        ref = category_shares(group["share"], group["category"]).set_index("category")
        got = out[(out.strategy == strategy) & (out.clause_id == clause)].set_index("category").loc[list(CATEGORIES)]
        for col in ("n_words", "category_words", "word_share", "mass_share", "enrichment"):
            np.testing.assert_allclose(got[col].to_numpy(float), ref[col].to_numpy(float), equal_nan=True)


def test_all_zero_clause_gives_nan_mass(make_long_table):
    out = clause_category_shares(make_long_table({("fft", "s"): {"c1": [0.0, 0.0, 0.0]}}))
    assert out["mass_share"].isna().all()
    assert out["word_share"].notna().all()


def test_summary_means_with_ci(make_long_table):
    scores = {f"c{i}": [1.0 + i, 1.0, 1.0, 1.0, 1.0] for i in range(10)}
    out = clause_category_shares(make_long_table({("fft", "s"): scores}))
    summary = category_summary(out, n_resamples=500, seed=1)
    row = summary[(summary.category == RULE_IDENTIFIER) & (summary.metric == "mass_share")].iloc[0]
    expected = np.mean([(1.0 + i) / (5.0 + i) for i in range(10)])
    assert row["n"] == 10
    assert row["mean"] == pytest.approx(expected)
    assert row["ci_low"] < row["mean"] < row["ci_high"]
    again = category_summary(out, n_resamples=500, seed=1)
    assert again.equals(summary)
