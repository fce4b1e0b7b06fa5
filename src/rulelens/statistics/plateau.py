"""Does rule quality plateau with model size? A test at the level of sizes (docs/statistics.md section 7).

Each size is one checkpoint, so the size, not the clause, is the unit of replication: resampling
clauses never sees the noise of a rung (one training run, one pruning) and calls a flat or a
straight curve a plateau far too often. This test uses the per-size means only, with one curve
model fixed in advance (the hinge: quality rises linearly in ln(parameters) up to a knee h, then
stays flat), and calls a plateau only when all three hold:

1. **the hinge beats a straight line**: F = (SSE_linear - SSE_hinge) / (SSE_hinge / (S - 3)) over
   S sizes, its p-value from a parametric bootstrap under the fitted line (Gaussian noise with the
   line's residual variance, ``n_boot`` replicates refitting both models; the hinge's knee is
   profiled, so the F distribution is not the textbook one);
2. **a rise before the knee**: the hinge's slope is positive, one-sided t-test at fixed h with
   S - 3 degrees of freedom;
3. **flat after the knee**: the slope of a line through the sizes at or after the knee lies inside
   +-``margin`` (quality per e-fold of parameters) by two one-sided tests (its 1 - 2 alpha CI
   inside the margin; the noise variance is the hinge fit's, S - 3 degrees of freedom), which needs
   at least 3 sizes there.

The knee is searched between the second and the third-from-last size, so that each side has
sizes to show its slope. Fewer than 5 sizes, or fewer than 3 at or after the knee: "not
testable". Simulated flat and straight truths pass in at most about alpha of seeded runs and a
planted plateau is found (tests/statistics/test_statistics_plateau.py). Pure numpy / scipy.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

MIN_TEST_SIZES = 5  # hinge: 3 parameters, and S - 3 >= 2 residual degrees of freedom
MIN_FLAT_SIZES = 3  # a slope with a confidence interval after the knee


def _line_sse(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    design = np.column_stack([np.ones_like(x), x])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(((design @ coef - y) ** 2).sum()), coef


def hinge_design(x: np.ndarray, h: float) -> np.ndarray:
    """Columns of the hinge at knee ``h``: a level and min(x, h) - h (linear up to h, flat after)."""
    return np.column_stack([np.ones_like(x), np.minimum(x, h) - h])


def hinge_sse_grid(x: np.ndarray, y: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """SSE of the hinge fit at every knee in ``grid`` at once (simple regression of y on min(x, h) - h)."""
    z = np.minimum(x[None, :], grid[:, None]) - grid[:, None]
    zc = z - z.mean(axis=1, keepdims=True)
    yc = y - y.mean()
    szz = (zc**2).sum(axis=1)
    szy = zc @ yc
    explained = np.divide(szy**2, szz, out=np.zeros_like(szz), where=szz > 1e-300)
    return np.maximum(float(yc @ yc) - explained, 0.0)


def knee_grid(x: np.ndarray, points: int = 60) -> np.ndarray:
    """Candidate knees: from the second size to the third-from-last (both sides keep a slope to show)."""
    low, high = x[1], x[-MIN_FLAT_SIZES]
    return np.unique(np.concatenate([np.linspace(low, high, points), x[1 : len(x) - MIN_FLAT_SIZES + 1]]))


def fit_hinge_on_grid(x: np.ndarray, y: np.ndarray, grid: np.ndarray) -> dict:
    """Least-squares hinge over the candidate knees (vectorised over the grid; the earliest best knee)."""
    sses = hinge_sse_grid(x, y, grid)
    best = int(np.flatnonzero(sses <= sses.min() + 1e-12 * max(1.0, sses.min()))[0])
    h = float(grid[best])
    design = hinge_design(x, h)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    return {"h": h, "level": float(coef[0]), "slope": float(coef[1]), "sse": float(sses[best]), "design": design}


def _f_statistic(sse_line: float, sse_hinge: float, n: int) -> float:
    residual = sse_hinge / (n - 3)
    if residual <= 0:
        return np.inf if sse_line > sse_hinge else 0.0
    return max(sse_line - sse_hinge, 0.0) / residual


def plateau_test(
    n_params,
    size_means,
    *,
    margin: float,
    alpha: float = 0.05,
    n_boot: int = 500,
    seed: int | None = 0,
) -> dict:
    """The size-level plateau test of the module docstring on per-size quality means.

    Returns ``status`` ("plateau" | "not supported" | "not reached" | "not testable"), ``reason``,
    ``n_sizes``, ``knee_n_params``, ``level``, ``rise_slope``, ``rise_p`` (one-sided), ``f``,
    ``hinge_vs_line_p``, ``flat_slope``, ``flat_ci_low``/``flat_ci_high`` (1 - 2 alpha),
    ``flat_sizes`` and ``margin``. "not reached": no rise, or the hinge does not beat the line;
    "not supported": a rise and a better hinge but the slope after the knee is not shown flat.
    """
    n = np.asarray(n_params, dtype=float)
    y = np.asarray(size_means, dtype=float)
    keep = np.isfinite(n) & np.isfinite(y) & (n > 0)
    order = np.argsort(n[keep])
    n, y = n[keep][order], y[keep][order]
    out = {
        "status": "not testable",
        "reason": "",
        "n_sizes": int(n.size),
        "knee_n_params": np.nan,
        "level": np.nan,
        "rise_slope": np.nan,
        "rise_p": np.nan,
        "f": np.nan,
        "hinge_vs_line_p": np.nan,
        "flat_slope": np.nan,
        "flat_ci_low": np.nan,
        "flat_ci_high": np.nan,
        "flat_sizes": 0,
        "margin": float(margin),
    }
    if n.size < MIN_TEST_SIZES:
        return {**out, "reason": f"a size-level plateau test needs >= {MIN_TEST_SIZES} sizes, got {n.size}"}
    if np.ptp(y) == 0:
        return {**out, "status": "not reached", "reason": "quality identical at every size: nothing rises"}
    x = np.log(n)
    grid = knee_grid(x)
    hinge = fit_hinge_on_grid(x, y, grid)
    sse_line, line = _line_sse(x, y)
    f = _f_statistic(sse_line, hinge["sse"], x.size)
    # 1. hinge vs line: parametric bootstrap under the fitted line (the size-level noise)
    rng = np.random.default_rng(seed)
    sigma = np.sqrt(sse_line / (x.size - 2))
    fitted_line = line[0] + line[1] * x
    exceed = 0
    for _ in range(n_boot):
        yb = fitted_line + sigma * rng.standard_normal(x.size)
        exceed += _f_statistic(_line_sse(x, yb)[0], fit_hinge_on_grid(x, yb, grid)["sse"], x.size) >= f - 1e-12
    p_shape = (1 + exceed) / (n_boot + 1)
    # 2. rise before the knee: one-sided t-test of the hinge slope at its knee
    design = hinge["design"]
    residual = hinge["sse"] / (x.size - 3)
    try:
        covariance = residual * np.linalg.inv(design.T @ design)
        se = float(np.sqrt(max(covariance[1, 1], 0.0)))
    except np.linalg.LinAlgError:
        se = np.nan
    tiny = 1e-9 * max(1.0, float(np.ptp(y)))
    if se > tiny:
        rise_p = float(stats.t.sf(hinge["slope"] / se, x.size - 3))
    else:  # an exact fit: the sign alone
        rise_p = 0.0 if hinge["slope"] > tiny else 1.0
    # 3. flat after the knee: TOST on the slope of the sizes at or after the knee
    after = x >= hinge["h"] - 1e-12
    result = {
        **out,
        "knee_n_params": float(np.exp(hinge["h"])),
        "level": hinge["level"],
        "rise_slope": hinge["slope"],
        "rise_p": rise_p,
        "f": float(f),
        "hinge_vs_line_p": float(p_shape),
        "flat_sizes": int(after.sum()),
    }
    if after.sum() >= MIN_FLAT_SIZES:
        xs, ys = x[after], y[after]
        design_after = np.column_stack([np.ones_like(xs), xs - xs.mean()])
        coef, *_ = np.linalg.lstsq(design_after, ys, rcond=None)
        # the size-level noise from the whole hinge fit (S - 3 df): every rung has the same noise
        spread_x = float(((xs - xs.mean()) ** 2).sum())
        se_after = np.sqrt(residual / spread_x) if spread_x > 0 else np.inf
        half = float(stats.t.ppf(1 - alpha, x.size - 3) * se_after)
        slope = float(coef[1])
        result.update(flat_slope=slope, flat_ci_low=slope - half, flat_ci_high=slope + half)
    rises = hinge["slope"] > 0 and rise_p < alpha
    bends = p_shape < alpha
    flat = -margin < result["flat_ci_low"] and result["flat_ci_high"] < margin
    if not (rises and bends):
        why = []
        if not rises:
            why.append(f"no significant rise before the knee (one-sided p = {rise_p:.2g})")
        if not bends:
            why.append(f"a hinge does not fit better than a straight line (p = {p_shape:.2g})")
        return {**result, "status": "not reached", "reason": "; ".join(why)}
    if not flat:
        return {
            **result,
            "status": "not supported",
            "reason": f"the slope after the knee ({result['flat_slope']:+.3g} per e-fold of parameters, "
            f"{int(after.sum())} sizes) is not shown inside +-{margin:g}",
        }
    return {**result, "status": "plateau", "reason": ""}
