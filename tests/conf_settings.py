"""Settings blocks as conf/base gives them (strategy, trainer, data, prompt, generation, metrics): the defaults
live in conf/ only (docs/configuration.md), so tests build complete settings from conf plus their overrides."""

from __future__ import annotations

import copy
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


def conf_memory_plan(**overrides: Any) -> dict[str, Any]:
    """``training.memory_plan`` of conf/base (every key) with a test's overrides."""
    block = _conf_training()["memory_plan"]
    unknown = sorted(set(overrides) - set(block))
    if unknown:
        raise KeyError(f"not keys of training.memory_plan in conf/base/parameters_training.yml: {unknown}")
    return {**block, **overrides}


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


@cache
def _conf_evaluation() -> dict[str, Any]:
    path = PROJECT / "conf" / "base" / "parameters_evaluation.yml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))["evaluation"]


def _block_with(block: str, values: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(overrides) - set(values))
    if unknown:
        raise KeyError(f"not keys of {block} in conf/base/parameters_evaluation.yml: {unknown}")
    return {**copy.deepcopy(values), **overrides}


def conf_generation(**overrides: Any) -> dict[str, Any]:
    """``evaluation.generation`` of conf/base (every key) with a test's overrides (e.g. a few new tokens)."""
    return _block_with("evaluation.generation", _conf_evaluation()["generation"], overrides)


def conf_metrics(**overrides: Any) -> dict[str, Any]:
    """``evaluation.metrics`` of conf/base (every key) with a test's overrides (e.g. fewer resamples)."""
    return _block_with("evaluation.metrics", _conf_evaluation()["metrics"], overrides)
