"""Do two variants attribute the same clause to the same words? (docs/statistics.md)

Per clause and pair of variants (words are the same: the split does not depend on the model):

- Spearman's rho between the two variants' word values (Spearman 1904): agreement on the whole
  ordering of words. NaN when either variant gives every word the same value.
- Top-k overlap |top_k(a) ∩ top_k(b)| / k: agreement on the few words a reader looks at.
  k is capped at the clause's word count; ties are broken by word position, so it is deterministic.
  NaN when a variant gives every word the same value (its top k would be arbitrary) and k < N.

Clauses where a variant's attributions are all zero (shares undefined) give no pair for it.

By default the value is the share p_i (magnitude: "how much does this word matter"); pass
``value="score"`` to compare signed a_i, where the top-k are the words that most *support* the rule.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

from rulelens.statistics._frames import CLAUSE, require, variant_keys, variant_label


def spearman_agreement(a, b) -> float:
    """Spearman's rho of two aligned value vectors; NaN when undefined (constant input, < 2 words)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if a.size < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return np.nan
    return float(stats.spearmanr(a, b).statistic)


def _constant(v: np.ndarray) -> bool:
    return bool(np.all(v == v[0])) if v.size else True


def top_k_indices(values, k: int) -> np.ndarray:
    """Positions of the k largest values (ties: earlier position first); NaN values rank last."""
    v = np.asarray(values, dtype=float)
    v = np.where(np.isfinite(v), v, -np.inf)
    order = np.lexsort((np.arange(v.size), -v))
    return order[: min(k, v.size)]


def top_k_overlap(a, b, k: int = 3) -> float:
    """|top_k(a) ∩ top_k(b)| / k with k capped at the number of words; 1 = same top words."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"aligned vectors expected, got {a.size} and {b.size} values")
    k_eff = min(k, a.size)
    if k_eff == 0:
        return np.nan
    if k_eff < a.size and (_constant(a) or _constant(b)):
        return np.nan  # the top k of a flat vector is arbitrary
    return len(set(top_k_indices(a, k_eff)) & set(top_k_indices(b, k_eff))) / k_eff


def _share_column(frame: pd.DataFrame, value: str, keys: list[str]) -> pd.Series:
    """The per-word value to compare; shares are recomputed from scores for exactness."""
    if value == "share" and "score" in frame.columns:
        mag = frame["score"].abs()
        total = mag.groupby([frame[c] for c in keys], dropna=False).transform("sum")
        return (mag / total.where(total > 0)).astype(float)
    require(frame, [value], "pairwise_agreement")
    return frame[value].astype(float)


def _clause_pairs(clause, values: np.ndarray, variants: list, k: int) -> list[tuple]:
    """All variant pairs of one clause; values is (words x variants), NaN where a variant lacks a word.

    Fast path (every present variant has every word): rank once, one correlation matrix, one
    top-k membership matrix. Otherwise pairs are computed one by one on their shared words.
    """
    present = [j for j in range(values.shape[1]) if np.isfinite(values[:, j]).any()]
    complete = [j for j in present if np.isfinite(values[:, j]).all()]
    rows = []
    if len(complete) == len(present) and values.shape[0] >= 1:
        sub = values[:, present]
        n_words, k_eff = sub.shape[0], min(k, sub.shape[0])
        ranks = stats.rankdata(sub, axis=0)
        constant = np.all(sub == sub[:1], axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            rho = np.corrcoef(ranks, rowvar=False) if n_words >= 2 else np.full((len(present),) * 2, np.nan)
        rho = np.atleast_2d(rho)
        member = np.zeros(sub.shape)
        for j in range(sub.shape[1]):
            member[top_k_indices(sub[:, j], k_eff), j] = 1.0
        overlap = member.T @ member / k_eff
        for (ia, ja), (ib, jb) in combinations(enumerate(present), 2):
            flat = constant[ia] or constant[ib]
            r = np.nan if flat or n_words < 2 else float(np.clip(rho[ia, ib], -1, 1))
            o = np.nan if flat and k_eff < n_words else float(overlap[ia, ib])
            rows.append((variants[ja], variants[jb], clause, n_words, r, o))
        return rows
    for ja, jb in combinations(present, 2):
        keep = np.isfinite(values[:, ja]) & np.isfinite(values[:, jb])
        if keep.any():
            a, b = values[keep, ja], values[keep, jb]
            rows.append(
                (variants[ja], variants[jb], clause, int(keep.sum()), spearman_agreement(a, b), top_k_overlap(a, b, k))
            )
    return rows


def pairwise_agreement(
    attributions: pd.DataFrame,
    k: int = 3,
    value: str = "share",
    by: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per (clause, variant pair): variant_a, variant_b, clause_id, n_words, spearman, top_k_overlap.

    Input: the concatenated long attribution table (clause_id, word_index, score/share, variant
    columns). Variants are labelled ``strategy.size`` (plus target mode / operator when those vary).
    Only words present in both variants are compared.
    """
    require(attributions, [CLAUSE, "word_index"], "pairwise_agreement")
    keys = variant_keys(attributions, by)
    frame = attributions.copy()
    frame["_variant"] = variant_label(frame, keys) if keys else "all"
    frame["_value"] = _share_column(frame, value, ["_variant", CLAUSE])
    if frame.duplicated(["_variant", CLAUSE, "word_index"]).any():
        raise ValueError("several rows per (variant, clause, word): filter the table or pass `by`")
    wide = frame.pivot(index=[CLAUSE, "word_index"], columns="_variant", values="_value")
    variants = list(wide.columns)
    rows = []
    for clause, block in wide.groupby(level=0, sort=True):
        rows.extend(_clause_pairs(clause, block.to_numpy(dtype=float), variants, k))
    out = pd.DataFrame(rows, columns=["variant_a", "variant_b", CLAUSE, "n_words", "spearman", "top_k_overlap"])
    out["k"] = k
    return out


def agreement_matrix(pairs: pd.DataFrame, statistic: str = "spearman") -> pd.DataFrame:
    """Variant x variant matrix of the mean ``statistic`` over clauses (symmetric, diagonal 1).

    Input: :func:`pairwise_agreement` output. Means skip clauses where the statistic is NaN.
    """
    require(pairs, ["variant_a", "variant_b", statistic], "agreement_matrix")
    variants = sorted(set(pairs["variant_a"]) | set(pairs["variant_b"]), key=str)
    matrix = pd.DataFrame(np.nan, index=variants, columns=variants, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        means = pairs.groupby(["variant_a", "variant_b"])[statistic].mean()
    for (va, vb), m in means.items():
        matrix.loc[va, vb] = matrix.loc[vb, va] = m
    for v in variants:
        matrix.loc[v, v] = 1.0
    matrix.index.name = matrix.columns.name = "variant"
    return matrix
