"""One training branch per variant, namespaced ``<strategy>.<size>`` (docs/configuration.md)."""

from kedro.pipeline import Node, Pipeline

from rulelens.pipelines.wiring import bind, namespaced, variant_branches
from rulelens.variant_grid import Variant, load_grid

from .nodes import prepare_base_model, train_variant


def variant_pipeline(variant: Variant) -> Pipeline:
    template = Pipeline(
        [
            Node(
                func=bind(prepare_base_model, variant),
                inputs="params:training",
                outputs="base_model",
                name="prepare_base_model",
            ),
            Node(
                func=bind(train_variant, variant),
                inputs=[
                    "base_model",
                    "clauses",
                    "params:training",
                    "params:prompt",
                    "params:data_processing",
                    "completed_checkpoint",
                ],
                outputs=["checkpoint", "training_metrics", "loss_history"],
                name="train_variant",
            ),
        ]
    )
    return namespaced(
        template,
        variant,
        stage="training",
        shared_inputs={"clauses"},
        parameters={"params:training", "params:prompt", "params:data_processing"},
    )


def create_pipeline(**kwargs) -> Pipeline:
    return variant_branches(variant_pipeline, kwargs.get("variants") or load_grid())
