"""Are fine-tuning strategies different? Tests across clauses, per model size (docs/statistics.md).

Design: within one size, every strategy attributed the same test clauses, so a clause is a block
and the strategies are repeated measures on it. Paired (blocked) tests remove the large
clause-to-clause variation (a long clause is less focused under every strategy):

1. Omnibus: Friedman test across the k strategies (Friedman 1937), effect size Kendall's
   W = chi2_F / (n (k - 1)) (Kendall & Babington Smith 1939), 0 = no agreement on which
   strategy ranks higher, 1 = every clause ranks the strategies the same way.
2. Post hoc: Wilcoxon signed-rank test for every pair (Wilcoxon 1945), Holm-adjusted within the
   family of pairs (Holm 1979), effect size the matched-pairs rank-biserial correlation
   (Kerby 2014), with a bootstrap CI of the mean paired difference.

Where the strategies were evaluated on different clauses (unpaired), the same shape with
Kruskal-Wallis (epsilon-squared, Tomczak & Tomczak 2014) and Mann-Whitney U (rank-biserial
r = 2U / (n_a n_b) - 1, Wendt 1972) is used instead.

Every pair row also says ``direction`` (the sign of its rank-biserial r, so that direction and p
come from the same statistic), the observed standardized effect ``effect_d`` and the minimum
detectable effect ``mde`` of its test (:mod:`rulelens.statistics.power`).

Degenerate inputs give a row with a ``note`` instead of an exception: no variation at all gives
statistic 0, p = 1 and effect 0 (there is no evidence of a difference and no difference).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

from rulelens.statistics._frames import CLAUSE, require
from rulelens.statistics.bootstrap import bootstrap_difference_ci, bootstrap_paired_difference_ci
from rulelens.statistics.power import minimum_detectable_effect, standardized_effect

RESULT_COLUMNS = [
    "comparison",
    "size",
    "metric",
    "group_a",
    "group_b",
    "n",
    "test",
    "statistic",
    "p_value",
    "p_adjusted",
    "effect_size",
    "effect_size_name",
    "direction",
    "mean_difference",
    "ci_low",
    "ci_high",
    "effect_d",
    "mde",
    "mde_name",
    "note",
]


# ---------------------------------------------------------------------------------------------
# Scalar building blocks
# ---------------------------------------------------------------------------------------------
def holm_adjust(p_values) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values, in the input order.

    With the m finite p-values sorted ascending, p_(1) <= ... <= p_(m):
    adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j)). NaNs stay NaN and do not count in m.
    Rejecting where adj <= alpha controls the family-wise error rate at alpha.

    Written out rather than calling statsmodels' ``multipletests(method="holm")``, which runs
    ``gc.collect()`` on every call (about 70 ms in a process holding torch; the study adjusts
    hundreds of families); a test keeps the two equal on random families with ties and NaNs.
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = finite.size
    if m == 0:
        return out
    order = finite[np.argsort(p[finite], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def kendalls_w(chi2: float, n: int, k: int) -> float:
    """Kendall's coefficient of concordance from the Friedman statistic: W = chi2 / (n (k - 1))."""
    if n < 1 or k < 2 or not np.isfinite(chi2):
        return np.nan
    return float(chi2 / (n * (k - 1)))


def rank_biserial_paired(a, b) -> float:
    """Matched-pairs rank-biserial correlation of a - b (Kerby 2014, simple difference formula).

    r = (R+ - R-) / (R+ + R-), with R+ / R- the sums of the ranks of |d| over positive / negative
    differences, zeros dropped (as in the Wilcoxon test). 1 = every difference positive,
    -1 = every one negative; 0 when all differences are zero.
    """
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    d = d[np.isfinite(d) & (d != 0)]
    if d.size == 0:
        return 0.0
    ranks = stats.rankdata(np.abs(d))
    total = ranks.sum()
    return float((ranks[d > 0].sum() - ranks[d < 0].sum()) / total)


def rank_biserial_unpaired(a, b) -> float:
    """Rank-biserial correlation of two independent samples: r = 2 U_a / (n_a n_b) - 1 (Wendt 1972).

    U_a counts pairs with a > b (ties half), so r = P(a > b) - P(a < b); 1 = every a above every b.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        return np.nan
    greater = (a[:, None] > b[None, :]).sum()
    less = (a[:, None] < b[None, :]).sum()
    return float((greater - less) / (a.size * b.size))


def epsilon_squared(h: float, n: int) -> float:
    """Kruskal-Wallis effect size eps^2 = H / ((n^2 - 1) / (n + 1)) = H / (n - 1), in [0, 1]."""
    if n < 2 or not np.isfinite(h):
        return np.nan
    return float(h / (n - 1))


# ---------------------------------------------------------------------------------------------
# Tests with degenerate-case handling; each returns a dict of result fields
# ---------------------------------------------------------------------------------------------
def _result(n, test, statistic, p, effect, effect_name, note=""):
    return dict(
        n=int(n), test=test, statistic=statistic, p_value=p, effect_size=effect, effect_size_name=effect_name, note=note
    )


def effect_direction(effect_size: float) -> float:
    """+1 / -1 / 0: the sign of the test's own effect size (NaN when undefined).

    A verdict's direction must come from the statistic that was tested: the sign of a mean
    difference can disagree with a rank test (one outlier moves the mean, not the ranks).
    """
    return float(np.sign(effect_size)) if np.isfinite(effect_size) else np.nan


def _with_power(row: dict, test: str, n_comparisons: int, effect_d: float, n_b: int | None = None) -> dict:
    """Add direction, the observed standardized effect and the family's minimum detectable effect to a pair row."""
    n = row["n"] if n_b is None else row["n"] - n_b
    mde = minimum_detectable_effect(n, test=test, n_comparisons=n_comparisons, n_b=n_b)
    note = row["note"]
    if np.isnan(mde["mde"]):
        note = "; ".join(filter(None, [note, mde["note"]]))
    return {
        **row,
        "direction": effect_direction(row["effect_size"]),
        "effect_d": effect_d,
        "mde": mde["mde"],
        "mde_name": mde["mde_name"],
        "note": note,
    }


def friedman(matrix) -> dict:
    """Friedman test over an (n clauses x k groups) matrix of complete rows, with Kendall's W."""
    x = np.asarray(matrix, dtype=float)
    n, k = x.shape if x.ndim == 2 else (0, 0)
    if k < 3:
        return _result(
            n,
            "friedman",
            np.nan,
            np.nan,
            np.nan,
            "kendalls_w",
            f"Friedman needs >= 3 groups (got {k}); see the pairwise tests",
        )
    if n < 2:
        return _result(n, "friedman", np.nan, np.nan, np.nan, "kendalls_w", f"too few complete clauses ({n})")
    if np.all(x == x[:, :1]):
        return _result(n, "friedman", 0.0, 1.0, 0.0, "kendalls_w", "no clause differs between groups")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.friedmanchisquare(*x.T)
    chi2 = float(res.statistic)
    return _result(n, "friedman", chi2, float(res.pvalue), kendalls_w(chi2, n, k), "kendalls_w")


def wilcoxon_signed_rank(a, b) -> dict:
    """Two-sided Wilcoxon signed-rank test of paired a, b (zeros dropped), with rank-biserial r."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    n = a.size
    if n == 0:
        return _result(0, "wilcoxon", np.nan, np.nan, np.nan, "rank_biserial", "no complete pairs")
    d = a - b
    if np.all(d == 0):
        return _result(n, "wilcoxon", 0.0, 1.0, 0.0, "rank_biserial", "all differences zero")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.wilcoxon(a, b, zero_method="wilcox", alternative="two-sided")
    note = "" if np.count_nonzero(d) >= 6 else "fewer than 6 non-zero differences: p cannot reach 0.05"
    return _result(
        n, "wilcoxon", float(res.statistic), float(res.pvalue), rank_biserial_paired(a, b), "rank_biserial", note
    )


def kruskal_wallis(samples: Sequence) -> dict:
    """Kruskal-Wallis H test across independent samples, with epsilon-squared."""
    clean = [np.asarray(s, dtype=float) for s in samples]
    clean = [s[np.isfinite(s)] for s in clean]
    clean = [s for s in clean if s.size]
    n = int(sum(s.size for s in clean))
    if len(clean) < 2:
        return _result(n, "kruskal_wallis", np.nan, np.nan, np.nan, "epsilon_squared", "fewer than 2 non-empty groups")
    pooled = np.concatenate(clean)
    if np.all(pooled == pooled[0]):
        return _result(n, "kruskal_wallis", 0.0, 1.0, 0.0, "epsilon_squared", "all values identical")
    res = stats.kruskal(*clean)
    h = float(res.statistic)
    return _result(n, "kruskal_wallis", h, float(res.pvalue), epsilon_squared(h, n), "epsilon_squared")


def mann_whitney(a, b) -> dict:
    """Two-sided Mann-Whitney U test of independent a, b, with rank-biserial r (positive: a larger)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    n = a.size + b.size
    if a.size == 0 or b.size == 0:
        return _result(n, "mann_whitney", np.nan, np.nan, np.nan, "rank_biserial", "an empty group")
    pooled = np.concatenate([a, b])
    if np.all(pooled == pooled[0]):
        return _result(n, "mann_whitney", float(a.size * b.size / 2), 1.0, 0.0, "rank_biserial", "all values identical")
    res = stats.mannwhitneyu(a, b, alternative="two-sided")
    return _result(
        n, "mann_whitney", float(res.statistic), float(res.pvalue), rank_biserial_unpaired(a, b), "rank_biserial"
    )


# ---------------------------------------------------------------------------------------------
# Families of tests over a table
# ---------------------------------------------------------------------------------------------
def paired_family(
    wide: pd.DataFrame, n_resamples: int = 2000, confidence: float = 0.95, seed: int | None = 0
) -> list[dict]:
    """Friedman + Holm-adjusted pairwise Wilcoxon over a (clauses x groups) table of complete rows."""
    groups = list(wide.columns)
    x = wide.to_numpy(dtype=float)
    rows = []
    omnibus = friedman(x)
    rows.append(dict(comparison=" vs ".join(map(str, groups)), group_a="", group_b="", **omnibus))
    pairs = []
    n_pairs = len(groups) * (len(groups) - 1) // 2
    for i, (ga, gb) in enumerate(combinations(range(len(groups)), 2)):
        res = _with_power(
            wilcoxon_signed_rank(x[:, ga], x[:, gb]),
            "wilcoxon_paired",
            n_pairs,
            standardized_effect(x[:, ga], x[:, gb], paired=True),
        )
        sub_seed = None if seed is None else [seed, i]
        diff, low, high = bootstrap_paired_difference_ci(x[:, ga], x[:, gb], n_resamples, confidence, sub_seed)
        pairs.append(
            dict(
                comparison=f"{groups[ga]} vs {groups[gb]}",
                group_a=groups[ga],
                group_b=groups[gb],
                mean_difference=diff,
                ci_low=low,
                ci_high=high,
                **res,
            )
        )
    for row, adj in zip(pairs, holm_adjust([r["p_value"] for r in pairs])):
        row["p_adjusted"] = adj
    return rows + pairs


def unpaired_family(
    samples: dict, n_resamples: int = 2000, confidence: float = 0.95, seed: int | None = 0
) -> list[dict]:
    """Kruskal-Wallis + Holm-adjusted pairwise Mann-Whitney over independent samples per group."""
    groups = list(samples)
    rows = [
        dict(
            comparison=" vs ".join(map(str, groups)),
            group_a="",
            group_b="",
            **kruskal_wallis([samples[g] for g in groups]),
        )
    ]
    pairs = []
    n_pairs = len(groups) * (len(groups) - 1) // 2
    for i, (ga, gb) in enumerate(combinations(groups, 2)):
        n_b = int(np.isfinite(np.asarray(samples[gb], dtype=float)).sum())
        res = _with_power(
            mann_whitney(samples[ga], samples[gb]),
            "mann_whitney",
            n_pairs,
            standardized_effect(samples[ga], samples[gb], paired=False),
            n_b=n_b,
        )
        sub_seed = None if seed is None else [seed, i]
        diff, low, high = bootstrap_difference_ci(samples[ga], samples[gb], n_resamples, confidence, sub_seed)
        pairs.append(
            dict(
                comparison=f"{ga} vs {gb}",
                group_a=ga,
                group_b=gb,
                mean_difference=diff,
                ci_low=low,
                ci_high=high,
                **res,
            )
        )
    for row, adj in zip(pairs, holm_adjust([r["p_value"] for r in pairs])):
        row["p_adjusted"] = adj
    return rows + pairs


def compare_strategies(
    table: pd.DataFrame,
    metrics: Sequence[str],
    group_col: str = "strategy",
    within: str | None = "model_size",
    by: Sequence[str] = (),
    id_col: str = CLAUSE,
    paired: bool | str = "auto",
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Compare groups (strategies) on each metric, separately per ``within`` value (model size).

    ``table`` has one row per (group, within, *by, clause): e.g. :func:`clause_focus` output, the
    evaluation's per-clause quality table, or :func:`clause_category_shares` output with
    ``by=["category"]``. ``paired="auto"`` pairs when every group holds the same clause ids (the
    study design); rows with a NaN metric then drop out of that metric's complete cases.
    ``paired=True`` forces blocking on the clauses shared by all groups; ``False`` forces the
    unpaired tests. Holm's correction runs over the pairwise tests of one (size, *by, metric).

    Output columns: RESULT_COLUMNS with ``by`` inserted after ``metric``; ``size`` holds the
    ``within`` value ("all" when ``within`` is None). Omnibus rows have empty group_a/group_b and
    NaN p_adjusted, direction, effect_d and mde. Pair rows carry ``direction`` (sign of the
    rank-biserial r: read it, not the sign of mean_difference, with the rank test's p),
    ``effect_d`` (observed d_z or Cohen's d) and ``mde``/``mde_name``, the effect on that scale
    the pair's test detects with 80% power at alpha 0.05 / number of pairs (Bonferroni bound
    for Holm; see :mod:`rulelens.statistics.power`).
    """
    by = list(by)
    require(table, [group_col, id_col, *metrics, *by, *([within] if within else [])], "compare_strategies")
    keys = [*([within] if within else []), *by]
    dup = table.duplicated([*keys, group_col, id_col])
    if dup.any():
        raise ValueError(
            f"{int(dup.sum())} duplicate ({', '.join([*keys, group_col, id_col])}) rows: filter the table "
            "(e.g. one target_mode/operator) or pass the extra column in `by`"
        )
    rows = []
    grouped = table.groupby(keys, dropna=False, sort=True) if keys else [((), table)]
    for f_index, (key, block) in enumerate(grouped):
        key = key if isinstance(key, tuple) else (key,)
        size = key[0] if within else "all"
        by_values = dict(zip(by, key[1:] if within else key))
        ids = {g: set(sub[id_col]) for g, sub in block.groupby(group_col, sort=True)}
        is_paired = paired if isinstance(paired, bool) else len({frozenset(s) for s in ids.values()}) == 1
        for m_index, metric in enumerate(metrics):
            sub_seed = None if seed is None else seed + 1000 * f_index + m_index
            if is_paired:
                wide = block.pivot(index=id_col, columns=group_col, values=metric).dropna()
                family = paired_family(wide, n_resamples, confidence, sub_seed)
            else:
                samples = {g: sub[metric].to_numpy(dtype=float) for g, sub in block.groupby(group_col, sort=True)}
                family = unpaired_family(samples, n_resamples, confidence, sub_seed)
            for row in family:
                rows.append({"size": size, "metric": metric, **by_values, **row})
    columns = RESULT_COLUMNS[:3] + by + RESULT_COLUMNS[3:]
    out = pd.DataFrame(rows, columns=columns)
    return out
