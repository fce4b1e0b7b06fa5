"""Attribution per variant (namespaced like training) plus cross-variant heatmaps."""

from kedro.pipeline import Node, Pipeline

from rulelens.pipelines.wiring import bind, dotted_names_expected, namespaced, variant_branches
from rulelens.variant_grid import Variant, load_grid

from .nodes import attribute_variant, render_heatmaps


def variant_pipeline(variant: Variant) -> Pipeline:
    template = Pipeline(
        [
            Node(
                func=bind(attribute_variant, variant),
                inputs=["checkpoint", "study_clauses", "params:attribution", "params:prompt", "attribution_progress"],
                outputs=["attributions", "attribution_metrics", "faithfulness_curves", "lds_scores"],
                name="attribute_variant",
            )
        ]
    )
    return namespaced(
        template,
        variant,
        stage="attribution",
        shared_inputs={"study_clauses"},
        parameters={"params:attribution", "params:prompt"},
    )


def heatmap_pipeline(variants: list[Variant]) -> Pipeline:
    with dotted_names_expected():
        return Pipeline(
            [
                Node(
                    func=render_heatmaps,
                    inputs=["study_clauses", *[f"{v.namespace}.attributions" for v in variants]],
                    outputs="attribution_heatmaps",
                    name="render_attribution_heatmaps",
                ),
            ],
            tags={"attribution"},
        )


def create_pipeline(**kwargs) -> Pipeline:
    variants = kwargs.get("variants") or load_grid()
    return heatmap_pipeline(variants) + variant_branches(variant_pipeline, variants)
