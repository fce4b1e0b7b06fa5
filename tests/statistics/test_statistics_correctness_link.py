"""GEE link between attribution share and correctness, with the clause as the cluster.

Unit of replication: the clause (clusters of model x clause rows); simulated studies with a known answer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rulelens.statistics.correctness_link import attribution_correctness, gee_link


def simulated(rng, slope: float, n_clauses: int = 24, n_models: int = 9, clause_sd: float = 1.0) -> pd.DataFrame:
    """Rows (model, clause): a share, and an outcome with a clause effect shared by all models plus ``slope``
    x share on the logit scale (slope 0: no link)."""
    clause_effect = rng.normal(0, clause_sd, n_clauses)
    clause_share = rng.uniform(0.1, 0.5, n_clauses)
    rows = []
    for model in range(n_models):
        share = np.clip(clause_share + rng.normal(0, 0.08, n_clauses), 0, 1)
        logit = -0.5 + clause_effect + slope * (share - 0.3)
        right = rng.random(n_clauses) < 1 / (1 + np.exp(-logit))
        rows += [
            dict(model=model, clause_id=f"c{i}", share=s, right=float(r)) for i, (s, r) in enumerate(zip(share, right))
        ]
    return pd.DataFrame(rows)


@pytest.mark.slow
def test_no_link_is_significant_in_about_5_percent_of_studies():
    p = [gee_link(simulated(np.random.default_rng(i), 0.0), "share", "right")["p_value"] for i in range(200)]
    assert 0.01 <= np.mean(np.array(p) < 0.05) <= 0.10


def test_a_planted_link_is_found_in_the_right_direction():
    rows = [gee_link(simulated(np.random.default_rng(i), 12.0), "share", "right") for i in range(100)]
    assert np.mean([r["p_value"] < 0.05 for r in rows]) > 0.8
    assert all(r["odds_ratio_per_0_1"] > 1 for r in rows if r["p_value"] < 0.05)


@pytest.mark.slow
def test_clustering_keeps_the_level_when_shares_are_a_clause_trait():
    """Shares and outcomes both depend on the clause, not on each other: a test that counted rows as
    independent would reject far too often; the clause-clustered GEE does not."""
    p = []
    for i in range(200):
        rng = np.random.default_rng(1000 + i)
        frame = simulated(rng, 0.0, clause_sd=2.0)
        p.append(gee_link(frame, "share", "right")["p_value"])
    assert np.mean(np.array(p) < 0.05) <= 0.10


def test_untestable_inputs_say_why():
    frame = simulated(np.random.default_rng(0), 0.0)
    assert "does not vary" in gee_link(frame.assign(right=0.0), "share", "right")["note"]
    assert "fewer than 10 clauses" in gee_link(frame[frame["clause_id"].isin(["c1", "c2"])], "share", "right")["note"]


def test_the_report_table_joins_shares_and_outcomes_per_model_and_clause():
    frame = simulated(np.random.default_rng(3), 12.0)
    categories = frame.assign(strategy="fft", model_size=frame["model"].astype(str), category="numerical_constraint")
    quality = categories[["strategy", "model_size", "clause_id"]].assign(constants_right=frame["right"])
    table = attribution_correctness(categories.rename(columns={"share": "mass_share"}), quality)
    row = table.iloc[0]
    assert row["predictor"] == "numerical_constraint_share" and row["n_clauses"] == 24 and row["n_rows"] == 24 * 9
    assert row["odds_ratio_per_0_1"] > 1
