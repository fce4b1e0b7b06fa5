"""How attribution and rule quality change with model scale (GUIDE 5.7).

Trends: Spearman's rho of a per-variant value (e.g. a category's mean mass share) against
log(n_params), per strategy and over all variants. Spearman is rank-based, so the log does not
change rho; it is kept in the definition because it is the scale on which sizes are read. With
<= 8 variants the p-value is exact (all orderings), since the t approximation fails there.

Plateau: does rule quality stop improving beyond some size? Two models on x = ln(n_params), fitted
to the per-size mean quality:

- saturating: q(x) = a - b exp(-c (x - x0)), c > 0, x0 = smallest ln n_params; a is the asymptote.
- hinge: q(x) = level + slope (min(x, h) - h), rising (or falling) until the hinge h, flat after.

The plateau size is the smallest *observed* size whose fitted quality lies within epsilon of the
asymptote (saturating: a; hinge: level), with epsilon = ``epsilon`` x (range of the per-size means)
by default or an absolute value. A plateau needs at least one observed size after its start (else
"not reached": nothing confirms that quality stays flat). Three parameters need at least three
sizes; with fewer the result says "not estimable" and why.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from itertools import permutations

import numpy as np
import pandas as pd
from scipy import optimize, stats

from rulelens.statistics._frames import require

MIN_SIZES = 3
EXACT_MAX_N = 8  # exact permutation p-values up to 8! = 40320 orderings


# ---------------------------------------------------------------------------------------------
# Spearman trends
# ---------------------------------------------------------------------------------------------
def scale_trend(n_params, values) -> dict:
    """Spearman's rho (and two-sided p) of ``values`` against ln(n_params); NaN with a note when undefined."""
    x = np.asarray(n_params, dtype=float)
    y = np.asarray(values, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0)
    x, y = np.log(x[keep]), y[keep]
    n, n_sizes = int(x.size), int(np.unique(x).size)
    base = dict(n=n, n_sizes=n_sizes, rho=np.nan, p_value=np.nan, note="")
    if n < 3 or n_sizes < 2:
        return {**base, "note": f"needs >= 3 values over >= 2 sizes (got {n} over {n_sizes})"}
    if np.all(y == y[0]):
        return {**base, "note": "values constant across sizes"}
    rho = float(stats.spearmanr(x, y).statistic)
    if not np.isfinite(rho):
        return {**base, "note": "rho undefined"}
    if n <= EXACT_MAX_N:
        return {**base, "rho": rho, "p_value": _exact_spearman_p(x, y, rho), "note": "exact permutation p"}
    if abs(rho) == 1.0 and n_sizes == n:  # the t approximation gives 0; exactly 2 of n! orderings are as extreme
        return {**base, "rho": rho, "p_value": 2.0 / float(np.prod(np.arange(1, n + 1, dtype=float)))}
    return {**base, "rho": rho, "p_value": float(stats.spearmanr(x, y).pvalue)}


def _exact_spearman_p(x, y, rho: float) -> float:
    """Two-sided permutation p of Spearman's rho over all n! orderings of y.

    With a handful of sizes the usual t approximation is badly off (it gives p = 0 for a perfect
    rank order of 3 points, where 2 of the 6 orderings are as extreme: p = 1/3).
    """
    rx = stats.rankdata(x)
    ry = stats.rankdata(y)
    rx_c = rx - rx.mean()
    denom = np.sqrt((rx_c**2).sum() * ((ry - ry.mean()) ** 2).sum())
    perms = np.array(list(permutations(ry)))
    rhos = (perms - ry.mean()) @ rx_c / denom
    return float(np.mean(np.abs(rhos) >= abs(rho) - 1e-12))


def scale_trends(
    table: pd.DataFrame,
    metrics: Sequence[str],
    by: Sequence[str] = (),
    strategy_col: str = "strategy",
    size_col: str = "model_size",
    n_params_col: str = "n_params",
) -> pd.DataFrame:
    """Spearman trend of each metric against ln(n_params), per strategy and over all strategies.

    ``table`` may hold clause rows or variant rows; it is first averaged to one value per
    (strategy, size, *by), so n counts variants, not clauses (sizes are the unit of replication).
    Output: ``strategy`` ("all" for the pooled row), ``*by, metric, n, n_sizes, rho, p_value, note``.
    """
    by = list(by)
    require(table, [strategy_col, size_col, n_params_col, *by, *metrics], "scale_trends")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        keys = [strategy_col, size_col, n_params_col, *by]
        per_variant = table.groupby(keys, dropna=False, sort=True)[list(metrics)].mean().reset_index()
    rows = []
    strategies = [*sorted(per_variant[strategy_col].unique(), key=str), "all"]
    for strategy in strategies:
        part = per_variant if strategy == "all" else per_variant[per_variant[strategy_col] == strategy]
        groups = part.groupby(by, dropna=False, sort=True) if by else [((), part)]
        for key, block in groups:
            key = key if isinstance(key, tuple) else (key,)
            for metric in metrics:
                res = scale_trend(block[n_params_col].to_numpy(dtype=float), block[metric].to_numpy(dtype=float))
                rows.append({"strategy": strategy, **dict(zip(by, key)), "metric": metric, **res})
    return pd.DataFrame(rows, columns=["strategy", *by, "metric", "n", "n_sizes", "rho", "p_value", "note"])


def category_scale_trends(clause_categories: pd.DataFrame, metric: str = "mass_share") -> pd.DataFrame:
    """Spearman of each category's mean ``metric`` (default mass share) against ln(n_params).

    Input: :func:`rulelens.statistics.categories.clause_category_shares` output.
    """
    return scale_trends(clause_categories, [metric], by=["category"])


# ---------------------------------------------------------------------------------------------
# Plateau of rule quality
# ---------------------------------------------------------------------------------------------
def _saturating(x, a, b, c):
    return a - b * np.exp(-c * x)


def fit_saturating(x, y) -> dict:
    """Least-squares fit of y = a - b exp(-c x) (x already shifted to start at 0), c in (0, 50]."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    span = max(float(x.max() - x.min()), 1e-12)
    best = None
    for c0 in (0.1 / span, 1.0 / span, 3.0 / span, 10.0 / span):
        a0 = float(y[np.argmax(x)])
        b0 = a0 - float(y[np.argmin(x)])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                params, _ = optimize.curve_fit(
                    _saturating, x, y, p0=(a0, b0 if b0 != 0 else 1e-3, c0),
                    bounds=([-np.inf, -np.inf, 1e-9], [np.inf, np.inf, 50.0 / span]), maxfev=20000,
                )
        except (RuntimeError, ValueError):
            continue
        sse = float(((_saturating(x, *params) - y) ** 2).sum())
        if best is None or sse < best[1]:
            best = (params, sse)
    if best is None:
        raise RuntimeError("saturating curve did not converge")
    a, b, c = (float(v) for v in best[0])
    return dict(a=a, b=b, c=c, sse=best[1])


def _hinge_design(x, h):
    return np.column_stack([np.ones_like(x), np.minimum(x, h) - h])


def _hinge_sse(x, y, h) -> tuple[float, np.ndarray]:
    coef, *_ = np.linalg.lstsq(_hinge_design(x, h), y, rcond=None)
    return float(((_hinge_design(x, h) @ coef - y) ** 2).sum()), coef


def fit_hinge(x, y) -> dict:
    """Least-squares fit of y = level + slope (min(x, h) - h), h in [min x, max x].

    For a fixed h the model is linear, so the fit profiles h: a grid over the observed range, then
    scipy's bounded scalar minimiser between the grid neighbours of the best point.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    lo, hi = float(x.min()), float(x.max())
    grid = np.unique(np.concatenate([np.linspace(lo, hi, 201), x]))
    sses = np.array([_hinge_sse(x, y, h)[0] for h in grid])
    i = int(np.argmin(sses))
    # Prefer the earliest hinge among (numerically) equal fits: a plateau starts where it starts.
    i = int(np.flatnonzero(sses <= sses[i] + 1e-12 * max(1.0, sses[i]))[0])
    h = float(grid[i])
    left, right = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    if right > left:
        res = optimize.minimize_scalar(lambda t: _hinge_sse(x, y, t)[0], bounds=(left, right), method="bounded")
        if res.fun < sses[i] - 1e-12 * max(1.0, sses[i]):
            h = float(res.x)
    sse, (level, slope) = _hinge_sse(x, y, h)
    return dict(h=h, level=float(level), slope=float(slope), sse=sse)


def plateau_estimate(
    n_params,
    quality,
    model: str = "saturating",
    epsilon: float = 0.02,
    relative: bool = True,
    size_labels: Sequence | None = None,
) -> dict:
    """Fit a saturating or hinge curve of quality on ln(n_params) and locate the plateau.

    ``n_params``/``quality`` may be per clause or per variant; they are averaged per distinct
    n_params first. ``epsilon`` is a fraction of the range of those means (``relative=True``) or
    an absolute quality difference. Returns a dict: status ("plateau" | "not reached" |
    "not estimable"), reason, model, n_sizes, plateau_size (label of the smallest observed size
    within epsilon of the asymptote), plateau_n_params (that size's parameter count),
    knee_n_params (continuous point where the fit comes within epsilon: hinge point, or
    x0 + ln(|b| / eps) / c), asymptote, epsilon (absolute), rmse, params.
    """
    if model not in ("saturating", "hinge"):
        raise ValueError(f"model must be 'saturating' or 'hinge', got {model!r}")
    n = np.asarray(n_params, dtype=float)
    q = np.asarray(quality, dtype=float)
    labels = np.asarray(size_labels if size_labels is not None else n, dtype=object)
    keep = np.isfinite(n) & np.isfinite(q) & (n > 0)
    means = pd.DataFrame({"n": n[keep], "q": q[keep], "label": labels[keep]}).groupby("n", sort=True).agg(
        q=("q", "mean"), label=("label", "first"))
    out = dict(status="not estimable", reason="", model=model, n_sizes=len(means), plateau_size=None,
               plateau_n_params=np.nan, knee_n_params=np.nan, asymptote=np.nan, epsilon=np.nan,
               rmse=np.nan, params={})
    if len(means) < MIN_SIZES:
        return {**out, "reason": f"needs >= {MIN_SIZES} model sizes with quality values, got {len(means)}"}
    x0 = float(np.log(means.index[0]))
    x = np.log(means.index.to_numpy(dtype=float)) - x0
    y = means["q"].to_numpy(dtype=float)
    spread = float(y.max() - y.min())
    eps = float(epsilon * spread) if relative else float(epsilon)
    if spread == 0:
        return {**out, "status": "plateau", "reason": "quality identical at every size",
                "plateau_size": means["label"].iloc[0], "plateau_n_params": float(means.index[0]),
                "knee_n_params": float(means.index[0]), "asymptote": float(y[0]), "epsilon": eps, "rmse": 0.0}
    try:
        if model == "saturating":
            fit = fit_saturating(x, y)
            asymptote, fitted = fit["a"], _saturating(x, fit["a"], fit["b"], fit["c"])
            knee_x = np.log(abs(fit["b"]) / eps) / fit["c"] if abs(fit["b"]) > eps and eps > 0 else 0.0
            params = {"a": fit["a"], "b": fit["b"], "c": fit["c"], "x0": x0}
        else:
            fit = fit_hinge(x, y)
            asymptote = fit["level"]
            fitted = fit["level"] + fit["slope"] * (np.minimum(x, fit["h"]) - fit["h"])
            knee_x = fit["h"]
            params = {"hinge_ln_n_params": fit["h"] + x0, "level": fit["level"], "slope": fit["slope"]}
    except RuntimeError as exc:
        return {**out, "reason": f"fit failed: {exc}"}
    rmse = float(np.sqrt(np.mean((fitted - y) ** 2)))
    within = np.flatnonzero(np.abs(fitted - asymptote) <= eps + 1e-12)
    with np.errstate(over="ignore"):
        knee = float(np.exp(knee_x + x0))
    result = {**out, "asymptote": float(asymptote), "epsilon": eps, "rmse": rmse, "params": params,
              "knee_n_params": knee}
    if within.size == 0:
        return {**result, "status": "not reached",
                "reason": "no observed size within epsilon of the fitted asymptote (knee is extrapolated)"}
    i = int(within[0])
    if i == len(y) - 1:
        return {**result, "status": "not reached",
                "reason": "only the largest size is within epsilon of the asymptote; no larger size confirms a plateau"}
    return {**result, "status": "plateau", "plateau_size": means["label"].iloc[i],
            "plateau_n_params": float(means.index[i])}


def quality_plateaus(
    quality: pd.DataFrame,
    metrics: Sequence[str] = ("semantic_similarity",),
    models: Sequence[str] = ("saturating", "hinge"),
    epsilon: float = 0.02,
    relative: bool = True,
    strategy_col: str = "strategy",
    size_col: str = "model_size",
    n_params_col: str = "n_params",
) -> pd.DataFrame:
    """Plateau estimates per strategy (and "all" strategies pooled), metric and curve model.

    Input: the evaluation's per-clause quality table (metric columns + strategy, model_size,
    n_params). One row per (strategy, metric, model) with the fields of :func:`plateau_estimate`.
    """
    require(quality, [strategy_col, size_col, n_params_col, *metrics], "quality_plateaus")
    rows = []
    strategies = [*sorted(quality[strategy_col].unique(), key=str), "all"]
    for strategy in strategies:
        part = quality if strategy == "all" else quality[quality[strategy_col] == strategy]
        for metric in metrics:
            for model in models:
                res = plateau_estimate(part[n_params_col].to_numpy(dtype=float), part[metric].to_numpy(dtype=float),
                                       model=model, epsilon=epsilon, relative=relative,
                                       size_labels=part[size_col].to_numpy(dtype=object))
                rows.append({"strategy": strategy, "metric": metric, **res})
    return pd.DataFrame(rows)
