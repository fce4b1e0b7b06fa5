"""Evaluation per variant (namespaced like training), zero-shot bases per size, a quality table."""

from kedro.pipeline import Node, Pipeline

from rulelens.pipelines.wiring import (
    bind,
    dotted_names_expected,
    namespaced,
    variant_branches,
    with_fixed,
    with_named_inputs,
)
from rulelens.variant_grid import ZERO_SHOT, Variant, evaluated_namespaces, load_grid, sizes_of

from .nodes import build_rule_suites, evaluate_variant, evaluate_zero_shot, quality_table


def variant_pipeline(variant: Variant) -> Pipeline:
    template = Pipeline(
        [
            Node(
                func=bind(evaluate_variant, variant),
                inputs=[
                    "checkpoint",
                    "study_clauses",
                    "rule_suites",
                    "params:evaluation",
                    "params:prompt",
                    "generation_progress",
                ],
                outputs=["generated_rules", "evaluation_metrics"],
                name="evaluate_variant",
            )
        ]
    )
    return namespaced(
        template,
        variant,
        stage="evaluation",
        shared_inputs={"study_clauses", "rule_suites"},
        parameters={"params:evaluation", "params:prompt"},
    )


def zero_shot_pipeline(size: str) -> Pipeline:
    """The untuned base of ``size`` under ``zero_shot.<size>``: the reference row of each size."""
    template = Pipeline(
        [
            Node(
                func=with_fixed(evaluate_zero_shot, size=size),
                inputs=[
                    "study_clauses",
                    "rule_suites",
                    "params:evaluation",
                    "params:prompt",
                    "params:training",
                    "generation_progress",
                ],
                outputs=["generated_rules", "evaluation_metrics"],
                name="evaluate_zero_shot",
            )
        ]
    )
    return Pipeline(
        template,
        namespace=f"{ZERO_SHOT}.{size}",
        inputs={"study_clauses", "rule_suites"},
        parameters={"params:evaluation", "params:prompt", "params:training"},
        tags={"evaluation", ZERO_SHOT, size},
    )


def suite_pipeline() -> Pipeline:
    """One distilled test suite per study clause, built once and read by every model's evaluation."""
    return Pipeline(
        [
            Node(
                func=build_rule_suites,
                inputs=["study_clauses", "params:evaluation"],
                outputs=["rule_suites", "rule_suite_summary"],
                name="build_rule_suites",
            )
        ],
        tags={"evaluation"},
    )


def quality_pipeline(namespaces: list[str]) -> Pipeline:
    """Cross-variant quality table (strategy x size -> metric mean and 95% CI), keyed by namespace."""
    with dotted_names_expected():
        return Pipeline(
            [
                Node(
                    func=with_named_inputs(quality_table),
                    inputs={name: f"{name}.evaluation_metrics" for name in namespaces},
                    outputs="quality_summary",
                    name="summarise_quality",
                ),
            ],
            tags={"evaluation"},
        )


def create_pipeline(**kwargs) -> Pipeline:
    variants = kwargs.get("variants") or load_grid()
    return (
        suite_pipeline()
        + quality_pipeline(evaluated_namespaces(variants))
        + variant_branches(variant_pipeline, variants)
        + sum((zero_shot_pipeline(size) for size in sizes_of(variants)), Pipeline([]))
    )
