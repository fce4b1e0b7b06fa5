"""Nodes of the training pipeline: prepare a base model, fine-tune one variant.

Each node is bound to its variant (strategy, size) when the pipeline is built, so the same
functions serve every namespaced branch. Heavy imports stay inside the functions.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from rulelens.variant_grid import Variant, variant_settings

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


class CheckpointMismatchError(RuntimeError):
    """A completed checkpoint was trained from other inputs than this run's configuration and data."""


def mismatch_message(namespace: str, path: str, changes: list[str]) -> str:
    """The error a rerun gives when a variant's inputs changed since its checkpoint was trained."""
    listed = "\n".join(f"  - {line}" for line in changes)
    return (
        f"{namespace}: the completed checkpoint at {path} was trained from other inputs than this run's:\n"
        f"{listed}\nRetrain it with `kedro run --params training.retrain=true` (add `--namespaces "
        f"{namespace}` for this variant only), or keep the old checkpoint deliberately with "
        f"`--params training.keep_mismatched=true` (its MLflow run then logs the inputs it was trained with)."
    )


def train_variant(
    base_model: dict[str, Any],
    clauses: pd.DataFrame,
    training: dict[str, Any],
    prompt: dict[str, Any],
    data_processing: dict[str, Any],
    completed: dict[str, Any] | None,
    *,
    variant: Variant,
) -> tuple[Any, dict[str, Any], pd.DataFrame]:
    """Fine-tune one variant, or reuse its completed checkpoint when its fingerprint matches.

    Returns (checkpoint bundle, metrics, loss history). A completed variant whose recorded inputs
    equal this run's is not retrained; one whose inputs changed stops the run before any training
    (naming each changed field) unless ``training.retrain`` (train again from the base model, in a
    clean Trainer folder) or ``training.keep_mismatched`` (keep it, knowingly).
    """
    from rulelens.modeling.bundle import ModelBundle
    from rulelens.modeling.fingerprint import changed_fields, digest, training_inputs
    from rulelens.modeling.memory_plan import MemoryPlanSettings
    from rulelens.modeling.sft import train_sft
    from rulelens.modeling.strategies import prepare_for_strategy
    from rulelens.modeling.workdir import prepare_work_dir
    from rulelens.prompts import PromptStyle

    # every key declared in conf/base/parameters_training.yml: a missing one stops before any loading
    retrain = bool(training["retrain"])
    keep_mismatched = bool(training["keep_mismatched"])
    memory_plan = MemoryPlanSettings.from_params(training["memory_plan"])
    settings = variant_settings({"training": training, "prompt": prompt}, variant)
    inputs = training_inputs(
        clauses,
        split_seed=data_processing["seed"],
        prompt=settings["prompt"],
        trainer=settings["trainer"],
        strategy=variant.strategy,
        strategy_settings=settings["strategy_params"],
        base_model=settings["base_model"],
    )
    fingerprint = digest(inputs)
    if completed and not retrain:
        record = completed.get("metadata") or {}
        if record.get("fingerprint") == fingerprint:
            logger.info("%s: checkpoint complete and its fingerprint matches; not retraining", variant.namespace)
            return _reuse(completed)
        changes = changed_fields(record.get("training_inputs"), inputs)
        if not keep_mismatched:
            raise CheckpointMismatchError(mismatch_message(variant.namespace, str(completed.get("path", "")), changes))
        logger.warning(
            "%s: keeping a checkpoint trained from other inputs (training.keep_mismatched): %s",
            variant.namespace,
            "; ".join(changes),
        )
        return _reuse(completed)
    spec = {**settings["base_model"], "size_name": variant.size}
    work_dir = Path(training["work_dir"]) / Path(*variant.namespace.split("."))  # one per seed replicate
    memory = check_memory_plan(variant, base_model, settings, memory_plan)  # before any loading
    prepare_work_dir(work_dir, fingerprint, fresh=retrain)
    prepared = prepare_for_strategy(spec, variant.strategy, settings["strategy_params"])
    train = clauses[clauses["split"] == "train"]
    validation = clauses[clauses["split"] == "validation"]
    result = train_sft(
        prepared, train, validation, settings["trainer"], work_dir, PromptStyle.from_params(settings["prompt"])
    )
    metrics = {
        **result.metrics,
        "base_params": base_model["n_params"],
        "strategy": variant.strategy,
        "model_size": variant.size,
        "seed": variant.seed,
        "fingerprint": fingerprint,
        **memory,
    }
    metadata = {
        "variant": variant.namespace,
        "training_metrics": metrics,
        "loss_history": result.history.to_dict(orient="records"),
        "prompt": settings["prompt"],
        "fingerprint": fingerprint,
        "training_inputs": inputs,
        "trained_with": settings,  # what the MLflow child run logs as params for this checkpoint
        "trainer_work_dir": str(work_dir),  # removed by the checkpoint dataset once the checkpoint is in place
    }
    if completed and retrain:
        metadata["overwrite_reason"] = "training.retrain=true"
    bundle = ModelBundle(model=result.model, tokenizer=prepared.tokenizer, metadata=metadata)
    return bundle, metrics, result.history


def check_memory_plan(
    variant: Variant, base_model: dict[str, Any], settings: dict[str, Any], options: Any
) -> dict[str, Any]:
    """Stop before training when the variant's estimated peak memory exceeds the devices present.

    ``options``: the ``training.memory_plan`` block (``check``, ``headroom``: the share of device
    memory usable, ``available_gb``: the memory per device instead of the measured one), every key
    declared in conf/base/parameters_training.yml, or its :class:`MemoryPlanSettings`. Returns the
    plan's figures (MLflow metrics). The error names the options that make the variant fit.
    """
    from rulelens.modeling.base_models import BaseModelSpec, materialize_base_model
    from rulelens.modeling.memory_plan import MemoryPlanSettings, check_variant, setup_from_settings, shape_of
    from rulelens.modeling.placement import run_placement, world_size

    options = MemoryPlanSettings.from_params(options)
    if not options.check:
        return {}
    spec = BaseModelSpec.from_params(settings["base_model"], size_name=variant.size)
    location = base_model.get("path") or materialize_base_model(spec)  # base_model: prepare_base_model's output
    n_params = base_model.get("n_params")
    shape = shape_of(str(location), int(n_params) if n_params else None, local_files_only=not spec.allow_download)
    setup = setup_from_settings(
        variant.strategy,
        settings["base_model"],
        settings["strategy_params"],
        settings["trainer"],
        n_processes=world_size(),
    )
    plan = check_variant(
        variant.namespace,
        shape,
        setup,
        device=run_placement().device,
        headroom=options.headroom,
        available_bytes=options.available_bytes,
    )
    logger.info("%s memory plan: %s", variant.namespace, plan.summary())
    return {"memory_plan_peak_gb": plan.peak_bytes / 1e9, "memory_plan_available_gb": plan.available_bytes / 1e9}


def _reuse(completed: dict[str, Any]) -> tuple[Any, dict[str, Any], pd.DataFrame]:
    """Outputs of an already trained variant, read back from its checkpoint marker."""
    from rulelens.datasets.checkpoint_marker import KeepCompletedCheckpoint

    metadata = completed.get("metadata") or completed
    history = pd.DataFrame(metadata.get("loss_history") or [], columns=["step", "epoch", "split", "loss"])
    return KeepCompletedCheckpoint(completed), dict(metadata.get("training_metrics") or {}), history
