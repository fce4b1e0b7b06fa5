"""Cross-variant statistics, figures and the HTML report (docs/statistics.md)."""

from kedro.pipeline import Node, Pipeline

from rulelens.pipelines.training.pipeline import dotted_names_expected, with_fixed
from rulelens.variants import evaluated_namespaces, load_grid

from . import nodes
from .nodes import FIGURES, REPORT_INPUTS


def create_pipeline(**kwargs) -> Pipeline:
    variants = kwargs.get("variants") or load_grid()
    names = [v.namespace for v in variants]
    quality_names = evaluated_namespaces(variants)
    params = "params:reporting"
    with dotted_names_expected():
        return _reporting_pipeline(names, quality_names, params)


def _reporting_pipeline(names: list[str], quality_names: list[str], params: str) -> Pipeline:
    return Pipeline(
        [
            Node(with_fixed(nodes.collect_variants, names=names), [f"{n}.training_metrics" for n in names],
                 "report_variants", name="collect_variants"),
            Node(nodes.stack_attributions, ["report_variants", *[f"{n}.attributions" for n in names]],
                 "report_attributions", name="stack_attributions"),
            Node(nodes.stack_quality, ["report_variants", *[f"{n}.generated_rules" for n in quality_names]],
                 "report_quality", name="stack_quality"),
            Node(nodes.stack_faithfulness, ["report_variants", *[f"{n}.faithfulness_curves" for n in names]],
                 ["report_faithfulness_curves", "faithfulness_aopc"], name="stack_faithfulness"),
            Node(nodes.stack_lds, ["report_variants", *[f"{n}.lds_scores" for n in names]], "report_lds_scores",
                 name="stack_lds"),
            Node(nodes.summarise_focus, ["report_attributions", params], ["clause_focus", "focus_summary"],
                 name="summarise_focus"),
            Node(nodes.summarise_categories, ["report_attributions", params], ["clause_categories", "category_summary"],
                 name="summarise_categories"),
            Node(nodes.compare_strategies, ["clause_focus", "clause_categories", "report_quality", params],
                 "strategy_comparisons", name="compare_strategies"),
            Node(nodes.measure_agreement, ["report_attributions", params], ["agreement_pairs", "agreement_matrix"],
                 name="measure_agreement"),
            Node(nodes.trend_with_scale, ["clause_focus", "clause_categories", "report_quality", params],
                 "scale_trends", name="trend_with_scale"),
            Node(nodes.summarise_quality, ["report_quality", params], ["quality_by_variant", "quality_plateaus"],
                 name="summarise_quality_by_size"),
            Node(nodes.check_faithfulness, ["report_faithfulness_curves", "faithfulness_aopc", params],
                 ["faithfulness_summary", "faithfulness_mean_curves"], name="check_faithfulness"),
            Node(nodes.check_lds, ["report_lds_scores", params], "lds_summary", name="check_lds"),
            Node(nodes.collect_run_facts,
                 ["report_variants", "study_clauses", "strategy_comparisons", "params:training",
                  "params:data_processing", params],
                 "run_facts", name="collect_run_facts"),
            Node(nodes.draw_figures, {"reporting": params, **REPORT_INPUTS},
                 {name: f"figure_{name}" for name in FIGURES}, name="draw_figures"),
            Node(nodes.write_report,
                 {"clauses": "study_clauses", "reporting": params, "facts": "run_facts", **REPORT_INPUTS},
                 ["study_report", "study_findings"], name="write_report"),
        ],
        tags={"reporting"},
    )
