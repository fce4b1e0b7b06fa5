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
the attributions capture that.

The chance level is not 0. Each mask keeps a Binomial(N, keep_prob) number of words, and
leave-one-out attributions are mostly positive (removing a word lowers log p(rule)), so
``mask @ a`` grows with the number of kept words, and so does the actual score: any vector of
mostly positive values correlates with the scores through the kept count alone, whatever words
it puts them on. On a simulated additive model (docs/statistics.md, section 10) the true
effects score an LDS of 0.97, a constant attribution 0.85 and the true effects on the wrong
words 0.75, while i.i.d. standard normal vectors (the earlier baseline) score 0, so a test
against those passes attributions with no word information. The chance level is therefore the same
attribution vector permuted over the clause's words (same values, wrong words;
:func:`permuted_attribution_lds`): it keeps the kept-count part of the LDS and removes only
the word information, which is what the check is about.

:func:`lds_summary` compares the LDS with its permutation baseline per variant with the clause
as the unit of replication (n = clauses), by a paired t-test on the per-clause differences
(:func:`lds_verdict_test`). Under the null (the attribution is a permutation of the true
effects) the attribution's LDS is exchangeable with its permutations, so the difference has
mean exactly 0, but it is skewed (the LDS is bounded above): a Wilcoxon signed-rank or sign
test tests the (pseudo-)median, which is not 0, and its false-pass rate grows with the number
of clauses; the t-test on the mean stays at or below alpha (docs/statistics.md, section 10).

Pure numpy / scipy / pandas.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from rulelens.statistics.bootstrap import bootstrap_mean_ci, bootstrap_paired_difference_ci
from rulelens.statistics.power import standardized_effect

DEFAULT_N_MASKS = 32
DEFAULT_KEEP_PROB = 0.5
DEFAULT_N_PERMUTATIONS = 100
LDS_COLUMNS = ("variant", "clause_id", "n_words", "n_masks", "keep_prob", "lds", "lds_permuted", "full_score")
LDS_TEST = "t_test_paired"


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


_CHUNK = 2_000_000  # (attribution, mask, word) products held in memory at once


def _lds_of_rows(attributions: np.ndarray, masks: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """The LDS of every row of ``attributions`` (finite values) on ``masks`` and finite ``actual``.

    Spearman = Pearson correlation of the average ranks (as ``scipy.stats.spearmanr``). Every
    row is computed with the same operations in the same order, independent of how many rows
    there are, so a row equal to another (a permutation that changes nothing, e.g. of a
    constant attribution) gets exactly the same LDS, and the difference to the baseline is 0,
    not floating-point noise.
    """
    n_rows = attributions.shape[0]
    out = np.full(n_rows, np.nan)
    if masks.shape[0] < 3 or np.ptp(actual) == 0:
        return out
    keep = masks.astype(float)
    predicted = np.empty((n_rows, keep.shape[0]))
    step = max(1, _CHUNK // max(keep.size, 1))
    for start in range(0, n_rows, step):
        block = attributions[start : start + step]
        predicted[start : start + step] = (block[:, None, :] * keep[None, :, :]).sum(axis=2)
    varies = np.ptp(predicted, axis=1) > 0
    if not varies.any():
        return out
    rp = stats.rankdata(predicted[varies], axis=1)
    rp = rp - rp.mean(axis=1, keepdims=True)
    ra = stats.rankdata(actual)
    ra = ra - ra.mean()
    r = (rp * ra).sum(axis=1) / np.sqrt((rp * rp).sum(axis=1) * (ra * ra).sum())
    out[varies] = np.clip(r, -1.0, 1.0)
    return out


def _checked(scores, masks, actual_scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Attributions (non-finite -> 0), masks and actual scores, restricted to the finite actual scores."""
    a = np.asarray(scores, dtype=float).ravel()
    m = np.asarray(masks, dtype=bool)
    if m.ndim != 2 or m.shape[1] != a.size:
        raise ValueError(f"masks must be (n_masks, {a.size}), got {m.shape}")
    actual = np.asarray(actual_scores, dtype=float).ravel()
    if actual.size != m.shape[0]:
        raise ValueError(f"expected {m.shape[0]} actual scores, got {actual.size}")
    keep = np.isfinite(actual)
    return np.where(np.isfinite(a), a, 0.0), m[keep], actual[keep]


def linear_datamodeling_score(scores, masks, actual_scores) -> float:
    """Spearman correlation of ``masks @ scores`` (summed attributions of the kept words) with
    the actual scores of the masked inputs.

    Non-finite attributions count as 0; masks whose actual score is not finite are dropped. NaN
    when fewer than 3 masks remain or either side is constant (no ranking to compare).
    """
    a, m, actual = _checked(scores, masks, actual_scores)
    return float(_lds_of_rows(a[None, :], m, actual)[0])


def permuted_attribution_lds(
    scores, masks, actual_scores, n_permutations: int = DEFAULT_N_PERMUTATIONS, seed: int | None = 0
) -> float:
    """Chance level of :func:`linear_datamodeling_score`: the mean LDS of the same attribution
    vector permuted over the clause's words (same values, wrong words), on the same masks and
    actual scores.

    ``n_permutations`` seeded permutations (``numpy.random.default_rng(seed)``); when the clause
    has at most that many orderings (N! <= ``n_permutations``), every ordering once instead, which
    is the exact permutation mean. Non-finite attributions count as 0 (as in the LDS itself) and
    masks whose actual score is not finite are dropped. NaN when ``n_permutations`` is 0 or every
    permutation's LDS is NaN (e.g. a constant attribution on constant scores). A constant
    attribution gives exactly its own LDS: permuting it changes nothing, which is the point.
    """
    a, m, actual = _checked(scores, masks, actual_scores)
    if n_permutations < 0:
        raise ValueError(f"n_permutations must be >= 0, got {n_permutations}")
    if n_permutations == 0 or a.size == 0:
        return np.nan
    if a.size <= 12 and math.factorial(a.size) <= n_permutations:
        permuted = a[np.array(list(itertools.permutations(range(a.size))), dtype=int)]
    else:
        permuted = np.random.default_rng(seed).permuted(np.tile(a, (n_permutations, 1)), axis=1)
    values = _lds_of_rows(permuted, m, actual)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return np.nan
    # all equal (e.g. a constant attribution): that value itself, not a mean that rounds differently
    return float(values[0]) if np.ptp(values) == 0 else float(values.mean())


def lds_verdict_test(lds, lds_permuted, alpha: float = 0.05) -> dict:
    """Paired t-test of per-clause LDS against its permutation baseline (unit: clause; n = clauses).

    ``lds`` and ``lds_permuted`` are aligned per clause (one pair per clause; pairs with a NaN are
    dropped). Two-sided one-sample t-test (``scipy.stats.ttest_1samp``) of the differences
    ``lds - lds_permuted`` against 0; effect size d_z = mean / sd of the differences. ``passed``:
    p < ``alpha`` and the mean difference > 0 (the attributions beat their own values on the
    wrong words).

    Why a t-test (docs/statistics.md, section 10): under the null (no word information) the LDS is
    exchangeable with the LDS of its permutations, so the differences have mean 0 exactly, but
    they are skewed, so their median is not 0; rank and sign tests then reject the null more often
    than alpha, the more clauses there are.

    Returns ``{n, test, statistic, p_value, effect_size, effect_size_name, mean_difference, passed,
    note}``.
    """
    a = np.asarray(lds, dtype=float).ravel()
    b = np.asarray(lds_permuted, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired inputs differ in length: {a.size} vs {b.size}")
    d = (a - b)[np.isfinite(a) & np.isfinite(b)]
    n = int(d.size)
    result = dict(
        n=n,
        test=LDS_TEST,
        statistic=np.nan,
        p_value=np.nan,
        effect_size=np.nan,
        effect_size_name="d_z",
        mean_difference=float(d.mean()) if n else np.nan,
        passed=False,
        note="",
    )
    if n < 2:
        return {**result, "note": f"{n} clause(s) with both values: a t-test needs at least 2"}
    if np.all(d == 0):
        return {**result, "statistic": 0.0, "p_value": 1.0, "effect_size": 0.0, "note": "all differences zero"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.ttest_1samp(d, 0.0, alternative="two-sided")
    p = float(res.pvalue)
    return {
        **result,
        "statistic": float(res.statistic),
        "p_value": p,
        "effect_size": standardized_effect(a, b, paired=True),
        "passed": bool(np.isfinite(p) and p < alpha and d.mean() > 0),
    }


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


LDS_SUMMARY_STATISTICS = (
    "unit",
    "n_clauses",
    "lds_mean",
    "lds_ci_low",
    "lds_ci_high",
    "permuted_mean",
    "permuted_ci_low",
    "permuted_ci_high",
    "difference_mean",
    "difference_ci_low",
    "difference_ci_high",
    "test",
    "t_statistic",
    "p_value",
    "effect_size",
    "effect_size_name",
    "note",
)


def lds_summary(
    table: pd.DataFrame, by: Sequence[str] = ("strategy", "model_size"), n_resamples: int = 2000, seed: int | None = 0
) -> pd.DataFrame:
    """Per variant: the LDS against its permutation baseline over clauses (unit: clause; n = clauses).

    Mean LDS and mean permutation-baseline LDS with clause-bootstrap 95% CIs, the paired
    difference ``lds - lds_permuted`` (bootstrap over clauses), and :func:`lds_verdict_test`: a
    two-sided paired t-test of the differences (``t_statistic``, ``p_value``) with d_z as the
    effect size. ``unit`` is "clause" and ``n_clauses`` the clauses with both values finite.

    ``table``: one row per (variant, clause) with ``lds`` and ``lds_permuted`` (the
    ``lds_scores`` output); ``strategy`` / ``model_size`` are derived from ``variant`` if absent.
    Columns: ``by`` then :data:`LDS_SUMMARY_STATISTICS`.
    """
    by = list(by)
    columns = [*by, *LDS_SUMMARY_STATISTICS]
    if table.empty:
        return pd.DataFrame(columns=columns)
    table = _with_variant_columns(table, by)
    rows = []
    for key, group in table.groupby(by, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        lds = group["lds"].to_numpy(dtype=float)
        permuted = group["lds_permuted"].to_numpy(dtype=float)
        paired = np.isfinite(lds) & np.isfinite(permuted)
        test = lds_verdict_test(lds[paired], permuted[paired])
        diff = bootstrap_paired_difference_ci(lds[paired], permuted[paired], n_resamples=n_resamples, seed=seed)
        rows.append(
            {
                **dict(zip(by, key)),
                "unit": "clause",
                "n_clauses": int(paired.sum()),
                **dict(zip(("lds_mean", "lds_ci_low", "lds_ci_high"), bootstrap_mean_ci(lds, n_resamples, seed=seed))),
                **dict(
                    zip(
                        ("permuted_mean", "permuted_ci_low", "permuted_ci_high"),
                        bootstrap_mean_ci(permuted, n_resamples, seed=seed),
                    )
                ),
                **dict(zip(("difference_mean", "difference_ci_low", "difference_ci_high"), diff)),
                "test": test["test"],
                "t_statistic": test["statistic"],
                "p_value": test["p_value"],
                "effect_size": test["effect_size"],
                "effect_size_name": test["effect_size_name"],
                "note": test["note"],
            }
        )
    return pd.DataFrame(rows, columns=columns)
