"""The project's config loader: Kedro's OmegaConfigLoader that tells the variant grid which environment runs.

Kedro builds pipeline shapes before it hands parameters to anyone, and the variant grid (which
strategy x size branches exist) is part of the shape, read from ``conf/<env>/variants.yml``
(:mod:`rulelens.variant_grid`). Every Kedro entry point that runs a project (``kedro run``,
``kedro viz``, ``%reload_kedro``, ``KedroSession.create(...).run()``) builds this loader with the
run's environment and conf folder before the first pipeline is built, so recording them here is
the one place the environment is read from Kedro itself rather than from the command line.
"""

from __future__ import annotations

from typing import Any

from kedro.config import OmegaConfigLoader

from rulelens.variant_grid import record_run_environment


class ProjectConfigLoader(OmegaConfigLoader):
    """OmegaConfigLoader that records its environment and conf folder for the variant grid."""

    def __init__(
        self, conf_source: str, env: str | None = None, runtime_params: dict[str, Any] | None = None, **kwargs
    ):
        super().__init__(conf_source, env=env, runtime_params=runtime_params, **kwargs)
        record_run_environment(env, conf_source)
