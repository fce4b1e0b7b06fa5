"""Attribution per variant (namespaced like training) plus cross-variant heatmaps."""

from kedro.pipeline import Node, Pipeline

from rulelens.pipelines.training.pipeline import bind, dotted_names_expected, namespaced
from rulelens.variants import Variant, load_grid

from .nodes import attribute_variant, render_heatmaps


def variant_pipeline(variant: Variant) -> Pipeline:
    template = Pipeline(
        [
            Node(
                bind(attribute_variant, variant),
                ["checkpoint", "study_clauses", "params:attribution", "params:prompt"],
                ["attributions", "attribution_metrics", "faithfulness_curves", "lds_scores"],
                name="attribute_variant",
            )
        ]
    )
    return namespaced(template, variant, "attribution", {"study_clauses"}, {"params:attribution", "params:prompt"})


def create_pipeline(**kwargs) -> Pipeline:
    variants = kwargs.get("variants") or load_grid()
    with dotted_names_expected():
        shared = Pipeline(
            [
                Node(
                    render_heatmaps,
                    ["study_clauses", *[f"{v.namespace}.attributions" for v in variants]],
                    "attribution_heatmaps",
                    name="render_attribution_heatmaps",
                ),
            ],
            tags={"attribution"},
        )
    return shared + sum((variant_pipeline(v) for v in variants), Pipeline([]))
