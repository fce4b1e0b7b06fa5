"""Nodes of the data_processing pipeline: thin wrappers over rulelens' plain modules."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from rulelens.data.selection import select_study_clauses as select_clauses
from rulelens.data.splitting import assign_splits, keep_repeats_together, map_given_splits, repeat_counts
from rulelens.data.validation import ValidationSettings, rejection_summary, require_valid_rows, validate_rows
from rulelens.words import CATEGORIES
from rulelens.words.table import is_quantitative, words_frame

logger = logging.getLogger(__name__)

CLAUSE_COLUMNS = ["clause_id", "source_row", "split", "agency", "domain", "clause", "rule", "n_words", "quantitative"]


def validate_clauses(raw_clauses: pd.DataFrame, params: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check every row; valid rows continue, rejected rows keep their source row, field and reason."""
    settings = ValidationSettings.from_params(params)
    valid, rejected = validate_rows(raw_clauses, settings)
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(rejection_summary(rejected).items()))
    logger.info(
        "%s: %d rows read, %d valid, %d rejected%s",
        settings.source_file,
        len(raw_clauses),
        len(valid),
        len(rejected),
        f" ({kinds})" if kinds else "",
    )
    return valid, rejected


def prepare_clauses(validated: pd.DataFrame, rejected: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """Give every valid clause an id and a split; fail clearly when nothing valid remains."""
    clauses = require_valid_rows(validated, rejected, str(params["source_file"])).copy()
    if "clause_id" not in clauses:  # no id column (validation refuses a partly blank one)
        clauses["clause_id"] = [f"r{row:05d}" for row in clauses["source_row"]]
    clauses["clause_id"] = clauses["clause_id"].astype(str)
    if "split" in clauses:
        if not params["split_values"]:
            raise ValueError("a split column is mapped but data_processing.split_values is empty")
        given = map_given_splits(clauses["split"], {str(k): v for k, v in params["split_values"].items()})
        clauses["split"], moved = keep_repeats_together(given, clauses["clause"])
        if moved:
            logger.warning(
                "%d row(s) moved to the split of an earlier repeat of their clause text "
                "(case and whitespace ignored), so no clause is on both sides of a split",
                moved,
            )
    else:
        clauses["split"] = assign_splits(clauses, params["split_fractions"], int(params["seed"]))
    for optional in ("agency", "domain"):
        if optional not in clauses:
            clauses[optional] = "unknown"
    words = words_frame(clauses)
    clauses["n_words"] = clauses["clause_id"].map(words.groupby("clause_id").size()).fillna(0).astype(int)
    clauses["quantitative"] = clauses["clause"].map(is_quantitative)
    counts = clauses["split"].value_counts()
    logger.info("splits: %s", ", ".join(f"{name} {counts.get(name, 0)}" for name in ("train", "validation", "test")))
    return clauses[CLAUSE_COLUMNS].reset_index(drop=True)


def segment_clauses(clauses: pd.DataFrame) -> pd.DataFrame:
    """One row per clause word: char span, word index and category."""
    return words_frame(clauses)


def summarise_corpus(clauses: pd.DataFrame, clause_words: pd.DataFrame, rejected: pd.DataFrame) -> pd.DataFrame:
    """Long table (section, key, value) of corpus counts for the report layer."""
    rows: list[tuple[str, str, float]] = [
        ("rows", "valid", len(clauses)),
        ("rows", "rejected", len(rejected)),
    ]
    for section, column in (("split", "split"), ("agency", "agency"), ("domain", "domain")):
        rows += [(section, str(key), int(n)) for key, n in clauses[column].value_counts().sort_index().items()]
    n_quantitative = int(clauses["quantitative"].sum())
    rows += [("kind", "quantitative", n_quantitative), ("kind", "qualitative", len(clauses) - n_quantitative)]
    rows += [
        (stat, "words_per_clause", float(getattr(clauses["n_words"], stat)())) for stat in ("mean", "median", "max")
    ]
    shares = clause_words["category"].value_counts(normalize=True)
    rows += [("category_share", category, float(shares.get(category, 0.0))) for category in CATEGORIES]
    rows += [("rejected", kind, n) for kind, n in sorted(rejection_summary(rejected).items())]
    repeats = repeat_counts(clauses["clause"])
    rows += [
        ("repeats", "exact_repeats", repeats["exact"]),
        ("repeats", "near_exact_repeats", repeats["near_exact"]),
        ("repeats", "groups_kept_in_one_split", repeats["groups"]),
    ]
    return pd.DataFrame(rows, columns=["section", "key", "value"])


def select_study_clauses(
    clauses: pd.DataFrame, corpus_summary: pd.DataFrame, selection: dict[str, Any]
) -> pd.DataFrame:
    """The clauses every variant is evaluated and explained on: one seeded, stratified sample.

    See :mod:`rulelens.data.selection`; ``selection`` is ``data_processing.selection``. The corpus
    summary is an input only so that this node runs last: a selection the data cannot meet
    stops the run with its message after every data_processing table has been written.
    """
    return select_clauses(clauses, selection)
