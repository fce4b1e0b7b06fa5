"""One training branch per variant, namespaced ``<strategy>.<size>`` (docs/configuration.md)."""

import warnings
from contextlib import contextmanager
from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from rulelens.variants import Variant, load_grid

from .nodes import prepare_base_model, train_variant


def with_fixed(function, **fixed):
    """``function`` with keyword arguments fixed, keeping its name and docstring for kedro-viz."""
    return update_wrapper(partial(function, **fixed), function)


def bind(function, variant: Variant):
    """``function`` with its variant fixed."""
    return with_fixed(function, variant=variant)


@contextmanager
def dotted_names_expected():
    """Cross-variant nodes read ``<strategy>.<size>.*`` datasets by design; silence Kedro's dot warning there."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="One or more dataset names contain '.'", category=UserWarning)
        yield


def namespaced(template: Pipeline, variant: Variant, stage: str, shared_inputs: set[str], parameters: set[str]) -> Pipeline:
    """``template`` as the variant's branch: datasets prefixed ``<strategy>.<size>.``, shared
    inputs and parameters left as they are, tagged by stage, strategy and size."""
    return Pipeline(template, namespace=variant.namespace, inputs=shared_inputs, parameters=parameters,
                    tags={stage, variant.strategy, variant.size})


def variant_pipeline(variant: Variant) -> Pipeline:
    template = Pipeline(
        [
            Node(bind(prepare_base_model, variant), "params:training", "base_model", name="prepare_base_model"),
            Node(
                bind(train_variant, variant),
                ["base_model", "clauses", "params:training", "params:prompt", "params:data_processing",
                 "completed_checkpoint"],
                ["checkpoint", "training_metrics", "loss_history"],
                name="train_variant",
            ),
        ]
    )
    return namespaced(template, variant, "training", {"clauses"},
                      {"params:training", "params:prompt", "params:data_processing"})


def create_pipeline(**kwargs) -> Pipeline:
    variants = kwargs.get("variants") or load_grid()
    return sum((variant_pipeline(v) for v in variants), Pipeline([]))
