"""Clause words as a table: one row per word with its span, index and category."""

from __future__ import annotations

import pandas as pd

from rulelens.data.rule_format import clause_numbers
from rulelens.words.split import CATEGORIES, split_words

WORD_COLUMNS = ["clause_id", "split", "word_index", "word", "char_start", "char_end", "category"]


def words_frame(clauses: pd.DataFrame) -> pd.DataFrame:
    """Every clause's words with their character spans and categories (docs/method.md)."""
    rows = [
        (clause_id, split, w.index, w.text, w.start, w.end, w.category)
        for clause_id, split, clause in zip(clauses["clause_id"], clauses["split"], clauses["clause"])
        for w in split_words(clause)
    ]
    frame = pd.DataFrame(rows, columns=WORD_COLUMNS)
    frame["category"] = pd.Categorical(frame["category"], categories=list(CATEGORIES))
    return frame


def is_quantitative(clause: str) -> bool:
    """A clause is quantitative when it states at least one numerical constraint."""
    return bool(clause_numbers(clause))
