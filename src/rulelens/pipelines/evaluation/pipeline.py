"""Evaluation per variant (namespaced like training), zero-shot bases per size, a quality table."""

from kedro.pipeline import Node, Pipeline

from rulelens.pipelines.training.pipeline import bind, dotted_names_expected, namespaced, with_fixed
from rulelens.variants import Variant, evaluated_namespaces, load_grid, sizes_of

from .nodes import ZERO_SHOT, evaluate_variant, evaluate_zero_shot, quality_table


def variant_pipeline(variant: Variant) -> Pipeline:
    template = Pipeline(
        [
            Node(
                bind(evaluate_variant, variant),
                ["checkpoint", "study_clauses", "params:evaluation", "params:prompt"],
                ["generated_rules", "evaluation_metrics"],
                name="evaluate_variant",
            )
        ]
    )
    return namespaced(template, variant, "evaluation", {"study_clauses"}, {"params:evaluation", "params:prompt"})


def zero_shot_pipeline(size: str) -> Pipeline:
    node_function = with_fixed(evaluate_zero_shot, size=size)
    template = Pipeline(
        [Node(node_function, ["study_clauses", "params:evaluation", "params:prompt", "params:training"],
              ["generated_rules", "evaluation_metrics"], name="evaluate_zero_shot")]
    )
    return Pipeline(template, namespace=f"{ZERO_SHOT}.{size}", inputs={"study_clauses"},
                    parameters={"params:evaluation", "params:prompt", "params:training"}, tags={"evaluation", ZERO_SHOT, size})


def create_pipeline(**kwargs) -> Pipeline:
    variants = kwargs.get("variants") or load_grid()
    sizes = sizes_of(variants)
    names = evaluated_namespaces(variants)

    def summarise(*metrics):
        """Cross-variant quality table (strategy x size -> metric mean and 95% CI)."""
        return quality_table(*zip(names, metrics))

    with dotted_names_expected():
        shared = Pipeline(
            [
                Node(summarise, [f"{name}.evaluation_metrics" for name in names], "quality_summary", name="summarise_quality"),
            ],
            tags={"evaluation"},
        )
    return (
        shared
        + sum((variant_pipeline(v) for v in variants), Pipeline([]))
        + sum((zero_shot_pipeline(size) for size in sizes), Pipeline([]))
    )
