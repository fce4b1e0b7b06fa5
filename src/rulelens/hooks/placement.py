"""Where models run: ``training.placement`` resolved once per run, before any node (docs/configuration.md)."""

from __future__ import annotations

from typing import Any

from kedro.framework.hooks import hook_impl

from rulelens.modeling import placement
from rulelens.param_blocks import declared

PARAMETERS_TRAINING = "conf/base/parameters_training.yml"


class PlacementHook:
    """Where models run, resolved once per run from ``training.placement`` before any node starts.

    A CUDA request on a machine without CUDA stops the run here, before the MLflow parent run is
    opened (pluggy calls the hook registered last first: settings.py registers this one last).
    """

    def __init__(self) -> None:
        self.params: Any = None

    @hook_impl
    def after_context_created(self, context) -> None:
        self.params = declared(context.params, "training.placement", PARAMETERS_TRAINING)

    @hook_impl
    def before_pipeline_run(self) -> None:
        placement.configure_run(self.params)
