"""How focused a clause's attribution is (docs/statistics.md).

All measures read the attribution *shares* p_i = |a_i| / sum_j |a_j| of the N words of one clause,
so they ignore the sign of a_i and the overall scale (nats) that differs between models.

Conventions (documented in docs/statistics.md):
- N = 1: the single word holds all mass; normalised entropy 0, Gini 0, top-k mass 1, effective words 1.
- All a_i = 0 (no word changes the score; shares undefined): every measure is NaN, so such clauses
  drop out of means and tests instead of looking perfectly spread or perfectly focused.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from rulelens.statistics._frames import CLAUSE, require, variant_keys
from rulelens.statistics.bootstrap import bootstrap_summary

FOCUS_COLUMNS = ("n_words", "entropy", "normalised_entropy", "gini", "top_k_mass", "effective_words")


def shares_from_scores(scores) -> np.ndarray:
    """p_i = |a_i| / sum |a_j|; all NaN when the total is zero or not finite."""
    mag = np.abs(np.asarray(scores, dtype=float))
    total = mag.sum()
    if not np.isfinite(total) or total <= 0:
        return np.full(mag.shape, np.nan)
    return mag / total


def _clean(shares) -> np.ndarray | None:
    """Shares as a normalised 1-D array, or None when undefined (empty, NaN, all zero)."""
    p = np.abs(np.asarray(shares, dtype=float).ravel())
    if p.size == 0 or not np.all(np.isfinite(p)) or p.sum() <= 0:
        return None
    return p / p.sum()


def entropy(shares) -> float:
    """Shannon entropy H = -sum p_i ln p_i in nats (0 ln 0 = 0)."""
    p = _clean(shares)
    if p is None:
        return np.nan
    nz = p[p > 0]
    return float(max(0.0, -(nz * np.log(nz)).sum()))


def normalised_entropy(shares) -> float:
    """H / ln N in [0, 1]: 0 = one word holds all mass, 1 = uniform. N = 1 gives 0."""
    p = _clean(shares)
    if p is None:
        return np.nan
    if p.size == 1:
        return 0.0
    return float(min(1.0, entropy(p) / np.log(p.size)))


def gini(shares, corrected: bool = False) -> float:
    """Gini coefficient of the shares: 0 = uniform, (N-1)/N = one word holds all mass.

    G = sum_i (2i - N - 1) p_(i) / (N sum p), p sorted ascending, i = 1..N (the mean absolute
    difference form, Gini 1912). ``corrected=True`` multiplies by N/(N-1) so that full focus gives
    1 at every N, which makes clauses of different length comparable. N = 1 gives 0.
    """
    p = _clean(shares)
    if p is None:
        return np.nan
    n = p.size
    if n == 1:
        return 0.0
    ranks = np.arange(1, n + 1)
    g = float(((2 * ranks - n - 1) * np.sort(p)).sum() / n)
    if corrected:
        g *= n / (n - 1)
    return max(0.0, g)


def top_k_mass(shares, k: int = 3) -> float:
    """Share of the mass on the k words with the largest shares (1 when k >= N)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    p = _clean(shares)
    if p is None:
        return np.nan
    return float(min(1.0, np.sort(p)[::-1][:k].sum()))


def effective_words(shares) -> float:
    """exp(H): the number of equally weighted words with the same entropy (1 .. N)."""
    h = entropy(shares)
    return float(np.exp(h)) if np.isfinite(h) else np.nan


def focus_measures(shares, k: int = 3, corrected_gini: bool = False) -> dict[str, float]:
    """All focus measures of one clause, keyed as FOCUS_COLUMNS."""
    p = np.asarray(shares, dtype=float).ravel()
    return {
        "n_words": int(p.size),
        "entropy": entropy(p),
        "normalised_entropy": normalised_entropy(p),
        "gini": gini(p, corrected=corrected_gini),
        "top_k_mass": top_k_mass(p, k),
        "effective_words": effective_words(p),
    }


def clause_focus(
    attributions: pd.DataFrame,
    k: int = 3,
    corrected_gini: bool = False,
    by: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per (variant, clause) with the focus measures of that clause's attribution.

    Input: the concatenated long attribution table (clause_id, word_index, score and/or share, plus
    the variant columns). Shares are recomputed from ``score`` when present, so a table whose
    ``share`` column was rounded or filtered still gives exact measures; without ``score`` the
    ``share`` column is used. Output columns: ``*variant keys, clause_id, n_words, entropy,
    normalised_entropy, gini, top_k_mass, effective_words`` and ``k``.
    """
    require(attributions, [CLAUSE], "clause_focus")
    value = "score" if "score" in attributions.columns else "share"
    require(attributions, [value], "clause_focus")
    keys = [*variant_keys(attributions, by), CLAUSE]
    rows = []
    for key, group in attributions.groupby(keys, dropna=False, sort=True):
        values = group[value].to_numpy(dtype=float)
        shares = shares_from_scores(values) if value == "score" else values
        rows.append((*key, *focus_measures(shares, k, corrected_gini).values()))
    out = pd.DataFrame(rows, columns=[*keys, *FOCUS_COLUMNS])
    out["n_words"] = out["n_words"].astype(int)
    out["k"] = k
    return out


def focus_summary(
    focus: pd.DataFrame,
    metrics: Sequence[str] = ("normalised_entropy", "gini", "top_k_mass", "effective_words"),
    by: Sequence[str] | None = None,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Per variant: mean of each focus measure over clauses with a percentile bootstrap CI.

    Input: :func:`clause_focus` output. Output (long): ``*variant keys, metric, n, mean, ci_low, ci_high``.
    """
    return bootstrap_summary(focus, metrics, variant_keys(focus, by), n_resamples, confidence, seed)
