"""The study's clauses: one seeded, stratified sample that evaluation and attribution share.

Every variant is evaluated and explained on the same clauses, chosen once from one split:

1. the split's clauses (``selection.split``), keeping those of at most ``selection.max_words``
   words (attribution cost grows with words x target length; null keeps every length);
2. strata from the configured columns (``selection.strata``) that exist in the data and vary
   within the pool (an absent or constant column is skipped, and the log says so);
3. ``selection.n_clauses`` spread over the strata in proportion to their size (largest-remainder
   method, at least one clause per stratum where ``n_clauses`` allows);
4. within each stratum a seeded random sample (``selection.seed``): the same seed and data give
   the same clauses, whatever the input row order.

Plain pandas/numpy; no Kedro.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

from rulelens.param_blocks import ParameterError, check_block

logger = logging.getLogger(__name__)

SELECTION_COLUMNS = ["clause_id", "clause", "rule", "agency", "quantitative", "n_words", "stratum"]
ALL_STRATUM = "all"
SELECTION_BLOCK = "data_processing.selection"
SELECTION_SOURCE = "conf/base/parameters_data_processing.yml"  # declares every key of data_processing.selection


@dataclass(frozen=True)
class SelectionSettings:
    """Every key of ``data_processing.selection`` (``conf/base/parameters_data_processing.yml``).

    The values live in conf/ only: a missing or unknown key stops the run naming it
    (:mod:`rulelens.param_blocks`).
    """

    split: str
    n_clauses: int | None  # None: every clause of the split within max_words
    max_words: int | None  # None: any length
    seed: int
    strata: tuple[str, ...]

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | SelectionSettings) -> SelectionSettings:
        if isinstance(params, SelectionSettings):
            return params
        check_block(params, SELECTION_BLOCK, [f.name for f in fields(cls)], SELECTION_SOURCE)
        values = dict(params)
        values["strata"] = tuple(values["strata"] or ())
        for key in ("n_clauses", "max_words"):
            if values[key] is not None:
                values[key] = int(values[key])
                if values[key] < 1:
                    raise ParameterError(f"{SELECTION_BLOCK}.{key} must be >= 1 or null, got {values[key]}")
        values["seed"] = int(values["seed"])
        return cls(**values)


@dataclass
class _Pool:
    frame: pd.DataFrame
    split_size: int
    notes: list[str] = field(default_factory=list)


def eligible_pool(clauses: pd.DataFrame, settings: SelectionSettings) -> _Pool:
    """The split's clauses within ``max_words``, ordered by clause_id; fails when none remain."""
    in_split = clauses[clauses["split"] == settings.split]
    pool = in_split if settings.max_words is None else in_split[in_split["n_words"] <= settings.max_words]
    if pool.empty:
        if in_split.empty:
            raise ValueError(
                f"no clauses to select: split {settings.split!r} is empty ({len(clauses)} clauses in all, "
                f"splits {sorted(map(str, clauses['split'].unique()))}); set selection.split in "
                f"parameters_data_processing.yml to a split that has clauses"
            )
        raise ValueError(
            f"no clauses to select: split {settings.split!r} has {len(in_split)} clauses, 0 of them with at most "
            f"selection.max_words={settings.max_words} words (shortest has {int(in_split['n_words'].min())}); "
            f"raise selection.max_words or set it to null in parameters_data_processing.yml"
        )
    return _Pool(pool.sort_values("clause_id", kind="stable").reset_index(drop=True), len(in_split))


def strata_columns(pool: pd.DataFrame, wanted: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(columns used as strata, a note for each skipped one)."""
    used, notes = [], []
    for column in wanted:
        if column not in pool:
            notes.append(f"stratum column {column!r} is not in the data; not stratifying by it")
        elif pool[column].astype(str).nunique() < 2:
            notes.append(f"stratum column {column!r} is constant in the pool; not stratifying by it")
        else:
            used.append(column)
    return used, notes


def stratum_labels(pool: pd.DataFrame, columns: list[str]) -> pd.Series:
    """A readable label per row, e.g. ``agency=NCC | quantitative=True`` (``all`` without strata)."""
    if not columns:
        return pd.Series(ALL_STRATUM, index=pool.index, dtype=object)
    parts = [
        column + "=" + pool[column].astype(object).where(pool[column].notna(), "missing").astype(str)
        for column in columns
    ]
    labels = parts[0]
    for part in parts[1:]:
        labels = labels + " | " + part
    return labels


def allocate(sizes: dict[str, int], n: int) -> dict[str, int]:
    """Clauses per stratum: proportional to ``sizes`` by the largest-remainder method.

    Each stratum gets at least one clause when ``n`` is at least the number of strata; ties in
    the remainders go to the larger stratum, then to the label in sort order (deterministic).
    Never more than a stratum holds; the counts sum to ``min(n, total)``.
    """
    total = sum(sizes.values())
    n = min(n, total)
    if n <= 0 or total == 0:
        return dict.fromkeys(sizes, 0)
    quotas = {label: n * size / total for label, size in sizes.items()}
    counts = {label: min(sizes[label], math.floor(q)) for label, q in quotas.items()}
    if n >= len(sizes):
        counts = {label: max(count, 1 if sizes[label] else 0) for label, count in counts.items()}

    def remainder_order(label: str) -> tuple:
        return (-(quotas[label] - counts[label]), -sizes[label], label)

    while sum(counts.values()) > n:  # minimum-one bumps overshot: take from the most over-served
        candidates = [label for label in counts if counts[label] > 1]
        label = min(candidates, key=lambda lb: (-(counts[lb] - quotas[lb]), sizes[lb], lb))
        counts[label] -= 1
    while sum(counts.values()) < n:
        open_strata = [label for label in counts if counts[label] < sizes[label]]
        label = min(open_strata, key=remainder_order)
        counts[label] += 1
    return counts


def select_study_clauses(clauses: pd.DataFrame, params: Mapping[str, Any] | SelectionSettings) -> pd.DataFrame:
    """The study's clauses (columns :data:`SELECTION_COLUMNS`, ordered by clause_id).

    ``clauses`` needs clause_id, clause, rule, split and n_words; agency and quantitative are
    carried when present. See the module docstring for the procedure.
    """
    settings = SelectionSettings.from_params(params)
    pool = eligible_pool(clauses, settings)
    frame = pool.frame
    columns, notes = strata_columns(frame, settings.strata)
    for note in notes:
        logger.info("selection: %s", note)
    frame = frame.assign(stratum=stratum_labels(frame, columns))
    wanted = settings.n_clauses if settings.n_clauses is not None else len(frame)
    if wanted > len(frame):
        limit = (
            f" with at most selection.max_words={settings.max_words} words" if settings.max_words is not None else ""
        )
        logger.warning(
            "selection: selection.n_clauses=%d asks for more clauses than available: split %r has %d clauses, "
            "%d of them%s; selecting all %d (lower selection.n_clauses or raise selection.max_words)",
            wanted,
            settings.split,
            pool.split_size,
            len(frame),
            limit,
            len(frame),
        )
    selected = stratified_subsample(frame, wanted, settings.seed).reset_index(drop=True)  # frame: by clause_id
    sizes = frame["stratum"].value_counts().sort_index().to_dict()
    counts = selected["stratum"].value_counts().to_dict()
    for optional in ("agency", "quantitative"):
        if optional not in selected:
            selected[optional] = None
    logger.info(
        "selection: %d of %d clauses in split %r (%d within max_words), seed %d, strata %s: %s",
        len(selected),
        pool.split_size,
        settings.split,
        len(frame),
        settings.seed,
        columns or "none",
        ", ".join(f"{label} {counts.get(label, 0)}/{sizes[label]}" for label in sorted(sizes)),
    )
    return selected[SELECTION_COLUMNS]


def stratified_subsample(selected: pd.DataFrame, n: int, seed: int | None) -> pd.DataFrame:
    """``n`` rows spread over the ``stratum`` labels: the study's draw, and the faithfulness clauses' draw from it.

    Largest-remainder allocation (:func:`allocate`: at least one row per stratum where ``n``
    allows), then a seeded sample within each stratum, strata in sorted order, so that a check run
    on a subset of the study's clauses (the faithfulness curves and LDS) sees every stratum instead
    of the first clauses by id. Rows keep their order; ``n`` >= the rows: all of them.
    """
    if n >= len(selected):
        return selected
    labels = selected["stratum"].astype(str) if "stratum" in selected else pd.Series(ALL_STRATUM, index=selected.index)
    sizes = labels.value_counts().sort_index().to_dict()
    counts = allocate(sizes, n)
    rng = np.random.default_rng(seed)
    keep: list = []
    for label in sorted(sizes):
        members = selected.index[labels == label]
        if counts[label]:
            keep.extend(members[np.sort(rng.choice(len(members), size=counts[label], replace=False))])
    kept = set(keep)
    return selected.loc[[i for i in selected.index if i in kept]]


def stratum_counts(selected: pd.DataFrame) -> pd.DataFrame:
    """Clauses per stratum of a selection (stratum, n), for the report."""
    counts = selected["stratum"].value_counts().sort_index()
    return pd.DataFrame({"stratum": counts.index.astype(str), "n": counts.to_numpy(dtype=int)})
