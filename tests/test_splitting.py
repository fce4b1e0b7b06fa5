"""Deterministic splits from a seed, and honouring a given split column."""

import pandas as pd
import pytest

from rulelens.data.splitting import assign_splits, map_given_splits

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


def test_repeats_up_to_case_and_whitespace_land_in_one_split():
    from rulelens.data.splitting import repeat_counts

    texts = [f"Clause number {i} shall apply." for i in range(40)]
    texts += ["CLAUSE NUMBER 3 shall  apply.", "Clause number 3 shall apply.", "clause number 7 SHALL apply. "]
    frame = pd.DataFrame({"clause_id": [f"c{i:03d}" for i in range(len(texts))], "clause": texts})
    for seed in range(20):
        labels = assign_splits(frame, FRACTIONS, seed)
        keys = frame["clause"].str.casefold().str.split().str.join(" ")
        assert labels.groupby(keys).nunique().max() == 1
        assert abs(labels.value_counts()["train"] - 0.8 * len(frame)) <= 3
    assert repeat_counts(frame["clause"]) == {"exact": 1, "near_exact": 2, "groups": 2}


def test_without_repeats_each_clause_is_its_own_group():
    frame = clauses(60).assign(clause=[f"text {i}" for i in range(60)])
    ids_only = clauses(60)
    for seed in (0, 42):
        assert assign_splits(frame, FRACTIONS, seed).equals(assign_splits(ids_only, FRACTIONS, seed))


def test_a_given_split_is_kept_except_where_a_repeat_would_straddle_it():
    from rulelens.data.splitting import keep_repeats_together

    labels = pd.Series(["train", "test", "test", "validation"])
    texts = pd.Series(["A rule.", "a  RULE.", "Other.", "Third."])
    kept, moved = keep_repeats_together(labels, texts)
    assert list(kept) == ["train", "train", "test", "validation"] and moved == 1
