"""Resolve one variant's settings from the shared ``training`` parameters.

``parameters_training.yml`` holds sizes (base models), strategies (LoRA/quantisation settings
and trainer overrides) and shared trainer defaults. A variant's settings are the merge of the
three: the training node uses them, and MLflow logs them without any namespace prefix so that
``trainer.learning_rate`` lines up across all variants and runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rulelens.variants import Variant


def _section(params: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    node: Any = params
    for key in keys:
        node = (node or {}).get(key) if isinstance(node, Mapping) else None
    return dict(node or {})


def variant_settings(params: Mapping[str, Any], variant: Variant) -> dict[str, Any]:
    """The settings of one variant: base model spec, strategy settings, trainer settings."""
    training = _section(params, "training")
    size = _section(training, "sizes", variant.size)
    if "base_model" not in size:
        raise KeyError(
            f"training.sizes.{variant.size}.base_model is not set; every size in variants.yml needs one "
            f"in parameters_training.yml"
        )
    strategy = _section(training, "strategies", variant.strategy)
    trainer = {**_section(training, "trainer"), **_section(strategy, "trainer")}
    base_model = {**_section(training, "base_model_defaults"), **dict(size["base_model"])}
    return {
        "strategy": variant.strategy,
        "model_size": variant.size,
        "base_model": base_model,
        "base_model_name": base_model_name(base_model),
        "strategy_params": _section(strategy, "settings"),
        "trainer": trainer,
        "prompt": _section(params, "prompt"),
    }


def base_model_name(base_model: Mapping[str, Any]) -> str:
    """A readable name of a base model spec (for the MLflow ``base_model`` tag)."""
    source = base_model.get("source", "gguf_package")
    if source == "hf":
        name = str(base_model.get("name_or_path"))
    elif source == "tiny":
        name = "tiny-random-llama"
    else:
        name = str(base_model.get("file", "SmolLM2-135M-Instruct"))
    keep = base_model.get("keep_layers")
    if not keep:
        return name
    selection = base_model.get("layer_selection", "even")
    return f"{name} pruned to {keep} layers ({selection})"
