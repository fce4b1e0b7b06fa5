"""Which test clauses every variant is evaluated and explained on."""

from __future__ import annotations

import pandas as pd
import pytest

from rulelens.pipelines.data_processing.nodes import select_clauses


@pytest.fixture
def clauses():
    return pd.DataFrame({
        "clause_id": ["c4", "c1", "c3", "c2", "c5"],
        "split": ["test", "test", "train", "test", "test"],
        "n_words": [10, 40, 5, 20, 30],
        "clause": list("abcde"), "rule": list("vwxyz"),
    })


def test_first_clauses_of_the_split_by_id(clauses):
    chosen = select_clauses(clauses, {"split": "test", "n_clauses": 2})
    assert list(chosen["clause_id"]) == ["c1", "c2"]
    assert list(chosen.columns) == ["clause_id", "clause", "rule"]


def test_max_words_skips_long_clauses_before_counting(clauses):
    chosen = select_clauses(clauses, {"split": "test", "n_clauses": 2, "max_words": 25})
    assert list(chosen["clause_id"]) == ["c2", "c4"]
    assert list(select_clauses(clauses, {"split": "test", "max_words": None})["clause_id"]) == ["c1", "c2", "c4", "c5"]


def test_nothing_left_is_a_clear_error(clauses):
    with pytest.raises(ValueError, match="no clauses in split 'test' with at most 3 words"):
        select_clauses(clauses, {"split": "test", "max_words": 3})
