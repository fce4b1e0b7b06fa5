"""Cross-variant statistics, figures and the HTML report (docs/statistics.md)."""

from kedro.pipeline import Node, Pipeline

from rulelens.pipelines.wiring import dotted_names_expected, with_named_inputs
from rulelens.reporting.figure_registry import FIGURE_DATASETS
from rulelens.variant_grid import evaluated_namespaces, load_grid

from . import nodes
from .nodes import REPORT_INPUTS

PARAMS = "params:reporting"


def stacking_pipeline(names: list[str], quality_names: list[str]) -> Pipeline:
    """Every variant's tables stacked into one study table each (strategy, size, n_params columns)."""
    return Pipeline(
        [
            Node(
                func=with_named_inputs(nodes.collect_variants),
                inputs={n: f"{n}.training_metrics" for n in names},
                outputs="report_variants",
                name="collect_variants",
            ),
            Node(
                func=nodes.stack_attributions,
                inputs=["report_variants", *[f"{n}.attributions" for n in names]],
                outputs="report_attributions",
                name="stack_attributions",
            ),
            Node(
                func=nodes.stack_quality,
                inputs=["report_variants", *[f"{n}.generated_rules" for n in quality_names]],
                outputs="report_quality",
                name="stack_quality",
            ),
            Node(
                func=nodes.stack_faithfulness,
                inputs=["report_variants", *[f"{n}.faithfulness_curves" for n in names]],
                outputs=["report_faithfulness_curves", "faithfulness_aopc"],
                name="stack_faithfulness",
            ),
            Node(
                func=nodes.stack_lds,
                inputs=["report_variants", *[f"{n}.lds_scores" for n in names]],
                outputs="report_lds_scores",
                name="stack_lds",
            ),
        ]
    )


def statistics_pipeline() -> Pipeline:
    """The study's statistics on the stacked tables (docs/statistics.md)."""
    return Pipeline(
        [
            Node(
                func=nodes.summarise_focus,
                inputs=["report_attributions", PARAMS],
                outputs=["clause_focus", "focus_summary"],
                name="summarise_focus",
            ),
            Node(
                func=nodes.summarise_categories,
                inputs=["report_attributions", PARAMS],
                outputs=["clause_categories", "category_summary"],
                name="summarise_categories",
            ),
            Node(
                func=nodes.compare_strategies,
                inputs=["clause_focus", "clause_categories", "report_quality", PARAMS],
                outputs="strategy_comparisons",
                name="compare_strategies",
            ),
            Node(
                func=nodes.measure_agreement,
                inputs=["report_attributions", PARAMS],
                outputs=["agreement_pairs", "agreement_matrix"],
                name="measure_agreement",
            ),
            Node(
                func=nodes.trend_with_scale,
                inputs=["clause_focus", "clause_categories", "report_quality", PARAMS],
                outputs="scale_trends",
                name="trend_with_scale",
            ),
            Node(
                func=nodes.summarise_quality,
                inputs=["report_quality", PARAMS],
                outputs=["quality_by_variant", "quality_plateaus"],
                name="summarise_quality_by_size",
            ),
            Node(
                func=nodes.tabulate_mismatches,
                inputs="report_quality",
                outputs="execution_mismatches",
                name="tabulate_execution_mismatches",
            ),
            Node(
                func=nodes.link_attribution_to_correctness,
                inputs=["clause_categories", "report_quality"],
                outputs="attribution_correctness",
                name="link_attribution_to_correctness",
            ),
            Node(
                func=nodes.check_faithfulness,
                inputs=["report_faithfulness_curves", "faithfulness_aopc", PARAMS],
                outputs=["faithfulness_summary", "faithfulness_mean_curves"],
                name="check_faithfulness",
            ),
            Node(
                func=nodes.check_lds,
                inputs=["report_lds_scores", PARAMS],
                outputs="lds_summary",
                name="check_lds",
            ),
        ]
    )


def report_pipeline() -> Pipeline:
    """What the run was, the figures and the HTML report with its findings."""
    return Pipeline(
        [
            Node(
                func=nodes.collect_run_facts,
                inputs=[
                    "report_variants",
                    "study_clauses",
                    "strategy_comparisons",
                    "params:training",
                    "params:data_processing",
                    PARAMS,
                    "faithfulness_aopc",
                ],
                outputs="run_facts",
                name="collect_run_facts",
            ),
            Node(
                func=nodes.draw_figures,
                inputs={"reporting": PARAMS, **REPORT_INPUTS},
                outputs=dict(FIGURE_DATASETS),  # one catalog dataset per registered figure
                name="draw_figures",
            ),
            Node(
                func=nodes.write_report,
                inputs={"clauses": "study_clauses", "reporting": PARAMS, "facts": "run_facts", **REPORT_INPUTS},
                outputs=["study_report", "study_findings"],
                name="write_report",
            ),
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    variants = kwargs.get("variants") or load_grid()
    names = [v.namespace for v in variants]
    with dotted_names_expected():
        return Pipeline(
            stacking_pipeline(names, evaluated_namespaces(variants)) + statistics_pipeline() + report_pipeline(),
            tags={"reporting"},
        )
