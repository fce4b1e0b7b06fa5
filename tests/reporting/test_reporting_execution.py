"""The report's execution sections, through the real reporting pipeline on constructed tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rulelens.evaluation.execution import SUITE_SUMMARY_COLUMNS
from tests.reporting import study_fixtures as fx
from tests.reporting.conftest import PARAMS, run_reporting


def with_execution(inputs: dict) -> dict:
    rng = np.random.default_rng(5)
    rules = []
    for table in inputs["generated_rules"]:
        n = len(table)
        match = rng.random(n) < 0.4
        rules.append(
            table.assign(
                exec_match=match,
                exec_agreement=np.where(match, 1.0, rng.uniform(0, 0.9, n)),
                equivalence=np.where(match, "proved_equivalent", "proved_different"),
                counterexample="",
                diagnosis=np.where(match, "", "wrong constant"),
                constants_right=(rng.random(n) < 0.5).astype(float),
                conditions_right=(rng.random(n) < 0.5).astype(float),
            )
        )
    summary = pd.DataFrame([[c, 5, 20, 400, 18, 18, 1.0, ""] for c in fx.clause_ids()], columns=SUITE_SUMMARY_COLUMNS)
    return {**inputs, "generated_rules": rules, "rule_suite_summary": summary}


def test_the_report_shows_execution_quality_diagnoses_and_the_attribution_link():
    params = {**PARAMS, "quality_metrics": ["exec_match", "exec_agreement", "semantic_similarity", "chrf", "valid"]}
    study = run_reporting(with_execution(fx.study_inputs(planted=True)), params)
    page = str(study["study_report"])
    assert "Rule quality by execution" in page and "Where the model looks and whether it translated right" in page
    assert "180 of the 180 neighbours" in page
    mismatches = study["execution_mismatches"]
    assert set(mismatches["diagnosis"]) == {"wrong constant"} and (mismatches["rules"] <= mismatches["of"]).all()
    link = study["attribution_correctness"].set_index("outcome")
    assert link.loc["constants_right", "n_clauses"] == fx.N_CLAUSES
    comparisons = study["strategy_comparisons"]
    assert "exec_match" in set(comparisons.loc[comparisons["family"] == "quality", "metric"])
