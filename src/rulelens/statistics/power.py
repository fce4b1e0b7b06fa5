"""How sensitive is the design? Minimum detectable effects (MDE) for the study's tests.

Planning information: the smallest standardized effect that a two-sided test at level alpha
detects with probability ``power`` at a given n ("to detect d_z = 0.5 with 80% power you need n
clauses"). It is never read against the observed effect of the same test (power computed from the
observed effect is a function of its p-value and says nothing new: the observed-power fallacy);
verdicts come from the test and, for "no effect", from an equivalence test against a declared
smallest effect of interest (docs/reporting.md):

- ``wilcoxon_paired`` / ``one_sample_wilcoxon``: d_z = mean(d) / sd(d) of the paired differences
  (Cohen 1988, ch. 2), from the one-sample t-test power (statsmodels ``TTestPower``) at an
  effective n = n x 3/pi, the asymptotic relative efficiency of the Wilcoxon signed-rank test to
  the t-test under normality (Hodges & Lehmann 1956).
- ``mann_whitney``: Cohen's d of two independent groups, ``TTestIndPower`` at n_a x 3/pi (and the
  same ratio n_b / n_a), for the same reason.
- ``slope_t``: the correlation r that the OLS slope t-test over n points (n - 2 df) detects. The
  t statistic is noncentral t with ncp = sqrt(n) r / sqrt(1 - r^2) (Cohen 1988, ch. 9: lambda =
  f^2 n with f^2 = r^2 / (1 - r^2)); ncp is solved with scipy's noncentral t and turned into r.

Several tests of one family share alpha by Bonferroni (alpha / n_comparisons). The study corrects
with Holm (1979), which rejects whatever Bonferroni rejects and possibly more, so this MDE is a
conservative (upper) bound for Holm-corrected tests.

Exact rank tests have a floor on p: a two-sided exact Wilcoxon signed-rank test over n non-zero
differences cannot go below 2 / 2^n (all signs equal), and Mann-Whitney not below
2 / C(n_a + n_b, n_a). When the floor is above the (corrected) alpha, no effect is detectable: the
MDE is NaN with the note "not testable at this n".
"""

from __future__ import annotations

import warnings
from math import comb

import numpy as np
from scipy import optimize, stats
from statsmodels.stats.power import TTestIndPower, TTestPower

WILCOXON_ARE = 3.0 / np.pi  # asymptotic relative efficiency of Wilcoxon / Mann-Whitney vs t (normal data)
TESTS = ("wilcoxon_paired", "one_sample_wilcoxon", "mann_whitney", "slope_t")
MDE_NAMES = {"wilcoxon_paired": "d_z", "one_sample_wilcoxon": "d_z", "mann_whitney": "d", "slope_t": "r"}


def _result(mde, name, n, alpha, power, note="") -> dict:
    return dict(mde=float(mde), mde_name=name, n=n, alpha=float(alpha), power=float(power), note=note)


def _solve_checked(engine, target_power: float, **kwargs) -> float:
    """statsmodels' solve_power, accepted only when the power at the answer is the target (it can fail silently)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            effect = float(np.asarray(engine.solve_power(effect_size=None, power=target_power, **kwargs)).ravel()[0])
            achieved = float(engine.power(effect_size=effect, **kwargs))
        except (ValueError, RuntimeError, ZeroDivisionError):
            return np.nan
    return effect if np.isfinite(effect) and effect > 0 and abs(achieved - target_power) < 1e-3 else np.nan


def slope_t_power(r: float, n: int, alpha: float = 0.05) -> float:
    """Power of the two-sided OLS slope t-test (n - 2 df) when the population correlation is r."""
    df = n - 2
    ncp = np.sqrt(n) * r / np.sqrt(1.0 - r**2)
    crit = stats.t.ppf(1 - alpha / 2, df)
    return float(stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp))


def slope_t_noncentrality(n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """The noncentrality ncp = slope x sqrt(Sxx) / sigma that the slope t-test detects with ``power``."""
    df = n - 2
    crit = stats.t.ppf(1 - alpha / 2, df)

    def gap(ncp):
        return stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp) - power

    high = 1.0
    while gap(high) < 0 and high < 1e6:
        high *= 2
    return float(optimize.brentq(gap, 0.0, high)) if gap(high) >= 0 else np.nan


def minimum_detectable_effect(
    n,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    test: str = "wilcoxon_paired",
    n_comparisons: int = 1,
    n_b: int | None = None,
) -> dict:
    """Smallest standardized effect a two-sided ``test`` detects with ``power`` at Bonferroni alpha / n_comparisons.

    ``n``: pairs (paired, one-sample), group a's size (Mann-Whitney; ``n_b`` defaults to n), or
    points on the line (slope_t, e.g. model sizes). Returns {mde, mde_name (d_z | d | r), n, alpha
    (the corrected one), power, note}; mde is NaN with a note when nothing is detectable.
    """
    if test not in TESTS:
        raise ValueError(f"test must be one of {TESTS}, got {test!r}")
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"alpha and power must lie in (0, 1), got {alpha}, {power}")
    name = MDE_NAMES[test]
    family_alpha = alpha / max(int(n_comparisons), 1)
    n = int(n) if n is not None and np.isfinite(n) else 0
    if test in ("wilcoxon_paired", "one_sample_wilcoxon"):
        if n < 1 or 2.0 ** (1 - n) > family_alpha:
            return _result(
                np.nan,
                name,
                n,
                family_alpha,
                power,
                f"not testable at this n: an exact two-sided Wilcoxon over {n} differences has "
                f"p >= {min(1.0, 2.0 ** (1 - n)):.3g} > alpha {family_alpha:.3g}",
            )
        mde = _solve_checked(TTestPower(), power, nobs=n * WILCOXON_ARE, alpha=family_alpha, alternative="two-sided")
        note = "d_z from the t-test at n x 3/pi (Wilcoxon ARE)"
    elif test == "mann_whitney":
        n_b = n if n_b is None else int(n_b)
        if n < 1 or n_b < 1 or 2.0 / comb(n + n_b, n) > family_alpha:
            return _result(
                np.nan,
                name,
                n,
                family_alpha,
                power,
                f"not testable at this n: an exact two-sided Mann-Whitney with {n} and {n_b} values "
                f"cannot reach alpha {family_alpha:.3g}",
            )
        mde = _solve_checked(
            TTestIndPower(), power, nobs1=n * WILCOXON_ARE, ratio=n_b / n, alpha=family_alpha, alternative="two-sided"
        )
        note = "Cohen's d from the two-sample t-test at n x 3/pi (Mann-Whitney ARE)"
    else:
        if n < 3:
            return _result(
                np.nan,
                name,
                n,
                family_alpha,
                power,
                f"not testable at this n: a slope t-test needs >= 3 points (n - 2 df), got {n}",
            )
        ncp = slope_t_noncentrality(n, family_alpha, power)
        mde = ncp / np.sqrt(n + ncp**2) if np.isfinite(ncp) else np.nan
        note = f"correlation r of the OLS slope t-test with {n - 2} df"
    if not np.isfinite(mde):
        return _result(np.nan, name, n, family_alpha, power, "not testable at this n: power cannot be reached")
    return _result(mde, name, n, family_alpha, power, note)


def mde_slope(n_sizes: int, x, residual_sd: float, *, alpha: float = 0.05, power: float = 0.8) -> float:
    """The MDE in slope units: ncp x residual sd / sqrt(Sxx) for the observed design points ``x``.

    It reads as "the smallest change per ln(parameter) the trend test sees with ``power``, given
    the scatter of the size means about their line".
    """
    x = np.asarray(x, dtype=float)
    if n_sizes < 3 or not np.isfinite(residual_sd):
        return np.nan
    ncp = slope_t_noncentrality(n_sizes, alpha, power)
    sxx = float(((x - x.mean()) ** 2).sum())
    return float(ncp * residual_sd / np.sqrt(sxx)) if sxx > 0 else np.nan


def standardized_effect(a, b, paired: bool = True) -> float:
    """Observed effect on the MDE's scale: d_z = mean(a - b) / sd(a - b) (paired) or Cohen's d (pooled sd).

    NaN when undefined (fewer than 2 values or zero spread); its sign is that of the mean
    difference, which can disagree with a rank test's direction.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if paired:
        d = a - b
        d = d[np.isfinite(d)]
        sd = float(d.std(ddof=1)) if d.size >= 2 else np.nan
        return float(d.mean() / sd) if np.isfinite(sd) and sd > 0 else np.nan
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size < 2 or b.size < 2:
        return np.nan
    pooled = np.sqrt(((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1)) / (a.size + b.size - 2))
    return float((a.mean() - b.mean()) / pooled) if pooled > 0 else np.nan
