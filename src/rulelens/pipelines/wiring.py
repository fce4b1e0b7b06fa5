"""Helpers every stage's ``pipeline.py`` wires with: fixed node arguments and variant branches.

Each variant of the strategy x size grid is the same template pipeline under the namespace
``<strategy>.<size>`` (docs/configuration.md); cross-variant nodes read those namespaced datasets
by name. Node functions stay plain module-level functions: the helpers here return
``functools.partial`` objects that keep the function's name and docstring for kedro-viz.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial, update_wrapper
from typing import Any

from kedro.pipeline import Pipeline

from rulelens.variant_grid import Variant


def with_fixed(function: Callable, **fixed: Any) -> Callable:
    """``function`` with keyword arguments fixed, keeping its name and docstring for kedro-viz."""
    return update_wrapper(partial(function, **fixed), function)


def bind(function: Callable, variant: Variant) -> Callable:
    """``function`` with its variant fixed (the node of one variant's branch)."""
    return with_fixed(function, variant=variant)


def _call_with_pairs(function: Callable, /, **named: Any) -> Any:
    return function(*named.items())


def with_named_inputs(function: Callable) -> Callable:
    """``function(*(name, value))`` fed from a node's dict inputs, so the names travel with the values."""
    return update_wrapper(partial(_call_with_pairs, function), function)


@contextmanager
def dotted_names_expected() -> Iterator[None]:
    """Cross-variant nodes read ``<strategy>.<size>.*`` datasets by design; silence Kedro's dot warning there."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="One or more dataset names contain '.'", category=UserWarning)
        yield


def namespaced(
    template: Pipeline, variant: Variant, stage: str, shared_inputs: set[str], parameters: set[str]
) -> Pipeline:
    """``template`` as the variant's branch: datasets prefixed ``<strategy>.<size>.``, shared
    inputs and parameters left as they are, tagged by stage, strategy and size."""
    return Pipeline(
        template,
        namespace=variant.namespace,
        inputs=shared_inputs,
        parameters=parameters,
        tags={stage, variant.strategy, variant.size},
    )


def variant_branches(branch: Callable[[Variant], Pipeline], variants: list[Variant]) -> Pipeline:
    """One ``branch(variant)`` per variant of the grid, as one pipeline."""
    return sum((branch(v) for v in variants), Pipeline([]))
