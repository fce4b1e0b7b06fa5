"""Nodes of the training pipeline: prepare a base model, fine-tune one variant.

Each node is bound to its variant (strategy, size) when the pipeline is built, so the same
functions serve every namespaced branch. Heavy imports stay inside the functions.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from rulelens.variant_params import variant_settings
from rulelens.variants import Variant

logger = logging.getLogger(__name__)


def prepare_base_model(training: dict[str, Any], *, variant: Variant) -> dict[str, Any]:
    """Convert/derive the variant's base model once (cached folder); report its real size."""
    from rulelens.modeling.base_models import BaseModelSpec, base_parameter_count, materialize_base_model

    settings = variant_settings({"training": training}, variant)
    spec = BaseModelSpec.from_params(settings["base_model"], size_name=variant.size)
    location = materialize_base_model(spec)
    return {
        "size": variant.size,
        "path": location,
        "base_model": settings["base_model_name"],
        "n_params": base_parameter_count(spec),
    }


def train_variant(
    base_model: dict[str, Any],
    clauses: pd.DataFrame,
    training: dict[str, Any],
    prompt: dict[str, Any],
    completed: dict[str, Any] | None,
    *,
    variant: Variant,
) -> tuple[Any, dict[str, Any], pd.DataFrame]:
    """Fine-tune one variant, or reuse its completed checkpoint unless ``training.retrain``.

    Returns (checkpoint bundle, metrics, loss history). A completed variant is not retrained:
    its metrics and history come back from the checkpoint's marker and nothing is rewritten.
    """
    from rulelens.modeling.bundle import ModelBundle
    from rulelens.modeling.sft import train_sft
    from rulelens.modeling.strategies import prepare_for_strategy
    from rulelens.prompts import PromptStyle

    settings = variant_settings({"training": training, "prompt": prompt}, variant)
    retrain = bool(training.get("retrain", False))
    if completed and not retrain:
        logger.info("%s: checkpoint complete, not retraining (set training.retrain=true to retrain)", variant.namespace)
        return _reuse(completed)
    spec = {**settings["base_model"], "size_name": variant.size}
    prepared = prepare_for_strategy(spec, variant.strategy, settings["strategy_params"])
    train = clauses[clauses["split"] == "train"]
    validation = clauses[clauses["split"] == "validation"]
    work_dir = Path(training["work_dir"]) / variant.strategy / variant.size
    result = train_sft(prepared, train, validation, settings["trainer"], work_dir, PromptStyle.from_params(settings["prompt"]))
    metrics = {**result.metrics, "base_params": base_model["n_params"], "strategy": variant.strategy, "model_size": variant.size}
    metadata = {
        "variant": variant.namespace,
        "training_metrics": metrics,
        "loss_history": result.history.to_dict(orient="records"),
        "prompt": settings["prompt"],
    }
    if completed and retrain:
        metadata["overwrite_reason"] = "training.retrain=true"
    bundle = ModelBundle(model=result.model, tokenizer=prepared.tokenizer, metadata=metadata)
    return bundle, metrics, result.history


def _reuse(completed: dict[str, Any]) -> tuple[Any, dict[str, Any], pd.DataFrame]:
    """Outputs of an already trained variant, read back from its checkpoint marker."""
    from rulelens.datasets.checkpoint_marker import KeepCompletedCheckpoint

    metadata = completed.get("metadata") or completed
    history = pd.DataFrame(metadata.get("loss_history") or [], columns=["step", "epoch", "split", "loss"])
    return KeepCompletedCheckpoint(completed), dict(metadata.get("training_metrics") or {}), history
