"""The report's execution sections, through the real reporting pipeline on constructed tables."""

from __future__ import annotations

import pytest

from tests.reporting import study_fixtures as fx
from tests.reporting.conftest import PARAMS, run_reporting


@pytest.mark.slow
def test_the_report_shows_execution_quality_diagnoses_and_the_attribution_link():
    params = {**PARAMS, "quality_metrics": ["exec_match", "exec_agreement", "semantic_similarity", "chrf", "valid"]}
    study = run_reporting(fx.study_inputs(planted=True), params)
    page = str(study["study_report"])
    assert "Rule quality by execution" in page and "Where the model looks and whether it translated right" in page
    assert "180 of the 180 neighbours" in page
    mismatches = study["execution_mismatches"]
    assert set(mismatches["diagnosis"]) == {"wrong constant"} and (mismatches["rules"] <= mismatches["of"]).all()
    link = study["attribution_correctness"].set_index("outcome")
    assert link.loc["constants_right", "n_clauses"] == fx.N_CLAUSES
    comparisons = study["strategy_comparisons"]
    assert "exec_match" in set(comparisons.loc[comparisons["family"] == "quality", "metric"])
