"""Strategy settings as conf/base gives them: the defaults live in conf/ only (docs/configuration.md)."""

from __future__ import annotations

from functools import cache
from typing import Any

import yaml

from tests.project_copy import PROJECT


@cache
def _conf_strategies() -> dict[str, Any]:
    path = PROJECT / "conf" / "base" / "parameters_training.yml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))["training"]["strategies"]


def conf_settings(strategy: str, **overrides: Any) -> dict[str, Any]:
    """``training.strategies.<strategy>.settings`` of conf/base with a test's overrides (e.g. a small rank)."""
    return {**_conf_strategies()[strategy]["settings"], **overrides}
