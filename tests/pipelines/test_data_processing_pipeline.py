"""The data_processing pipeline in memory: the shipped corpus (plus a broken row) through ``create_pipeline()``."""

from __future__ import annotations

import pandas as pd

from rulelens.pipelines.data_processing import create_pipeline
from rulelens.words import CATEGORIES
from tests.pipelines.memory_run import conf_parameters, param_inputs, run_in_memory
from tests.project_copy import PROJECT


def raw_clauses() -> pd.DataFrame:
    """The shipped corpus read as the catalog reads it, with one row lacking its rule."""
    frame = pd.read_csv(
        PROJECT / "data" / "01_raw" / "building_code_rules.csv",
        dtype=str,
        keep_default_na=False,
        na_values=[""],
        encoding="utf-8",
    )
    broken = {**frame.iloc[0].to_dict(), "clause_id": "broken-1", "rule": None}
    return pd.concat([frame, pd.DataFrame([broken])], ignore_index=True)


def test_the_pipeline_prepares_clauses_words_and_the_study_sample():
    params = conf_parameters("test")
    raw = raw_clauses()
    out = run_in_memory(
        create_pipeline(), {"raw_clauses": raw, **param_inputs(params, "data_processing", "data_processing.selection")}
    )
    assert set(out) == {
        "validated_clauses",
        "rejected_clauses",
        "clauses",
        "clause_words",
        "corpus_summary",
        "study_clauses",
    }
    clauses, words = out["clauses"], out["clause_words"]
    assert "broken-1" in set(out["rejected_clauses"]["clause_id"]) and "broken-1" not in set(clauses["clause_id"])
    assert len(clauses) == len(raw) - len(out["rejected_clauses"]) and clauses["clause_id"].is_unique
    assert set(clauses["split"]) == {"train", "validation", "test"}
    assert set(words["clause_id"]) == set(clauses["clause_id"]) and set(words["category"]) <= set(CATEGORIES)
    assert {"rows", "split", "category_share"} <= set(out["corpus_summary"]["section"])
    study = out["study_clauses"]  # conf/test: 3 test-split clauses of at most 32 words
    assert len(study) == params["data_processing"]["selection"]["n_clauses"] == 3
    assert set(study["clause_id"]) <= set(clauses.loc[clauses["split"] == "test", "clause_id"])
    assert (study["n_words"] <= 32).all()
