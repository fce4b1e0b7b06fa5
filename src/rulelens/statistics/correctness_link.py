"""Does where a model looks predict whether it translated correctly? (docs/statistics.md section 13)

Per (model, clause): the attribution share on one word category (numerical constraints: numbers,
units, comparison phrases) and whether the generated rule got the matching part right (its
constants, from rule quality by execution). The question is whether a clause translated with
more attention on its numbers gets its constants right more often.

The same clause appears under every model, and a clause that is easy to translate is easy for
all of them: rows of one clause are not independent. The test is a GEE logistic regression
(statsmodels ``GEE``, binomial family, exchangeable working correlation) with the clause as the
cluster, so its robust (sandwich) standard errors count clauses, not rows (Liang and Zeger 1986).
With fewer than 10 clusters, or an outcome without variation, nothing is tested and the row says
why. Simulations with a known answer are in ``tests/statistics/test_statistics_correctness_link.py``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

LINK_COLUMNS = [
    "predictor",
    "outcome",
    "n_rows",
    "n_clauses",
    "share_right",
    "odds_ratio_per_0_1",
    "ci_low",
    "ci_high",
    "p_value",
    "note",
]
MIN_CLUSTERS = 10


def gee_link(frame: pd.DataFrame, predictor: str, outcome: str, cluster: str = "clause_id") -> dict:
    """Odds ratio of ``outcome`` per 0.1 of ``predictor`` with clause-robust 95% CI and p (GEE, logit link)."""
    import statsmodels.api as sm

    data = frame[[predictor, outcome, cluster]].dropna()
    row = dict(predictor=predictor, outcome=outcome, n_rows=int(len(data)), n_clauses=int(data[cluster].nunique()))
    row["share_right"] = float(data[outcome].mean()) if len(data) else np.nan
    empty = dict(odds_ratio_per_0_1=np.nan, ci_low=np.nan, ci_high=np.nan, p_value=np.nan)
    if row["n_clauses"] < MIN_CLUSTERS:
        return {**row, **empty, "note": f"fewer than {MIN_CLUSTERS} clauses: not testable"}
    if data[outcome].nunique() < 2:
        return {**row, **empty, "note": "the outcome does not vary (every rule right, or none): not testable"}
    if data[predictor].nunique() < 2:
        return {**row, **empty, "note": "the attribution share does not vary: not testable"}
    data = data.sort_values(cluster)
    exog = sm.add_constant(data[[predictor]].astype(float) * 10)  # per 0.1 of the share
    model = sm.GEE(
        data[outcome].astype(float),
        exog,
        groups=data[cluster],
        family=sm.families.Binomial(),
        cov_struct=sm.cov_struct.Exchangeable(),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on near-separated data; the CI says the rest
        fit = model.fit()
    beta, (low, high) = float(fit.params[predictor]), fit.conf_int().loc[predictor]
    if not np.isfinite(beta) or abs(beta) > 20:
        return {**row, **empty, "note": "the outcome is (nearly) separated by the share: not estimable"}
    return {
        **row,
        "odds_ratio_per_0_1": float(np.exp(beta)),
        "ci_low": float(np.exp(low)),
        "ci_high": float(np.exp(high)),
        "p_value": float(fit.pvalues[predictor]),
        "note": "",
    }


def attribution_correctness(
    clause_categories: pd.DataFrame,
    clause_quality: pd.DataFrame,
    links: tuple[tuple[str, str], ...] = (
        ("numerical_constraint", "constants_right"),
        ("domain_entity", "conditions_right"),
    ),
) -> pd.DataFrame:
    """One row per (word category, correctness outcome): the GEE link over fine-tuned models x clauses.

    ``clause_categories``: per (strategy, model_size, [seed,] clause, category) ``mass_share``;
    ``clause_quality``: per (strategy, model_size, [seed,] clause) the 0/1 outcomes.
    """
    keys = [k for k in ("strategy", "model_size", "seed", "clause_id") if k in clause_categories.columns]
    keys = [k for k in keys if k in clause_quality.columns]
    rows = []
    for category, outcome in links:
        if outcome not in clause_quality.columns or "mass_share" not in clause_categories.columns:
            continue
        shares = clause_categories[clause_categories["category"] == category][[*keys, "mass_share"]]
        merged = shares.merge(clause_quality[[*keys, outcome]], on=keys, how="inner")
        merged = merged.rename(columns={"mass_share": f"{category}_share"})
        rows.append(gee_link(merged, f"{category}_share", outcome))
    return pd.DataFrame(rows, columns=LINK_COLUMNS)
