"""Where a clause's attribution mass goes, by word category (docs/method.md).

Per clause and category c (categories from :data:`rulelens.words.CATEGORIES`):

- mass share   M_c = sum_{i in c} p_i           (how much of the attribution c receives)
- word share   W_c = |{i in c}| / N             (how much of the clause c occupies)
- enrichment   E_c = M_c / W_c                  (> 1: c draws more attention than its size)

E_c is NaN when the clause has no word of category c (there is nothing to enrich), and every
mass-based number is NaN for a clause whose attributions are all zero.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from rulelens.statistics._frames import CLAUSE, require, variant_keys
from rulelens.statistics.bootstrap import bootstrap_summary
from rulelens.words import CATEGORIES

CATEGORY_COLUMNS = ("n_words", "category_words", "word_share", "mass_share", "enrichment")


def category_shares(shares, categories, category_names: Sequence[str] = CATEGORIES) -> pd.DataFrame:
    """Mass share, word share and enrichment of each category for one clause.

    ``shares`` and ``categories`` are aligned per word. Categories outside ``category_names``
    still count in N (they dilute the word shares) but get no row of their own.
    """
    p = np.asarray(shares, dtype=float).ravel()
    cats = np.asarray(categories, dtype=object).ravel()
    if p.shape != cats.shape:
        raise ValueError(f"{p.size} shares but {cats.size} categories")
    n = p.size
    defined = n > 0 and np.all(np.isfinite(p)) and p.sum() > 0
    rows = []
    for c in category_names:
        mask = cats == c
        count = int(mask.sum())
        word_share = count / n if n else np.nan
        mass = float(p[mask].sum() / p.sum()) if defined else np.nan
        enrich = mass / word_share if count and np.isfinite(mass) else np.nan
        rows.append((c, n, count, word_share, mass, enrich))
    return pd.DataFrame(rows, columns=["category", *CATEGORY_COLUMNS])


def clause_category_shares(
    attributions: pd.DataFrame,
    category_names: Sequence[str] = CATEGORIES,
    by: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per (variant, clause, category): n_words, category_words, word_share, mass_share, enrichment.

    Input: the long attribution table (clause_id, category, score and/or share, variant columns).
    Shares are recomputed from ``score`` when present (as in :func:`clause_focus`).
    """
    require(attributions, [CLAUSE, "category"], "clause_category_shares")
    value = "score" if "score" in attributions.columns else "share"
    require(attributions, [value], "clause_category_shares")
    keys = [*variant_keys(attributions, by), CLAUSE]
    columns = [*keys, "category", *CATEGORY_COLUMNS]
    frame = attributions[keys].copy()
    frame["category"] = attributions["category"].astype(object)
    frame["_mag"] = attributions[value].astype(float).abs()
    frame["_bad"] = ~np.isfinite(frame["_mag"])
    clauses = (
        frame.groupby(keys, dropna=False, sort=True)
        .agg(n_words=("_mag", "size"), _total=("_mag", "sum"), _bad=("_bad", "any"))
        .reset_index()
    )
    if clauses.empty:
        return pd.DataFrame(columns=columns)
    per_cat = (
        frame.groupby([*keys, "category"], dropna=False, sort=True)
        .agg(category_words=("_mag", "size"), _mass=("_mag", "sum"))
        .reset_index()
    )
    grid = clauses.merge(pd.DataFrame({"category": list(category_names)}, dtype=object), how="cross")
    out = grid.merge(per_cat, on=[*keys, "category"], how="left")
    out["category_words"] = out["category_words"].fillna(0).astype(int)
    defined = ~out["_bad"] & (out["_total"] > 0)
    out["word_share"] = out["category_words"] / out["n_words"]
    out["mass_share"] = (out["_mass"].fillna(0.0) / out["_total"]).where(defined)
    out["enrichment"] = (out["mass_share"] / out["word_share"]).where(out["category_words"] > 0)
    return out[columns].reset_index(drop=True)


def category_summary(
    clause_categories: pd.DataFrame,
    metrics: Sequence[str] = ("mass_share", "word_share", "enrichment"),
    by: Sequence[str] | None = None,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Per variant and category: mean of each metric over clauses with a percentile bootstrap CI.

    Input: the output of :func:`clause_category_shares`. Output (long): ``*variant keys, category,
    metric, n, mean, ci_low, ci_high``; ``n`` counts clauses where the metric is defined, so the
    enrichment of a rare category is averaged only over clauses that contain it.
    """
    keys = [*variant_keys(clause_categories, by), "category"]
    return bootstrap_summary(clause_categories, metrics, keys, n_resamples, confidence, seed)
