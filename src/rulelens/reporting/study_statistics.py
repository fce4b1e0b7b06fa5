"""The study's statistics for one run, composed from :mod:`rulelens.statistics` (docs/statistics.md).

Each function takes the stacked tables of :mod:`rulelens.reporting.stacking` and returns plain
DataFrames that the reporting pipeline saves; the report and the figures read only these. Test
settings (resamples, seed, k, alpha) have no defaults here: they come from ``parameters_reporting.yml``.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from rulelens import statistics as st
from rulelens.statistics.seeds import compare_strategies_over_runs, has_seed_replicates, over_seeds
from rulelens.variant_grid import ZERO_SHOT

FOCUS_METRICS = ("normalised_entropy", "gini", "top_k_mass", "effective_words")
CATEGORY_METRICS = ("mass_share", "enrichment")
CLAUSE_KEYS = ("strategy", "model_size", "n_params", "category", "clause_id")  # a clause once per variant


def per_clause(table: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """The clause-level table with seed replicates averaged (:func:`rulelens.statistics.seeds.over_seeds`)."""
    return over_seeds(table, metrics, CLAUSE_KEYS)


def fine_tuned(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of fine-tuned variants only (the zero-shot base is a reference, not a strategy)."""
    return table[table["strategy"] != ZERO_SHOT]


def focus_tables(attributions: pd.DataFrame, *, k: int, n_resamples: int, seed: int):
    """(per clause and variant focus measures, per variant means with bootstrap CIs)."""
    clause_focus = st.clause_focus(attributions, k=k)
    return clause_focus, st.focus_summary(clause_focus, metrics=FOCUS_METRICS, n_resamples=n_resamples, seed=seed)


def category_tables(attributions: pd.DataFrame, *, n_resamples: int, seed: int):
    """(per clause, variant and category shares, per variant and category means with CIs)."""
    clause_categories = st.clause_category_shares(attributions)
    return clause_categories, st.category_summary(clause_categories, n_resamples=n_resamples, seed=seed)


def strategy_comparisons(
    clause_focus: pd.DataFrame,
    clause_categories: pd.DataFrame,
    clause_quality: pd.DataFrame,
    quality_metrics: Sequence[str],
    *,
    n_resamples: int,
    seed: int,
) -> pd.DataFrame:
    """Strategies compared per size on focus, category mass share / enrichment and rule quality.

    One table, column ``family`` (focus | category | quality). One training run per variant: paired
    tests over the clauses every strategy saw (Friedman then Holm-corrected Wilcoxon), unpaired
    otherwise. Several seed replicates: the training run is the unit (run means over the clauses,
    ANOVA then Holm-corrected Welch t-tests; :mod:`rulelens.statistics.seeds`).
    """
    if has_seed_replicates(clause_focus):
        parts = [
            compare_strategies_over_runs(clause_focus, FOCUS_METRICS).assign(family="focus", category=""),
            compare_strategies_over_runs(clause_categories, CATEGORY_METRICS, by=["category"]).assign(
                family="category"
            ),
            compare_strategies_over_runs(fine_tuned(clause_quality), list(quality_metrics)).assign(
                family="quality", category=""
            ),
        ]
        table = pd.concat(parts, ignore_index=True)
        return table[["family", "category", *[c for c in table.columns if c not in ("family", "category")]]]
    options = dict(n_resamples=n_resamples, seed=seed)
    parts = [
        st.compare_strategies(clause_focus, FOCUS_METRICS, **options).assign(family="focus", category=""),
        st.compare_strategies(clause_categories, CATEGORY_METRICS, by=["category"], **options).assign(
            family="category"
        ),
        st.compare_strategies(fine_tuned(clause_quality), list(quality_metrics), **options).assign(
            family="quality", category=""
        ),
    ]
    table = pd.concat(parts, ignore_index=True)
    return table[["family", "category", *[c for c in table.columns if c not in ("family", "category")]]]


def agreement_tables(attributions: pd.DataFrame, *, k: int):
    """(per clause and variant pair Spearman / top-k overlap, variant x variant mean Spearman matrix)."""
    pairs = st.pairwise_agreement(attributions, k=k)
    matrix = st.agreement_matrix(pairs, "spearman")
    matrix.index.name = "variant"
    return pairs, matrix.reset_index()


def scale_trend_table(
    clause_focus: pd.DataFrame,
    clause_categories: pd.DataFrame,
    clause_quality: pd.DataFrame,
    quality_metrics: Sequence[str],
    *,
    n_resamples: int,
    seed: int,
    alpha: float,
) -> pd.DataFrame:
    """Slopes of per-size means of focus, category shares and rule quality against ln(n_params).

    The size is the unit of replication (each size counted once; tested over sizes, at least 4),
    with a clause-blocked bootstrap CI; per strategy and pooled over strategies ("all").
    """
    options = dict(n_resamples=n_resamples, seed=seed, alpha=alpha)
    quality = list(quality_metrics)
    parts = [
        st.size_trends(per_clause(clause_focus, FOCUS_METRICS), FOCUS_METRICS, **options).assign(
            family="focus", category=""
        ),
        st.size_trends(
            per_clause(clause_categories, CATEGORY_METRICS), CATEGORY_METRICS, by=["category"], **options
        ).assign(family="category"),
        st.size_trends(per_clause(fine_tuned(clause_quality), quality), quality, **options).assign(
            family="quality", category=""
        ),
    ]
    table = pd.concat(parts, ignore_index=True)
    return table[["family", "category", *[c for c in table.columns if c not in ("family", "category")]]]


def plateau_table(
    clause_quality: pd.DataFrame,
    *,
    metrics: Sequence[str],
    models: Sequence[str],
    epsilon: float,
    min_n_params: float | None,
    n_resamples: int,
    seed: int,
    flat_margin: float = 0.02,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Rule quality against size: plateau estimates per strategy; "all" pools the fine-tuned strategies only.

    A plateau needs >= 5 sizes, a ladder reaching ``min_n_params`` and the hinge's size-level test
    (docs/statistics.md section 7); the saturating fit is descriptive.
    """
    options = dict(
        metrics=metrics,
        models=models,
        epsilon=epsilon,
        min_plateau_n_params=min_n_params,
        n_resamples=n_resamples,
        seed=seed,
        flat_margin=flat_margin,
        alpha=alpha,
    )
    clause_quality = per_clause(clause_quality, metrics)
    tuned = st.quality_plateaus(fine_tuned(clause_quality), **options)
    base = clause_quality[clause_quality["strategy"] == ZERO_SHOT]
    parts = [tuned]
    if len(base):
        zero = st.quality_plateaus(base, **options)
        parts.append(zero[zero["strategy"] == ZERO_SHOT])
    table = pd.concat(parts, ignore_index=True)
    if "params" in table.columns:  # fitted parameters as readable text (a dict column does not fit a CSV)
        table["fit_params"] = table.pop("params").map(lambda p: ", ".join(f"{k}={v:.4g}" for k, v in (p or {}).items()))
    return table


def faithfulness_table(aopc: pd.DataFrame, *, n_resamples: int, seed: int) -> pd.DataFrame:
    """Attribution vs random AOPC per variant (clauses as pairs) and pooled with the clause as the unit."""
    columns = ["strategy", "model_size"]
    if aopc.empty:
        return pd.DataFrame(
            columns=[
                *columns,
                "measure",
                "better",
                "n",
                "aopc_attribution",
                "aopc_random",
                "difference",
                "p_value",
                "effect_size",
            ]
        )
    measures = ["comprehensiveness", "sufficiency", "random_comprehensiveness", "random_sufficiency"]
    aopc = per_clause(aopc, [m for m in measures if m in aopc.columns])
    rows = []
    for (strategy, size), block in aopc.groupby(columns, sort=True):
        rows.append(
            st.faithfulness_summary(block, n_resamples=n_resamples, seed=seed).assign(
                strategy=strategy, model_size=size
            )
        )
    rows.append(
        st.pooled_faithfulness(aopc, n_resamples=n_resamples, seed=seed).assign(strategy="all", model_size="all")
    )
    table = pd.concat(rows, ignore_index=True)
    return table[[*columns, *[c for c in table.columns if c not in columns]]]


def lds_table(lds_scores: pd.DataFrame, *, n_resamples: int, seed: int) -> pd.DataFrame:
    """LDS against the same attributions permuted over the clause's words (the chance level), per variant and
    pooled per clause over variants (the clause is the unit; n = clauses)."""
    from rulelens.statistics.lds import lds_summary

    if lds_scores.empty:
        return lds_summary(lds_scores, by=("strategy", "model_size"))
    lds_scores = per_clause(lds_scores, ["lds", "lds_permuted"])
    per_variant = lds_summary(lds_scores, by=("strategy", "model_size"), n_resamples=n_resamples, seed=seed)
    clause_means = (
        lds_scores.groupby("clause_id", sort=True)[["lds", "lds_permuted"]]
        .mean()
        .reset_index()
        .assign(strategy="all", model_size="all")
    )
    pooled = lds_summary(clause_means, by=("strategy", "model_size"), n_resamples=n_resamples, seed=seed)
    return pd.concat([per_variant, pooled], ignore_index=True)


def faithfulness_mean_curves(curves: pd.DataFrame) -> pd.DataFrame:
    """Mean deletion curves per strategy, order and k (over sizes and clauses), for the figure.

    ``n`` counts distinct clauses (the unit), not the size x clause rows averaged over.
    """
    if curves.empty:
        return pd.DataFrame(columns=["strategy", "order", "k", "n", "comprehensiveness", "sufficiency"])
    return (
        curves.groupby(["strategy", "order", "k"], sort=True)
        .agg(
            n=("clause_id", "nunique"),
            comprehensiveness=("comprehensiveness", "mean"),
            sufficiency=("sufficiency", "mean"),
        )
        .reset_index()
    )


def quality_summary_by_variant(
    clause_quality: pd.DataFrame, metrics: Sequence[str], *, n_resamples: int, seed: int
) -> pd.DataFrame:
    """Mean rule quality per (strategy, size) with bootstrap CIs over clauses (seed replicates averaged), zero-shot
    included."""
    means = per_clause(clause_quality, list(metrics))
    return st.bootstrap_summary(
        means, list(metrics), by=["strategy", "model_size", "n_params"], n_resamples=n_resamples, seed=seed
    )
