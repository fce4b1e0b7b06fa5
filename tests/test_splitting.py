"""Deterministic splits from a seed, and honouring a given split column."""

import pandas as pd
import pytest

from rulelens.splitting import assign_splits, map_given_splits

FRACTIONS = {"train": 0.8, "validation": 0.1, "test": 0.1}


def clauses(n):
    return pd.DataFrame({"clause_id": [f"c{i:03d}" for i in range(n)]})


def test_same_seed_same_split_whatever_the_row_order():
    frame = clauses(50)
    first = assign_splits(frame, FRACTIONS, seed=7)
    shuffled = frame.sample(frac=1, random_state=3)
    second = assign_splits(shuffled, FRACTIONS, seed=7)
    assert first.to_dict() == second.to_dict()


def test_other_seed_other_split_and_sizes_follow_fractions():
    frame = clauses(50)
    a, b = assign_splits(frame, FRACTIONS, 1), assign_splits(frame, FRACTIONS, 2)
    assert not a.equals(b)
    assert a.value_counts().to_dict() == {"train": 40, "validation": 5, "test": 5}


def test_small_data_still_gets_every_split():
    assert set(assign_splits(clauses(3), FRACTIONS, 0)) == {"train", "validation", "test"}


def test_bad_fractions_are_refused():
    with pytest.raises(ValueError, match="sum to 1"):
        assign_splits(clauses(10), {"train": 0.5, "test": 0.1}, 0)


def test_given_split_column_is_mapped():
    mapped = map_given_splits(pd.Series(["1", "2", "3", 1.0]), {"1": "train", "2": "validation", "3": "test"})
    assert list(mapped) == ["train", "validation", "test", "train"]
