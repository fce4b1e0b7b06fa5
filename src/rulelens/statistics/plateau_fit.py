"""Where rule quality stops improving with model scale: the plateau fits (docs/statistics.md).

Plateau: does rule quality stop improving beyond some size? Two models on x = ln(n_params), fitted
to the per-size mean quality:

- saturating: q(x) = a - b exp(-c (x - x0)), c > 0, x0 = smallest ln n_params; a is the asymptote.
- hinge: q(x) = level + slope (min(x, h) - h), rising (or falling) until the hinge h, flat after.

The plateau size is the smallest *observed* size whose fitted quality lies within epsilon of the
asymptote (saturating: a; hinge: level), with epsilon = ``epsilon`` x (range of the per-size means)
by default or an absolute value. A plateau needs at least one observed size after its start (else
"not reached": nothing confirms that quality stays flat). Three parameters need at least three
sizes; with fewer the result says "not estimable" and why. A plateau *verdict* needs more
(:func:`plateau_estimate`): at least four sizes, a ladder reaching ``min_plateau_n_params``, and a
clause bootstrap in which at least 95% of the refits find the plateau again.

The size is the unit here too (one mean per size); :mod:`rulelens.statistics.plateau` holds the
size-level plateau test the verdict rests on, :mod:`rulelens.statistics.trends` the size trends.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import optimize

from rulelens.statistics._frames import require
from rulelens.statistics.plateau import MIN_TEST_SIZES, hinge_design, hinge_sse_grid, plateau_test

MIN_FIT_SIZES = 3  # three curve parameters
MIN_SIZES = MIN_FIT_SIZES


def _saturating(x, a, b, c):
    return a - b * np.exp(-c * x)


def _saturating_profile(x, y, rates) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each rate c the model is linear in (a, b): (sse, a, b) of that least-squares fit, for all c at once."""
    e = np.exp(-np.outer(rates, x))
    ec = e - e.mean(axis=1, keepdims=True)
    yc = y - y.mean()
    see = (ec**2).sum(axis=1)
    sey = ec @ yc
    slope = np.divide(sey, see, out=np.zeros_like(see), where=see > 1e-300)  # coefficient of exp(-c x) = -b
    sse = np.maximum(float(yc @ yc) - slope * sey, 0.0)
    return sse, y.mean() - slope * e.mean(axis=1), -slope


def fit_saturating(x, y) -> dict:
    """Least-squares fit of y = a - b exp(-c x) (x already shifted to start at 0), c in [0.001, 50] / span.

    For a fixed c the model is linear in a and b, so c is profiled: a log-spaced grid, then
    scipy's bounded scalar minimiser (on ln c) between the grid neighbours of the best rate. This
    is fast enough to refit in every bootstrap replicate and has no starting-value problem.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    span = max(float(x.max() - x.min()), 1e-12)
    log_rates = np.linspace(np.log(1e-3 / span), np.log(50.0 / span), 241)
    sses = _saturating_profile(x, y, np.exp(log_rates))[0]
    if not np.isfinite(sses).any():
        raise RuntimeError("saturating curve did not converge")
    i = int(np.nanargmin(sses))
    best = float(log_rates[i])
    left, right = log_rates[max(i - 1, 0)], log_rates[min(i + 1, log_rates.size - 1)]
    res = optimize.minimize_scalar(
        lambda t: _saturating_profile(x, y, np.array([np.exp(t)]))[0][0], bounds=(left, right), method="bounded"
    )
    if res.fun < sses[i]:
        best = float(res.x)
    sse, a, b = (float(v[0]) for v in _saturating_profile(x, y, np.array([np.exp(best)])))
    return dict(a=a, b=b, c=float(np.exp(best)), sse=sse)


def _hinge_sse(x, y, h) -> tuple[float, np.ndarray]:
    coef, *_ = np.linalg.lstsq(hinge_design(x, h), y, rcond=None)
    return float(((hinge_design(x, h) @ coef - y) ** 2).sum()), coef


def fit_hinge(x, y) -> dict:
    """Least-squares fit of y = level + slope (min(x, h) - h), h in [min x, max x].

    For a fixed h the model is linear, so the fit profiles h: a grid over the observed range, then
    scipy's bounded scalar minimiser between the grid neighbours of the best point.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    lo, hi = float(x.min()), float(x.max())
    grid = np.unique(np.concatenate([np.linspace(lo, hi, 201), x]))
    sses = hinge_sse_grid(x, y, grid)
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


def _plateau_fit(
    n_params: np.ndarray, y: np.ndarray, labels: np.ndarray, model: str, epsilon: float, relative: bool
) -> dict:
    """Fit one curve to per-size means (sizes ascending) and locate the plateau: the fit alone, no verdict."""
    out = dict(
        status="not estimable",
        reason="",
        model=model,
        n_sizes=len(y),
        plateau_size=None,
        plateau_n_params=np.nan,
        knee_n_params=np.nan,
        asymptote=np.nan,
        epsilon=np.nan,
        rmse=np.nan,
        params={},
    )
    if len(y) < MIN_FIT_SIZES:
        return {**out, "reason": f"needs >= {MIN_FIT_SIZES} model sizes with quality values, got {len(y)}"}
    x0 = float(np.log(n_params[0]))
    x = np.log(n_params) - x0
    spread = float(y.max() - y.min())
    eps = float(epsilon * spread) if relative else float(epsilon)
    if spread == 0:
        return {
            **out,
            "status": "plateau",
            "reason": "quality identical at every size",
            "plateau_size": labels[0],
            "plateau_n_params": float(n_params[0]),
            "knee_n_params": float(n_params[0]),
            "asymptote": float(y[0]),
            "epsilon": eps,
            "rmse": 0.0,
        }
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
    result = {
        **out,
        "asymptote": float(asymptote),
        "epsilon": eps,
        "rmse": rmse,
        "params": params,
        "knee_n_params": knee,
    }
    if within.size == 0:
        return {
            **result,
            "status": "not reached",
            "reason": "no observed size within epsilon of the fitted asymptote (knee is extrapolated)",
        }
    i = int(within[0])
    if i == len(y) - 1:
        return {
            **result,
            "status": "not reached",
            "reason": "only the largest size is within epsilon of the asymptote; no larger size confirms a plateau",
        }
    return {
        **result,
        "status": "plateau",
        "reason": "",
        "plateau_size": labels[i],
        "plateau_n_params": float(n_params[i]),
    }


def plateau_estimate(
    n_params,
    quality,
    model: str = "hinge",
    epsilon: float = 0.02,
    relative: bool = True,
    size_labels: Sequence | None = None,
    *,
    clause_ids: Sequence | None = None,
    n_resamples: int = 500,
    seed: int | None = 0,
    min_plateau_n_params: float | None = None,
    flat_margin: float = 0.02,
    alpha: float = 0.05,
) -> dict:
    """Fit a saturating or hinge curve of quality on ln(n_params) and, for the hinge, test the plateau.

    ``n_params``/``quality`` (and ``clause_ids``, aligned) are per clause rows; they are averaged
    per clause and size, then per size: the size is the unit of replication. ``fit_status`` is what
    the curve fit alone says ("plateau" | "not reached" | "not estimable"; ``epsilon`` is a fraction
    of the range of the size means, or absolute). ``status`` is the verdict, and only the hinge,
    the curve model fixed in advance, has one (:func:`rulelens.statistics.plateau.plateau_test`:
    the hinge beats a straight line, a significant rise before the knee, and a slope after it inside
    +-``flat_margin`` by TOST, all over sizes with ``n_resamples`` parametric-bootstrap replicates):

    - "not estimable": fewer than 3 sizes or the fit failed;
    - "descriptive": the saturating curve (reported beside the hinge, never a verdict);
    - "not testable": fewer than 5 sizes;
    - "not testable on this ladder": the largest size is below ``min_plateau_n_params``;
    - "plateau" / "not supported" (rise and bend, flatness not shown) / "not reached".

    Also: reason, model, n_sizes, n_clauses, plateau_size, plateau_n_params, knee_n_params (the
    test's knee for the hinge), asymptote, epsilon (absolute), rmse, largest_n_params,
    min_plateau_n_params, params and the test's rise_slope, rise_p, hinge_vs_line_p, flat_slope,
    flat_ci_low, flat_ci_high, flat_sizes, margin.
    """
    if model not in ("saturating", "hinge"):
        raise ValueError(f"model must be 'saturating' or 'hinge', got {model!r}")
    n = np.asarray(n_params, dtype=float)
    q = np.asarray(quality, dtype=float)
    labels = np.asarray(size_labels if size_labels is not None else n, dtype=object)
    keep = np.isfinite(n) & np.isfinite(q) & (n > 0)
    rows = pd.DataFrame({"n": n[keep], "q": q[keep], "label": labels[keep]})
    size_labels_by_n = rows.groupby("n", sort=True)["label"].first()
    if clause_ids is not None:
        rows["clause"] = np.asarray(clause_ids, dtype=object)[keep]
        matrix = rows.pivot_table(index="clause", columns="n", values="q", aggfunc="mean")
        with np.errstate(invalid="ignore"):
            means = matrix.mean(axis=0).to_numpy(dtype=float)
        n_sizes_values = matrix.columns.to_numpy(dtype=float)
    else:
        matrix = None
        means = rows.groupby("n", sort=True)["q"].mean().to_numpy(dtype=float)
        n_sizes_values = size_labels_by_n.index.to_numpy(dtype=float)
    fit = _plateau_fit(
        n_sizes_values, means, size_labels_by_n.reindex(n_sizes_values).to_numpy(dtype=object), model, epsilon, relative
    )
    largest = float(n_sizes_values.max()) if n_sizes_values.size else np.nan
    result = {
        **fit,
        "fit_status": fit["status"],
        "n_clauses": 0 if matrix is None else int(matrix.shape[0]),
        "largest_n_params": largest,
        "min_plateau_n_params": np.nan if min_plateau_n_params is None else float(min_plateau_n_params),
        **{key: np.nan for key in PLATEAU_TEST_FIELDS if key != "knee_n_params"},
    }
    if fit["status"] == "not estimable":
        return result
    if model != "hinge":
        return {**result, "status": "descriptive", "reason": "the verdict is the hinge's size-level test"}
    if len(means) < MIN_TEST_SIZES:
        return {
            **result,
            "status": "not testable",
            "reason": f"fewer than {MIN_TEST_SIZES} sizes ({len(means)}): a plateau cannot be told from noise "
            "with the size as the unit",
        }
    if min_plateau_n_params is not None and largest < min_plateau_n_params:
        return {
            **result,
            "status": "not testable on this ladder",
            "reason": f"largest size has {largest:,.0f} parameters, below the {min_plateau_n_params:,.0f} "
            "where the plateau is expected",
        }
    test = plateau_test(n_sizes_values, means, margin=flat_margin, alpha=alpha, n_boot=n_resamples, seed=seed)
    out = {**result, **{key: test[key] for key in PLATEAU_TEST_FIELDS}, "status": test["status"]}
    out["reason"] = test["reason"]
    if test["status"] == "plateau":  # the first observed size at or after the test's knee
        at = int(np.searchsorted(n_sizes_values, test["knee_n_params"] * (1 - 1e-9)))
        at = min(at, len(n_sizes_values) - 1)
        out["plateau_size"] = size_labels_by_n.reindex(n_sizes_values).to_numpy(dtype=object)[at]
        out["plateau_n_params"] = float(n_sizes_values[at])
    return out


PLATEAU_TEST_FIELDS = (
    "knee_n_params",
    "rise_slope",
    "rise_p",
    "hinge_vs_line_p",
    "flat_slope",
    "flat_ci_low",
    "flat_ci_high",
    "flat_sizes",
    "margin",
)


def quality_plateaus(
    quality: pd.DataFrame,
    metrics: Sequence[str] = ("semantic_similarity",),
    models: Sequence[str] = ("saturating", "hinge"),
    epsilon: float = 0.02,
    relative: bool = True,
    strategy_col: str = "strategy",
    size_col: str = "model_size",
    n_params_col: str = "n_params",
    *,
    clause_col: str | None = "clause_id",
    n_resamples: int = 500,
    seed: int | None = 0,
    min_plateau_n_params: float | None = None,
    flat_margin: float = 0.02,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Plateau estimates per strategy (and "all" strategies pooled), metric and curve model.

    Input: the evaluation's per-clause quality table (metric columns + strategy, model_size,
    n_params, clause_id). One row per (strategy, metric, model) with the fields of
    :func:`plateau_estimate` (the verdict is the hinge row's; the saturating row is descriptive).
    """
    require(quality, [strategy_col, size_col, n_params_col, *metrics], "quality_plateaus")
    has_clauses = clause_col is not None and clause_col in quality.columns
    options = dict(
        epsilon=epsilon,
        relative=relative,
        n_resamples=n_resamples,
        seed=seed,
        min_plateau_n_params=min_plateau_n_params,
        flat_margin=flat_margin,
        alpha=alpha,
    )
    rows = []
    strategies = [*sorted(quality[strategy_col].unique(), key=str), "all"]
    for strategy in strategies:
        part = quality if strategy == "all" else quality[quality[strategy_col] == strategy]
        for metric in metrics:
            for model in models:
                res = plateau_estimate(
                    part[n_params_col].to_numpy(dtype=float),
                    part[metric].to_numpy(dtype=float),
                    model=model,
                    size_labels=part[size_col].to_numpy(dtype=object),
                    clause_ids=part[clause_col].to_numpy(dtype=object) if has_clauses else None,
                    **options,
                )
                rows.append({"strategy": strategy, "metric": metric, **res})
    return pd.DataFrame(rows)
