"""Percentile bootstrap confidence intervals (Efron & Tibshirani 1993, ch. 13).

Why the percentile bootstrap: clause-level metrics (entropy, shares, enrichment) are bounded and
skewed, so a normal-theory interval around the mean can leave the metric's range; resampling the
clauses does not assume a shape. Every function takes a ``seed`` so reports are reproducible.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

_CHUNK = 2_000_000  # resampled values held in memory at once


def _as_clean(values) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    return arr[np.isfinite(arr)]


def bootstrap_means(values, n_resamples: int = 2000, seed: int | None = 0) -> np.ndarray:
    """The means of ``n_resamples`` resamples (with replacement, same size) of the finite ``values``."""
    arr = _as_clean(values)
    n = arr.size
    if n == 0:
        return np.full(n_resamples, np.nan)
    rng = np.random.default_rng(seed)
    out = np.empty(n_resamples)
    step = max(1, _CHUNK // n)
    for start in range(0, n_resamples, step):
        stop = min(n_resamples, start + step)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = arr[idx].mean(axis=1)
    return out


def bootstrap_mean_ci(
    values, n_resamples: int = 2000, confidence: float = 0.95, seed: int | None = 0
) -> tuple[float, float, float]:
    """``(mean, ci_low, ci_high)`` of the finite values; NaNs are dropped, an empty input gives NaNs.

    One value gives a zero-width interval at that value (there is nothing to resample).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    arr = _as_clean(values)
    if arr.size == 0:
        return (np.nan, np.nan, np.nan)
    mean = float(arr.mean())
    if arr.size == 1 or np.all(arr == arr[0]):
        return (mean, mean, mean)
    means = bootstrap_means(arr, n_resamples, seed)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return (mean, float(low), float(high))


def bootstrap_paired_difference_ci(
    a, b, n_resamples: int = 2000, confidence: float = 0.95, seed: int | None = 0
) -> tuple[float, float, float]:
    """``(mean(a - b), ci_low, ci_high)`` resampling *pairs*, so clause-to-clause variation cancels.

    ``a`` and ``b`` are aligned (same clause at the same position); pairs with a NaN are dropped.
    """
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired inputs differ in length: {a.size} vs {b.size}")
    return bootstrap_mean_ci(a - b, n_resamples, confidence, seed)


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


def bootstrap_difference_ci(
    a, b, n_resamples: int = 2000, confidence: float = 0.95, seed: int | None = 0
) -> tuple[float, float, float]:
    """``(mean(a) - mean(b), ci_low, ci_high)`` for *independent* samples: each resampled on its own.

    Use this when the two groups hold different clauses; for the same clauses use
    :func:`bootstrap_paired_difference_ci`, which is narrower because clause effects cancel.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    a, b = _as_clean(a), _as_clean(b)
    if a.size == 0 or b.size == 0:
        return (np.nan, np.nan, np.nan)
    diff = float(a.mean() - b.mean())
    seq = np.random.SeedSequence(seed) if seed is not None else np.random.SeedSequence()
    seed_a, seed_b = seq.spawn(2)
    means = bootstrap_means(a, n_resamples, seed_a) - bootstrap_means(b, n_resamples, seed_b)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return (diff, float(low), float(high))
