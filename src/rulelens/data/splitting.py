"""Deterministic train/validation/test assignment: from a seed, or from a given split column.

Repeated clauses never straddle splits: rows whose text is the same after normalisation (case
and whitespace) form one group, and a group goes to one split as a whole, so a test clause is
never one the model was trained on in another spelling.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SPLITS = ("train", "validation", "test")


def normalised_text(text: str) -> str:
    """The text a repeat is recognised by: case-folded, whitespace runs collapsed, ends stripped."""
    return " ".join(str(text).casefold().split())


def repeat_counts(texts: pd.Series) -> dict[str, int]:
    """Rows that repeat an earlier row: ``exact`` (same text) and ``near_exact`` (same after normalising only)."""
    exact = texts.astype(str).duplicated()
    normalised = texts.map(normalised_text).duplicated()
    groups = texts.map(normalised_text).value_counts()
    return {
        "exact": int(exact.sum()),
        "near_exact": int((normalised & ~exact).sum()),
        "groups": int((groups > 1).sum()),
    }


def assign_splits(clauses: pd.DataFrame, fractions: dict[str, float], seed: int) -> pd.Series:
    """Split labels for each row, reproducible from ``seed`` whatever the row order.

    Rows with the same normalised clause text form a group that is placed as a whole. Groups are
    ordered by their smallest ``clause_id`` before the seeded permutation, so re-ordering the
    input file does not move a clause to another split (with no repeats every group is one row
    and this is a plain seeded permutation of the rows). Every split with a positive fraction
    gets at least one row when there are enough rows.
    """
    _check_fractions(fractions)
    keys = clauses["clause"].map(normalised_text) if "clause" in clauses else clauses["clause_id"].astype(str)
    ordered = clauses.assign(_key=keys).sort_values("clause_id", kind="stable")
    groups = list(ordered.groupby("_key", sort=False).groups.values())  # in order of first clause id
    permuted = [groups[i] for i in np.random.default_rng(seed).permutation(len(groups))]
    counts = _split_counts(len(clauses), fractions)
    labels = pd.Series(index=clauses.index, dtype=object)
    filled = {name: 0 for name in SPLITS}
    current = 0
    for members in permuted:
        while current < len(SPLITS) - 1 and filled[SPLITS[current]] >= counts[SPLITS[current]]:
            current += 1
        labels.loc[members] = SPLITS[current]
        filled[SPLITS[current]] += len(members)
    return labels


def keep_repeats_together(labels: pd.Series, texts: pd.Series) -> tuple[pd.Series, int]:
    """A given split column with repeats across splits: every row of a group takes its first row's split.

    Returns (labels, rows moved). Used when the data brings its own split, which is honoured
    except where it would put one clause (up to case and whitespace) on both sides.
    """
    keys = texts.map(normalised_text)
    first = labels.groupby(keys, sort=False).transform("first")
    moved = int((first != labels).sum())
    return first, moved


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
