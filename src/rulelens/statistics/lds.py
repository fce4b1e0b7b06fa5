"""Linear datamodeling score (LDS): do summed attributions predict the score of word subsets?

Deletion curves test the order of the words; the comprehensiveness of the top word is the
top attribution by construction. The linear datamodeling score (Park et al. 2023, TRAK; used
for context attribution by Cohen-Wang et al. 2024, ContextCite) is not true by construction:

1. draw M random ablation masks over the clause's N words (each word kept with probability
   ``keep_prob``, seeded; :func:`ablation_masks`);
2. score the prompt with only the kept words, ``s(x_mask)`` (the model; done by
   :func:`rulelens.attribution.faithfulness.clause_lds` with the attribution's own engine,
   operator and target ids);
3. predict each mask's score from the attributions alone as the sum of the kept words'
   attributions, ``mask @ a``;
4. LDS = Spearman rank correlation between the predictions and the actual scores over the M
   masks.

Single-word deletion attributions (leave-one-out) are fitted to one-word ablations only, so a
high LDS on half-ablated clauses means the model behaves roughly additively in the words and
the attributions capture that. The baseline is the LDS of random attributions (i.i.d.
standard normal vectors on the same masks and scores, :func:`random_attribution_lds`), which
is 0 in expectation. :func:`lds_summary` compares the two per variant over clauses (the unit
of analysis; n = clauses).

Pure numpy / scipy / pandas.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from rulelens.statistics.bootstrap import bootstrap_mean_ci, bootstrap_paired_difference_ci
from rulelens.statistics.comparisons import wilcoxon_signed_rank

DEFAULT_N_MASKS = 32
DEFAULT_KEEP_PROB = 0.5
DEFAULT_N_RANDOM = 10
LDS_COLUMNS = ("variant", "clause_id", "n_words", "n_masks", "keep_prob", "lds", "lds_random", "full_score")


def clause_seed(seed: int | None, clause_id, purpose: str = "") -> int:
    """A seed for one clause from the configured seed and the clause id (SHA-256, not ``hash()``).

    Stable across processes and Python versions, and independent of which other clauses are
    selected; ``purpose`` gives separate streams (e.g. "curves", "lds").
    """
    digest = hashlib.sha256(f"{seed}\x1f{purpose}\x1f{clause_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def ablation_masks(
    n_words: int, n_masks: int = DEFAULT_N_MASKS, keep_prob: float = DEFAULT_KEEP_PROB, seed: int | None = 0
) -> np.ndarray:
    """``(n_masks, n_words)`` bool array, True = word kept, each word kept with ``keep_prob``.

    Seeded. Duplicate masks are redrawn while distinct masks remain (2^N of them): a clause
    with few words gets every distinct mask before any repeats.
    """
    if n_words < 1:
        raise ValueError(f"n_words must be >= 1, got {n_words}")
    if n_masks < 1:
        raise ValueError(f"n_masks must be >= 1, got {n_masks}")
    if not 0 < keep_prob < 1:
        raise ValueError(f"keep_prob must be in (0, 1), got {keep_prob}")
    rng = np.random.default_rng(seed)
    distinct = 2**n_words if n_words < 63 else np.inf
    target = int(min(n_masks, distinct))
    seen: set[bytes] = set()
    rows: list[np.ndarray] = []
    attempts, limit = 0, 1000 * n_masks
    while len(rows) < target and attempts < limit:
        attempts += 1
        row = rng.random(n_words) < keep_prob
        key = np.packbits(row).tobytes()
        if key in seen:
            continue
        seen.add(key)
        rows.append(row)
    while len(rows) < n_masks:  # only when fewer distinct masks exist than asked for
        rows.append(rng.random(n_words) < keep_prob)
    return np.array(rows, dtype=bool).reshape(n_masks, n_words)


def linear_datamodeling_score(scores, masks, actual_scores) -> float:
    """Spearman correlation of ``masks @ scores`` (summed attributions of the kept words) with
    the actual scores of the masked inputs.

    NaN when fewer than 3 finite pairs remain or either side is constant (no ranking to compare).
    """
    a = np.asarray(scores, dtype=float).ravel()
    m = np.asarray(masks, dtype=bool)
    if m.ndim != 2 or m.shape[1] != a.size:
        raise ValueError(f"masks must be (n_masks, {a.size}), got {m.shape}")
    actual = np.asarray(actual_scores, dtype=float).ravel()
    if actual.size != m.shape[0]:
        raise ValueError(f"expected {m.shape[0]} actual scores, got {actual.size}")
    predicted = m.astype(float) @ np.where(np.isfinite(a), a, 0.0)
    keep = np.isfinite(predicted) & np.isfinite(actual)
    predicted, actual = predicted[keep], actual[keep]
    if predicted.size < 3 or np.ptp(predicted) == 0 or np.ptp(actual) == 0:
        return np.nan
    return float(stats.spearmanr(predicted, actual).statistic)


def random_attribution_lds(
    masks, actual_scores, n_words: int, n_random: int = DEFAULT_N_RANDOM, seed: int | None = 0
) -> float:
    """Mean LDS of ``n_random`` random attributions (seeded i.i.d. standard normal vectors).

    The chance level of :func:`linear_datamodeling_score` on the same masks and scores (0 in
    expectation); NaN when every draw gives NaN or ``n_random`` is 0.
    """
    if n_random <= 0:
        return np.nan
    rng = np.random.default_rng(seed)
    values = np.array(
        [linear_datamodeling_score(rng.standard_normal(n_words), masks, actual_scores) for _ in range(n_random)]
    )
    return float(np.nanmean(values)) if np.isfinite(values).any() else np.nan


def _with_variant_columns(table: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Derive strategy / model_size from ``variant`` (``<strategy>.<size>``) when missing."""
    missing = [c for c in by if c not in table.columns]
    if missing and "variant" in table.columns and set(missing) <= {"strategy", "model_size"}:
        split = table["variant"].astype(str).str.split(".", n=1, expand=True)
        table = table.assign(strategy=split[0], model_size=split[1] if split.shape[1] > 1 else "")
    missing = [c for c in by if c not in table.columns]
    if missing:
        raise ValueError(f"LDS table lacks the grouping columns {missing}")
    return table


def lds_summary(
    table: pd.DataFrame, by: Sequence[str] = ("strategy", "model_size"), n_resamples: int = 2000, seed: int | None = 0
) -> pd.DataFrame:
    """Per variant: mean LDS and random-baseline LDS over clauses with clause-bootstrap 95% CIs,
    the paired difference (bootstrap over clauses) and a paired Wilcoxon signed-rank test of
    LDS vs random (unit: clause; n = clauses with both values finite).

    ``table``: one row per (variant, clause) with ``lds`` and ``lds_random`` (the
    ``lds_scores`` output); ``strategy`` / ``model_size`` are derived from ``variant`` if absent.
    """
    by = list(by)
    columns = [
        *by,
        "n_clauses",
        "lds_mean",
        "lds_ci_low",
        "lds_ci_high",
        "random_mean",
        "random_ci_low",
        "random_ci_high",
        "difference_mean",
        "difference_ci_low",
        "difference_ci_high",
        "wilcoxon_statistic",
        "p_value",
        "effect_size",
        "effect_size_name",
        "note",
    ]
    if table.empty:
        return pd.DataFrame(columns=columns)
    table = _with_variant_columns(table, by)
    rows = []
    for key, group in table.groupby(by, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        lds = group["lds"].to_numpy(dtype=float)
        rnd = group["lds_random"].to_numpy(dtype=float)
        paired = np.isfinite(lds) & np.isfinite(rnd)
        test = wilcoxon_signed_rank(lds[paired], rnd[paired])
        diff = bootstrap_paired_difference_ci(lds[paired], rnd[paired], n_resamples=n_resamples, seed=seed)
        rows.append(
            {
                **dict(zip(by, key)),
                "n_clauses": int(paired.sum()),
                **dict(zip(("lds_mean", "lds_ci_low", "lds_ci_high"), bootstrap_mean_ci(lds, n_resamples, seed=seed))),
                **dict(
                    zip(
                        ("random_mean", "random_ci_low", "random_ci_high"),
                        bootstrap_mean_ci(rnd, n_resamples, seed=seed),
                    )
                ),
                **dict(zip(("difference_mean", "difference_ci_low", "difference_ci_high"), diff)),
                "wilcoxon_statistic": test["statistic"],
                "p_value": test["p_value"],
                "effect_size": test["effect_size"],
                "effect_size_name": test["effect_size_name"],
                "note": test["note"],
            }
        )
    return pd.DataFrame(rows, columns=columns)
