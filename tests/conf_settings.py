"""Strategy and trainer settings as conf/base gives them: the defaults live in conf/ only (docs/configuration.md)."""

from __future__ import annotations

from functools import cache
from typing import Any

import yaml

from tests.project_copy import PROJECT


@cache
def _conf_training() -> dict[str, Any]:
    path = PROJECT / "conf" / "base" / "parameters_training.yml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))["training"]


def _conf_strategies() -> dict[str, Any]:
    return _conf_training()["strategies"]


def conf_settings(strategy: str, **overrides: Any) -> dict[str, Any]:
    """``training.strategies.<strategy>.settings`` of conf/base with a test's overrides (e.g. a small rank)."""
    return {**_conf_strategies()[strategy]["settings"], **overrides}


def conf_trainer(strategy: str = "lora", **overrides: Any) -> dict[str, Any]:
    """A variant's trainer settings as conf/base gives them (the shared ``training.trainer`` block under
    ``strategy``'s own trainer keys, e.g. its learning rate), with a test's overrides (e.g. a few steps)."""
    merged = {**_conf_training()["trainer"], **(_conf_strategies()[strategy].get("trainer") or {})}
    unknown = sorted(set(overrides) - set(merged))
    if unknown:
        raise KeyError(f"not keys of training.trainer in conf/base/parameters_training.yml: {unknown}")
    return {**merged, **overrides}


def conf_data_processing(**overrides: Any) -> dict[str, Any]:
    """``data_processing`` of conf/base (every key) with a test's overrides (e.g. its own column mapping)."""
    path = PROJECT / "conf" / "base" / "parameters_data_processing.yml"
    block = yaml.safe_load(path.read_text(encoding="utf-8"))["data_processing"]
    unknown = sorted(set(overrides) - set(block))
    if unknown:
        raise KeyError(f"not keys of data_processing in {path.name}: {unknown}")
    return {**block, **overrides}


def conf_prompt() -> dict[str, Any]:
    """The ``prompt`` block of conf/base/parameters.yml (every key)."""
    return yaml.safe_load((PROJECT / "conf" / "base" / "parameters.yml").read_text(encoding="utf-8"))["prompt"]
