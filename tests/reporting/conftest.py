"""Run the reporting nodes in pipeline order on constructed tables (no Kedro, no models)."""

from __future__ import annotations

import pytest

from rulelens.pipelines.reporting import nodes
from tests.reporting.study_fixtures import study_inputs

PARAMS = {
    "title": "fixture report", "dataset": "fixture", "alpha": 0.05, "top_k": 3, "n_resamples": 300, "seed": 0,
    "quality_metrics": ["semantic_similarity", "chrf", "valid"],
    "plateau": {"metric": "semantic_similarity", "models": ["saturating", "hinge"], "epsilon": 0.05},
    "heatmap_examples": 2,
}


def run_reporting(inputs: dict, params: dict = PARAMS) -> dict:
    """Every reporting output, computed by the node functions the pipeline wires together."""
    out = {"params": params, "attribution_clauses": inputs["attribution_clauses"]}
    out["report_variants"] = nodes.collect_variants(*inputs["training_metrics"], names=inputs["names"])
    out["report_attributions"] = nodes.stack_attributions(out["report_variants"], *inputs["attributions"])
    out["report_quality"] = nodes.stack_quality(out["report_variants"], *inputs["generated_rules"])
    out["report_faithfulness_curves"], out["faithfulness_aopc"] = nodes.stack_faithfulness(
        out["report_variants"], *inputs["faithfulness_curves"])
    out["clause_focus"], out["focus_summary"] = nodes.summarise_focus(out["report_attributions"], params)
    out["clause_categories"], out["category_summary"] = nodes.summarise_categories(out["report_attributions"], params)
    out["strategy_comparisons"] = nodes.compare_strategies(out["clause_focus"], out["clause_categories"],
                                                           out["report_quality"], params)
    out["agreement_pairs"], out["agreement_matrix"] = nodes.measure_agreement(out["report_attributions"], params)
    out["scale_trends"] = nodes.trend_with_scale(out["clause_focus"], out["clause_categories"], out["report_quality"], params)
    out["quality_by_variant"], out["quality_plateaus"] = nodes.summarise_quality(out["report_quality"], params)
    out["faithfulness_summary"], out["faithfulness_mean_curves"] = nodes.check_faithfulness(
        out["report_faithfulness_curves"], out["faithfulness_aopc"], params)
    tables = [out[name] for name in nodes.REPORT_INPUTS]
    out["figures"] = nodes.draw_figures(params, *tables)
    out["study_report"], out["study_findings"] = nodes.write_report(out["attribution_clauses"], params, *tables)
    return out


@pytest.fixture(scope="session")
def planted_study():
    return run_reporting(study_inputs(planted=True))


@pytest.fixture(scope="session")
def null_study():
    return run_reporting(study_inputs(planted=False))
