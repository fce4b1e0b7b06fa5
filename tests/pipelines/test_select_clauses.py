"""The study's clauses: one seeded, stratified sample shared by evaluation and attribution."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from rulelens.data.selection import SELECTION_COLUMNS, allocate
from rulelens.data.selection import select_study_clauses as select_plain
from rulelens.pipelines.data_processing.nodes import select_study_clauses

PARAMS = {"split": "test", "n_clauses": 12, "max_words": None, "seed": 7, "strata": ["agency", "quantitative"]}


@pytest.fixture
def clauses():
    """60 test clauses in 4 uneven strata (NCC/SCDF x quantitative), plus train rows."""
    rng = np.random.default_rng(0)
    rows = []
    plan = {("NCC", True): 24, ("NCC", False): 12, ("SCDF", True): 18, ("SCDF", False): 6}
    number = 0
    for (agency, quantitative), count in plan.items():
        for _ in range(count):
            number += 1
            rows.append(
                {
                    "clause_id": f"c{number:03d}",
                    "split": "test",
                    "agency": agency,
                    "quantitative": quantitative,
                    "n_words": int(rng.integers(5, 60)),
                    "clause": f"clause {number}",
                    "rule": f"rule({number})",
                }
            )
    for extra in range(10):
        rows.append(
            {
                "clause_id": f"t{extra:03d}",
                "split": "train",
                "agency": "NCC",
                "quantitative": True,
                "n_words": 10,
                "clause": "x",
                "rule": "y",
            }
        )
    frame = pd.DataFrame(rows)
    return frame.sample(frac=1, random_state=1).reset_index(drop=True)  # input order must not matter


def test_proportional_stratified_sample(clauses):
    chosen = select_study_clauses(clauses, pd.DataFrame(), PARAMS)
    assert list(chosen.columns) == SELECTION_COLUMNS
    assert len(chosen) == 12 and chosen["clause_id"].is_unique
    assert list(chosen["clause_id"]) == sorted(chosen["clause_id"])
    assert set(chosen["clause_id"]) <= set(clauses.loc[clauses["split"] == "test", "clause_id"])
    pool = clauses[clauses["split"] == "test"]
    shares = pool.groupby(["agency", "quantitative"]).size() / len(pool)
    got = chosen.groupby(["agency", "quantitative"]).size()
    for key, share in shares.items():
        assert abs(got.get(key, 0) - share * 12) <= 1, (key, got.get(key, 0), share * 12)
    assert set(chosen["stratum"]) == {
        "agency=NCC | quantitative=True",
        "agency=NCC | quantitative=False",
        "agency=SCDF | quantitative=True",
        "agency=SCDF | quantitative=False",
    }
    first = chosen.iloc[0]
    assert first["stratum"] == f"agency={first['agency']} | quantitative={first['quantitative']}"


@pytest.mark.parametrize("n", [1, 3, 4, 5, 7, 11, 13, 29, 59])
def test_every_size_stays_within_one_of_the_proportional_share(clauses, n):
    chosen = select_plain(clauses, {**PARAMS, "n_clauses": n})
    pool = clauses[clauses["split"] == "test"]
    shares = pool.groupby(["agency", "quantitative"]).size() / len(pool)
    got = chosen.groupby(["agency", "quantitative"]).size()
    assert len(chosen) == n
    for key, share in shares.items():
        assert abs(got.get(key, 0) - share * n) <= 1
        if n >= len(shares):
            assert got.get(key, 0) >= 1  # every stratum represented where n allows


def test_allocation_largest_remainder():
    assert allocate({"a": 24, "b": 12, "c": 18, "d": 6}, 12) == {"a": 5, "b": 2, "c": 4, "d": 1}  # 4.8 2.4 3.6 1.2
    assert allocate({"a": 97, "b": 2, "c": 1}, 3) == {"a": 1, "b": 1, "c": 1}  # at least one each
    assert allocate({"a": 97, "b": 2, "c": 1}, 2) == {"a": 2, "b": 0, "c": 0}
    assert sum(allocate({"a": 5, "b": 5}, 20).values()) == 10


def test_seed_stable_and_seed_sensitive(clauses):
    first = select_plain(clauses, PARAMS)
    again = select_plain(clauses.iloc[::-1].reset_index(drop=True), PARAMS)
    other = select_plain(clauses, {**PARAMS, "seed": 8})
    pd.testing.assert_frame_equal(first, again)
    assert list(first["clause_id"]) != list(other["clause_id"])
    assert first["stratum"].value_counts().to_dict() == other["stratum"].value_counts().to_dict()


def test_max_words_filters_before_sampling(clauses):
    chosen = select_plain(clauses, {**PARAMS, "max_words": 20})
    assert (chosen["n_words"] <= 20).all() and len(chosen) == 12


def test_absent_or_constant_strata_are_skipped_and_logged(clauses, caplog):
    with caplog.at_level(logging.INFO, logger="rulelens.data.selection"):
        chosen = select_plain(clauses.assign(agency="NCC"), {**PARAMS, "strata": ["agency", "quantitative", "domain"]})
    assert set(chosen["stratum"]) == {"quantitative=True", "quantitative=False"}
    assert "'agency' is constant" in caplog.text and "'domain' is not in the data" in caplog.text
    unstratified = select_plain(clauses, {**PARAMS, "strata": []})
    assert set(unstratified["stratum"]) == {"all"} and len(unstratified) == 12


def test_too_few_clauses_selects_all_with_a_warning(clauses, caplog):
    with caplog.at_level(logging.WARNING, logger="rulelens.data.selection"):
        chosen = select_plain(clauses, {**PARAMS, "n_clauses": 100, "max_words": 20})
    available = int(((clauses["split"] == "test") & (clauses["n_words"] <= 20)).sum())
    assert len(chosen) == available
    assert "selection.n_clauses=100" in caplog.text and "selection.max_words=20" in caplog.text
    assert f"{available} of them" in caplog.text


def test_nothing_left_is_a_clear_error(clauses):
    with pytest.raises(ValueError, match=r"split 'test' has 60 clauses, 0 of them with at most selection.max_words=3"):
        select_plain(clauses, {**PARAMS, "max_words": 3})
    with pytest.raises(ValueError, match=r"split 'holdout' is empty.*selection.split"):
        select_plain(clauses, {**PARAMS, "split": "holdout"})
    with pytest.raises(ValueError, match=r"unknown key data_processing\.selection\.count"):
        select_plain(clauses, {**PARAMS, "count": 3})
