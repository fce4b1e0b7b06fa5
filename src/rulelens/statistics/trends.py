"""How attribution and rule quality change with model scale (docs/statistics.md).

Unit of replication: the model size. A trend over sizes is evidence about sizes, so every size
counts once, however many strategies or clauses it holds; clauses only make each size's mean
more precise. :func:`size_trend` therefore averages to one mean per size (over clauses, then over
strategies for the pooled row), fits an OLS slope on ln(n_params), tests it with the t-test on
n_sizes - 2 df, and takes the slope's uncertainty from sampling the clauses with a clause-blocked
bootstrap (the same resampled clause ids for every size and variant, because every variant
attributed the same clauses). With fewer than four sizes it reports the direction only.

The plateau of rule quality over sizes is fitted in :mod:`rulelens.statistics.plateau_fit`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from rulelens.statistics._frames import require
from rulelens.statistics.power import mde_slope, minimum_detectable_effect

MIN_TREND_SIZES = 4  # the slope t-test has n_sizes - 2 df; with 3 sizes one df is all there is


# ---------------------------------------------------------------------------------------------
# Size trends: the size as the unit, clause-blocked bootstrap
# ---------------------------------------------------------------------------------------------
SIZE_TREND_COLUMNS = [
    "n_sizes",
    "n_clauses",
    "slope",
    "slope_ci_low",
    "slope_ci_high",
    "r_sizes",
    "rho_sizes",
    "p_value",
    "testable",
    "significant",
    "direction",
    "mde_slope",
    "mde_r",
    "note",
]


def _clause_matrix(frame: pd.DataFrame, value_col: str, variant_cols: list[str], clause_col: str | None):
    """(clause x variant values with NaN where missing, ln n_params of each variant column).

    Without a clause column every variant becomes one pseudo-clause holding its mean.
    """
    data = frame[[*variant_cols, value_col, *([clause_col] if clause_col else [])]]
    data = data[np.isfinite(data[value_col].to_numpy(dtype=float))]
    if clause_col is None:
        clause_col = "__clause__"
        data = data.assign(**{clause_col: 0})
    wide = data.pivot_table(index=clause_col, columns=variant_cols, values=value_col, aggfunc="mean", observed=True)
    n_params = np.asarray(wide.columns.get_level_values(variant_cols[-1]), dtype=float)
    return wide.to_numpy(dtype=float), np.log(n_params)


def _size_means(values: np.ndarray, ln_params: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-size means for each row of clause ``weights`` (R x C): clause-weighted variant means, then averaged per size.

    Returns (sizes' ln n_params, R x n_sizes means); a size with no resampled clause is NaN.
    """
    present = np.isfinite(values)
    filled = np.where(present, values, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        variant_means = (weights @ filled) / (weights @ present)
    sizes, size_of = np.unique(ln_params, return_inverse=True)
    indicator = np.zeros((ln_params.size, sizes.size))
    indicator[np.arange(ln_params.size), size_of] = 1.0
    finite = np.isfinite(variant_means)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (np.where(finite, variant_means, 0.0) @ indicator) / (finite @ indicator)
    return sizes, means


def _ols_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """OLS slope of each row of y on x (NaN for a row with a NaN)."""
    xc = x - x.mean()
    return (y - y.mean(axis=-1, keepdims=True)) @ xc / float(xc @ xc)


def clause_bootstrap_weights(n_clauses: int, n_resamples: int, seed) -> np.ndarray:
    """R x C counts of each clause in R resamples of the clauses with replacement (same for every variant)."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_clauses, np.full(n_clauses, 1.0 / n_clauses), size=n_resamples).astype(float)


def size_trend(
    table: pd.DataFrame,
    metric: str,
    *,
    clause_col: str | None = "clause_id",
    size_col: str = "model_size",
    n_params_col: str = "n_params",
    strategy_col: str = "strategy",
    strategy=None,
    n_resamples: int = 2000,
    seed: int | None = 0,
    min_sizes: int = MIN_TREND_SIZES,
    alpha: float = 0.05,
    confidence: float = 0.95,
    power: float = 0.8,
) -> dict:
    """Trend of ``metric`` over model sizes with the size as the unit: slope per ln(n_params), t-test, clause bootstrap.

    ``table``: clause rows (or variant rows without ``clause_col``) of one or more strategies;
    ``strategy`` picks one (None / "all": pool, each size still counting once). Returns a dict
    with the fields of SIZE_TREND_COLUMNS: slope of the size means on ln(n_params) (OLS) with a
    clause-bootstrap percentile CI, Pearson r and Spearman rho of the size means, the slope
    t-test p (n_sizes - 2 df; NaN when n_sizes < ``min_sizes``), ``significant`` (testable, p <
    alpha and the CI excludes 0), ``direction`` (sign of the slope), and the minimum detectable
    slope / r of the t-test at this n (``mde_slope`` uses the size means' residual scatter).
    """
    require(table, [size_col, n_params_col, metric], "size_trend")
    if clause_col is not None and clause_col not in table.columns:
        clause_col = None
    frame = table
    if strategy is not None and strategy != "all":
        frame = table[table[strategy_col] == strategy]
    frame = frame[np.asarray(frame[n_params_col], dtype=float) > 0]
    variant_cols = [c for c in (strategy_col,) if c in frame.columns] + [n_params_col]
    out = dict(
        n_sizes=0,
        n_clauses=0,
        slope=np.nan,
        slope_ci_low=np.nan,
        slope_ci_high=np.nan,
        r_sizes=np.nan,
        rho_sizes=np.nan,
        p_value=np.nan,
        testable=False,
        significant=False,
        direction=np.nan,
        mde_slope=np.nan,
        mde_r=np.nan,
        note="",
    )
    values, ln_params = (
        _clause_matrix(frame, metric, variant_cols, clause_col) if len(frame) else (np.empty((0, 0)), np.empty(0))
    )
    n_clauses = int(values.shape[0]) if clause_col else 0
    x, means = _size_means(values, ln_params, np.ones((1, values.shape[0])))
    means = means[0]
    keep = np.isfinite(means)
    x, y = x[keep], means[keep]
    n_sizes = int(x.size)
    out.update(n_sizes=n_sizes, n_clauses=n_clauses)
    if n_sizes < 2:
        return {**out, "note": f"needs >= 2 sizes with values, got {n_sizes}"}
    slope = float(_ols_slopes(x, y))
    out.update(slope=slope, direction=float(np.sign(slope)))
    notes = []
    if n_sizes >= 3:
        constant = bool(np.all(y == y[0]))
        fit = None if constant else stats.linregress(x, y)
        out["r_sizes"] = 0.0 if constant else float(fit.rvalue)
        out["rho_sizes"] = np.nan if constant else float(stats.spearmanr(x, y).statistic)
        residual_sd = float(np.sqrt(((y - y.mean() - slope * (x - x.mean())) ** 2).sum() / (n_sizes - 2)))
        out["mde_slope"] = mde_slope(n_sizes, x, residual_sd, alpha=alpha, power=power)
        out["mde_r"] = minimum_detectable_effect(n_sizes, alpha=alpha, power=power, test="slope_t")["mde"]
        if n_sizes >= min_sizes:
            out.update(testable=True, p_value=1.0 if constant else float(fit.pvalue))
    if not out["testable"]:
        notes.append(f"fewer than {min_sizes} sizes: direction only, not testable for significance")
    if clause_col is not None and n_clauses >= 2 and n_resamples > 0:
        weights = clause_bootstrap_weights(n_clauses, n_resamples, seed)
        _, boot_means = _size_means(values, ln_params, weights)
        slopes = _ols_slopes(x, boot_means[:, keep])
        if np.isfinite(slopes).any():
            tail = (1 - confidence) / 2
            low, high = np.nanquantile(slopes, [tail, 1 - tail])
            out.update(slope_ci_low=float(low), slope_ci_high=float(high))
    else:
        notes.append("no per-clause rows: no clause bootstrap CI, so never called significant")
    excludes_zero = out["slope_ci_low"] > 0 or out["slope_ci_high"] < 0
    out["significant"] = bool(out["testable"] and out["p_value"] < alpha and excludes_zero)
    return {**out, "note": "; ".join(notes)}


def size_trends(
    table: pd.DataFrame,
    metrics: Sequence[str],
    by: Sequence[str] = (),
    *,
    clause_col: str | None = "clause_id",
    strategy_col: str = "strategy",
    size_col: str = "model_size",
    n_params_col: str = "n_params",
    n_resamples: int = 2000,
    seed: int | None = 0,
    min_sizes: int = MIN_TREND_SIZES,
    alpha: float = 0.05,
    confidence: float = 0.95,
    power: float = 0.8,
) -> pd.DataFrame:
    """:func:`size_trend` of each metric per strategy and pooled ("all"), per ``by`` group.

    Output: ``strategy, *by, metric`` and SIZE_TREND_COLUMNS, one row per (strategy, *by, metric).
    Every row uses the same seed, so one replicate resamples the same clauses everywhere.
    """
    by = list(by)
    require(table, [strategy_col, size_col, n_params_col, *by, *metrics], "size_trends")
    options = dict(
        clause_col=clause_col,
        size_col=size_col,
        n_params_col=n_params_col,
        strategy_col=strategy_col,
        n_resamples=n_resamples,
        seed=seed,
        min_sizes=min_sizes,
        alpha=alpha,
        confidence=confidence,
        power=power,
    )
    rows = []
    for strategy in [*sorted(table[strategy_col].unique(), key=str), "all"]:
        part = table if strategy == "all" else table[table[strategy_col] == strategy]
        groups = part.groupby(by, dropna=False, sort=True) if by else [((), part)]
        for key, block in groups:
            key = key if isinstance(key, tuple) else (key,)
            for metric in metrics:
                res = size_trend(block, metric, **options)
                rows.append({"strategy": strategy, **dict(zip(by, key)), "metric": metric, **res})
    return pd.DataFrame(rows, columns=["strategy", *by, "metric", *SIZE_TREND_COLUMNS])


def category_size_trends(clause_categories: pd.DataFrame, metric: str = "mass_share", **options) -> pd.DataFrame:
    """:func:`size_trends` of each category's ``metric`` (default mass share); input: clause_category_shares output."""
    return size_trends(clause_categories, [metric], by=["category"], **options)
