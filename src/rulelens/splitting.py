"""Deterministic train/validation/test assignment: from a seed, or from a given split column."""

from __future__ import annotations

import numpy as np
import pandas as pd

SPLITS = ("train", "validation", "test")


def assign_splits(clauses: pd.DataFrame, fractions: dict[str, float], seed: int) -> pd.Series:
    """Split labels for each row, reproducible from ``seed`` whatever the row order.

    Rows are ordered by ``clause_id`` before the seeded permutation, so re-ordering the input
    file does not move a clause to another split. Every split with a positive fraction gets at
    least one row when there are enough rows.
    """
    _check_fractions(fractions)
    order = clauses["clause_id"].sort_values(kind="stable").index.to_numpy()
    permuted = order[np.random.default_rng(seed).permutation(len(order))]
    counts = _split_counts(len(order), fractions)
    labels = pd.Series(index=clauses.index, dtype=object)
    start = 0
    for name in SPLITS:
        labels.loc[permuted[start : start + counts[name]]] = name
        start += counts[name]
    return labels


def _check_fractions(fractions: dict[str, float]) -> None:
    unknown = set(fractions) - set(SPLITS)
    if unknown or any(v < 0 for v in fractions.values()) or abs(sum(fractions.values()) - 1) > 1e-6:
        raise ValueError(f"split fractions must be non-negative over {SPLITS} and sum to 1, got {fractions}")


def _split_counts(n_rows: int, fractions: dict[str, float]) -> dict[str, int]:
    """Rows per split: validation and test rounded (at least 1 if asked for), train the rest."""
    counts = {}
    for name in ("validation", "test"):
        share = fractions.get(name, 0.0)
        counts[name] = max(1, round(n_rows * share)) if share > 0 and n_rows >= 3 else round(n_rows * share)
    counts["train"] = n_rows - counts["validation"] - counts["test"]
    if counts["train"] < 0:
        raise ValueError(f"{n_rows} rows are too few for fractions {fractions}")
    return counts


def map_given_splits(values: pd.Series, split_values: dict[str, str]) -> pd.Series:
    """Translate a dataset's own split column (e.g. 1/2/3) into train/validation/test."""
    def key(value):
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value).strip()

    labels = values.map(lambda v: split_values.get(key(v)))
    bad = sorted(set(labels) - set(SPLITS))
    if bad:
        raise ValueError(f"split_values must map to {SPLITS}, got {bad}")
    return labels
