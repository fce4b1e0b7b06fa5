"""Percentile bootstrap confidence intervals (Efron & Tibshirani 1993, ch. 13) through ``scipy.stats.bootstrap``.

Why the percentile bootstrap: clause-level metrics (entropy, shares, enrichment, F1) are bounded
and skewed, so a normal-theory interval around the mean can leave the metric's range; resampling
the clauses does not assume a shape. Every interval in the project comes from
:func:`percentile_ci`, one call of scipy's maintained implementation with a seeded generator, so
reports are reproducible; the helpers below only say *what* is resampled (one sample, pairs,
two independent samples) and handle the inputs scipy refuses (no value, one value, all equal).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

_CHUNK = 2_000_000  # resampled values held in memory at once (scipy's ``batch``)


def _as_clean(values) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    return arr[np.isfinite(arr)]


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def percentile_ci(
    samples: Sequence[np.ndarray],
    statistic: Callable[..., np.ndarray],
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed=0,
    paired: bool = False,
) -> tuple[float, float]:
    """``(low, high)``: the percentile-bootstrap interval of ``statistic`` over ``samples``.

    ``statistic(*samples, axis=-1)`` must be vectorised (numpy reductions along ``axis``).
    ``paired=True`` resamples the rows of equal-length samples together (the same clause in
    each); otherwise each sample is resampled on its own. ``seed`` is anything
    ``numpy.random.default_rng`` takes. Every sample needs at least two values.
    """
    _check_confidence(confidence)
    n = max(len(sample) for sample in samples)
    result = stats.bootstrap(
        tuple(samples),
        statistic,
        n_resamples=n_resamples,
        batch=max(1, _CHUNK // n),
        vectorized=True,
        paired=paired,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def bootstrap_means(values, n_resamples: int = 2000, seed: int | None = 0) -> np.ndarray:
    """The means of ``n_resamples`` resamples (with replacement, same size) of the finite ``values``.

    The bootstrap distribution :func:`bootstrap_mean_ci` takes its interval from (scipy's).
    """
    arr = _as_clean(values)
    if arr.size == 0:
        return np.full(n_resamples, np.nan)
    if arr.size == 1:
        return np.full(n_resamples, arr[0])
    result = stats.bootstrap(
        (arr,),
        np.mean,
        n_resamples=n_resamples,
        batch=max(1, _CHUNK // arr.size),
        vectorized=True,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return np.asarray(result.bootstrap_distribution, dtype=float)


def bootstrap_mean_ci(
    values, n_resamples: int = 2000, confidence: float = 0.95, seed: int | None = 0
) -> tuple[float, float, float]:
    """``(mean, ci_low, ci_high)`` of the finite values; NaNs are dropped, an empty input gives NaNs.

    One value, or values all equal, give a zero-width interval at that value (nothing to resample).
    """
    _check_confidence(confidence)
    arr = _as_clean(values)
    if arr.size == 0:
        return (np.nan, np.nan, np.nan)
    mean = float(arr.mean())
    if arr.size == 1 or np.all(arr == arr[0]):
        return (mean, mean, mean)
    low, high = percentile_ci((arr,), np.mean, n_resamples, confidence, seed)
    return (mean, low, high)


def bootstrap_paired_difference_ci(
    a, b, n_resamples: int = 2000, confidence: float = 0.95, seed: int | None = 0
) -> tuple[float, float, float]:
    """``(mean(a - b), ci_low, ci_high)`` resampling *pairs*, so clause-to-clause variation cancels.

    ``a`` and ``b`` are aligned (same clause at the same position); pairs with a NaN are dropped.
    For the mean, resampling pairs is resampling the differences, so this is the one-sample
    interval of ``a - b``.
    """
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired inputs differ in length: {a.size} vs {b.size}")
    return bootstrap_mean_ci(a - b, n_resamples, confidence, seed)


def f1_of_means(precision: np.ndarray, recall: np.ndarray, axis: int = -1) -> np.ndarray:
    """F1 of the mean precision and mean recall along ``axis`` (0 where either mean is 0)."""
    mp, mr = np.mean(precision, axis=axis), np.mean(recall, axis=axis)
    total = mp + mr
    return np.where((mp > 0) & (mr > 0), 2 * mp * mr / np.where(total > 0, total, 1.0), 0.0)


def bootstrap_f1_ci(
    precision, recall, n_resamples: int = 2000, confidence: float = 0.95, seed: int | None = 0
) -> tuple[float, float, float]:
    """``(F1, ci_low, ci_high)`` of F1 from mean precision and mean recall (the LRML score's rule).

    Clauses are resampled with their (precision, recall) pair kept together and F1 is recomputed
    from the resampled means. Pairs with a NaN are dropped; one pair gives a zero-width interval.
    """
    _check_confidence(confidence)
    p, r = np.asarray(precision, dtype=float).ravel(), np.asarray(recall, dtype=float).ravel()
    if p.shape != r.shape:
        raise ValueError(f"precision and recall differ in length: {p.size} vs {r.size}")
    keep = np.isfinite(p) & np.isfinite(r)
    p, r = p[keep], r[keep]
    if p.size == 0:
        return (np.nan, np.nan, np.nan)
    f1 = float(f1_of_means(p, r))
    if p.size == 1 or (np.all(p == p[0]) and np.all(r == r[0])):
        return (f1, f1, f1)
    low, high = percentile_ci((p, r), f1_of_means, n_resamples, confidence, seed, paired=True)
    return (f1, low, high)


def bootstrap_summary(
    frame: pd.DataFrame,
    value_columns: Sequence[str],
    by: Sequence[str],
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Mean with a bootstrap CI of each value column per group: a long table.

    Columns: ``*by, metric, n, mean, ci_low, ci_high`` (``n`` counts the finite values). Each
    group and metric gets its own seed derived from ``seed`` and the group's key (crc32, stable
    across processes), so adding or removing a group leaves the other groups' intervals unchanged.
    """
    rows = []
    by = list(by)
    groups = frame.groupby(by, dropna=False, sort=True) if by else [((), frame)]
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        for j, metric in enumerate(value_columns):
            values = group[metric].to_numpy(dtype=float)
            sub_seed = None if seed is None else [seed, j, *[zlib.crc32(str(k).encode()) for k in key]]
            mean, low, high = bootstrap_mean_ci(values, n_resamples, confidence, sub_seed)
            rows.append((*key, metric, int(np.isfinite(values).sum()), mean, low, high))
    return pd.DataFrame(rows, columns=[*by, "metric", "n", "mean", "ci_low", "ci_high"])


def _difference_of_means(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(a, axis=axis) - np.mean(b, axis=axis)


def bootstrap_difference_ci(
    a, b, n_resamples: int = 2000, confidence: float = 0.95, seed: int | None = 0
) -> tuple[float, float, float]:
    """``(mean(a) - mean(b), ci_low, ci_high)`` for *independent* samples: each resampled on its own.

    Use this when the two groups hold different clauses; for the same clauses use
    :func:`bootstrap_paired_difference_ci`, which is narrower because clause effects cancel.
    A group with one value is held fixed (scipy resamples samples of two or more): only the other varies.
    """
    _check_confidence(confidence)
    a, b = _as_clean(a), _as_clean(b)
    if a.size == 0 or b.size == 0:
        return (np.nan, np.nan, np.nan)
    diff = float(a.mean() - b.mean())
    a_fixed, b_fixed = a.size == 1, b.size == 1
    if a_fixed and b_fixed:
        return (diff, diff, diff)
    if a_fixed or b_fixed:
        varying, sign, offset = (b, -1.0, float(a.mean())) if a_fixed else (a, 1.0, -float(b.mean()))
        low, high = percentile_ci((varying,), np.mean, n_resamples, confidence, seed)
        bounds = sorted((sign * low + offset, sign * high + offset))
        return (diff, bounds[0], bounds[1])
    low, high = percentile_ci((a, b), _difference_of_means, n_resamples, confidence, seed)
    return (diff, low, high)
