"""Strategy comparisons over training runs: the seed replicate as the unit (docs/statistics.md section 12).

With one training run per (strategy, size) the clause-level tests of
:mod:`rulelens.statistics.comparisons` compare *these checkpoints*: another seed (data order,
dropout masks, adapter initialisation) may give another answer. With several seed replicates the
question "does the strategy change the attributions?" has the training run as its unit:

1. Per run (strategy, size, seed) the mean of a metric over the clauses every run of that size
   saw. Averaging over the same clauses removes the clause-to-clause variation from every run
   alike, so what is left between runs of one strategy is training-run variation.
2. Omnibus: one-way ANOVA over the runs of all strategies (scipy ``f_oneway``), effect size
   eta-squared.
3. Pairs: Welch's t-test on the run means (scipy ``ttest_ind(equal_var=False)``; unequal
   run-to-run spread between strategies is expected: LoRA's adapters vary less than full
   weights, or more), Holm-adjusted over the pairs of one size (``holm_adjust``, as every family of the report),
   effect size Hedges' g (its sign is the direction: a minus b), the mean difference with the
   Welch 95% confidence interval.

Why run means and not a mixed model: with 2-5 seeds per strategy a variance component for the run
is barely estimable (statsmodels' ``MixedLM`` often ends on the boundary and its Wald test is then
anti-conservative); run means with Welch's t keep the nominal level at these n (tested by
simulation) and say plainly how many runs the verdict stands on. The price is power: 3 runs per
arm detect only large strategy effects relative to the run-to-run spread, which the report states.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

from rulelens.statistics._frames import CLAUSE, require
from rulelens.statistics.comparisons import holm_adjust

RUN_TEST = "welch_t over training runs"


def run_means(table: pd.DataFrame, metric: str, group_col: str = "strategy", seed_col: str = "seed") -> pd.Series:
    """Mean of ``metric`` per (group, seed) over the clauses that every run in ``table`` has (complete cases)."""
    run = table[group_col].astype(str) + "\x00" + table[seed_col].astype(str)
    known = table[table[metric].notna()]
    runs_per_clause = run[known.index].groupby(known[CLAUSE]).nunique()
    complete = runs_per_clause.index[runs_per_clause == run.nunique()]
    kept = known[known[CLAUSE].isin(complete)]
    return kept.groupby([group_col, seed_col])[metric].mean()


def hedges_g(a: np.ndarray, b: np.ndarray) -> float:
    """Standardized mean difference a - b with the pooled SD and the small-sample correction (NaN when undefined)."""
    n_a, n_b = a.size, b.size
    if n_a < 2 or n_b < 2:
        return np.nan
    pooled = np.sqrt(((n_a - 1) * a.var(ddof=1) + (n_b - 1) * b.var(ddof=1)) / (n_a + n_b - 2))
    if pooled == 0:
        return np.nan if a.mean() == b.mean() else float(np.sign(a.mean() - b.mean()) * np.inf)
    correction = 1 - 3 / (4 * (n_a + n_b) - 9)
    return float(correction * (a.mean() - b.mean()) / pooled)


def welch_pair(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> dict:
    """Welch's t-test of run means a vs b, with Hedges' g and the CI of the mean difference."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    row = dict(n=int(a.size + b.size), test=RUN_TEST, effect_size_name="hedges_g", note="")
    diff = float(a.mean() - b.mean()) if a.size and b.size else np.nan
    if a.size < 2 or b.size < 2:
        note = f"needs >= 2 training runs per strategy (have {a.size} and {b.size}): not testable"
        return {
            **row,
            "statistic": np.nan,
            "p_value": np.nan,
            "effect_size": np.nan,
            "mean_difference": diff,
            "ci_low": np.nan,
            "ci_high": np.nan,
            "note": note,
        }
    if np.ptp(np.concatenate([a, b])) == 0:
        return {
            **row,
            "statistic": 0.0,
            "p_value": 1.0,
            "effect_size": 0.0,
            "mean_difference": 0.0,
            "ci_low": 0.0,
            "ci_high": 0.0,
            "note": "all run means identical",
        }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one arm without spread: Welch still defined by the other
        result = stats.ttest_ind(a, b, equal_var=False)
        interval = result.confidence_interval(confidence)
    return {
        **row,
        "statistic": float(result.statistic),
        "p_value": float(result.pvalue),
        "effect_size": hedges_g(a, b),
        "mean_difference": diff,
        "ci_low": float(interval.low),
        "ci_high": float(interval.high),
    }


def run_family(samples: dict, confidence: float = 0.95) -> list[dict]:
    """One-way ANOVA over every strategy's run means, then Holm-adjusted Welch pairs."""
    groups = list(samples)
    arrays = [np.asarray(samples[g], dtype=float) for g in groups]
    omnibus = dict(
        comparison=" vs ".join(map(str, groups)),
        group_a="",
        group_b="",
        test="anova over training runs",
        effect_size_name="eta_squared",
        n=int(sum(a.size for a in arrays)),
        note="",
    )
    if len(arrays) >= 2 and all(a.size >= 2 for a in arrays) and np.ptp(np.concatenate(arrays)) > 0:
        f = stats.f_oneway(*arrays)
        pooled = np.concatenate(arrays)
        between = sum(a.size * (a.mean() - pooled.mean()) ** 2 for a in arrays)
        total = float(((pooled - pooled.mean()) ** 2).sum())
        omnibus.update(statistic=float(f.statistic), p_value=float(f.pvalue), effect_size=between / total)
    else:
        omnibus.update(statistic=np.nan, p_value=np.nan, effect_size=np.nan, note="needs >= 2 runs per strategy")
    pairs = []
    for ga, gb in combinations(groups, 2):
        res = welch_pair(samples[ga], samples[gb], confidence)
        direction = float(np.sign(res["mean_difference"])) if np.isfinite(res["p_value"]) else np.nan
        pairs.append(
            dict(
                comparison=f"{ga} vs {gb}",
                group_a=ga,
                group_b=gb,
                direction=direction,
                effect_d=res["effect_size"],
                mde=np.nan,
                mde_name="hedges_g",
                **res,
            )
        )
    for row, adjusted in zip(pairs, holm_adjust([row["p_value"] for row in pairs])):
        row["p_adjusted"] = float(adjusted)
    return [omnibus, *pairs]


def compare_strategies_over_runs(
    table: pd.DataFrame,
    metrics: Sequence[str],
    group_col: str = "strategy",
    within: str = "model_size",
    by: Sequence[str] = (),
    seed_col: str = "seed",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Like :func:`rulelens.statistics.comparisons.compare_strategies`, with the training run as the unit.

    ``table``: one row per (size, *by, strategy, seed, clause). Output: the same columns
    (RESULT_COLUMNS with ``by`` after ``metric``); ``n`` counts training runs.
    """
    from rulelens.statistics.comparisons import RESULT_COLUMNS

    by = list(by)
    require(table, [group_col, seed_col, within, CLAUSE, *metrics, *by], "compare_strategies_over_runs")
    rows = []
    for key, block in table.groupby([within, *by], dropna=False, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        by_values = dict(zip(by, key[1:]))
        for metric in metrics:
            means = run_means(block, metric, group_col, seed_col)
            samples = {g: means.xs(g, level=0).to_numpy() for g in sorted(means.index.get_level_values(0).unique())}
            for row in run_family(samples, confidence):
                rows.append({"size": key[0], "metric": metric, **by_values, **row})
    columns = RESULT_COLUMNS[:3] + by + RESULT_COLUMNS[3:]
    return pd.DataFrame(rows, columns=columns)


def has_seed_replicates(table: pd.DataFrame, group_col: str = "strategy", seed_col: str = "seed") -> bool:
    """True when some (strategy, size) was trained more than once (more than one seed replicate)."""
    if seed_col not in table.columns or table.empty:
        return False
    return bool(table.groupby([group_col, "model_size"])[seed_col].nunique().max() > 1)


def over_seeds(table: pd.DataFrame, metrics: Sequence[str], keys: Sequence[str]) -> pd.DataFrame:
    """One row per ``keys`` (e.g. strategy, size, n_params, clause): each metric's mean over seed replicates.

    The clause-level analyses then count a clause once per variant, whatever the number of seeds
    (a clause seen by three runs is still one clause); without a ``seed`` column the table is returned as is.
    """
    if "seed" not in table.columns:
        return table
    present = [k for k in keys if k in table.columns]
    return table.groupby(present, dropna=False, sort=True)[list(metrics)].mean().reset_index()
