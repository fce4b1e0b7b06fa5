"""Nodes of the evaluation pipeline: thin wrappers over rulelens.evaluation."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from rulelens.variant_grid import ZERO_SHOT, Variant, parse_namespace, variant_settings

logger = logging.getLogger(__name__)


def executes_rules(evaluation: dict[str, Any]) -> bool:
    """Rules are run on test suites when execution is on (the rule format, or LRML translated where it can be)."""
    return bool(evaluation["execution"]["enabled"]) and evaluation["rule_format"] in ("rulelens", "lrml")


def build_rule_suites(selected: pd.DataFrame, evaluation: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One distilled test suite per study clause, shared by every model (docs/evaluation.md)."""
    from rulelens.evaluation.execution import SUITE_COLUMNS, SUITE_SUMMARY_COLUMNS, build_suites

    if not executes_rules(evaluation):
        return pd.DataFrame(columns=SUITE_COLUMNS), pd.DataFrame(columns=SUITE_SUMMARY_COLUMNS)
    settings = evaluation["execution"]
    suites, summary = build_suites(
        selected,
        seed=settings["seed"],
        n_random=settings["n_random"],
        n_check=settings["n_check"],
        notation=evaluation["rule_format"],
    )
    logger.info(
        "rule suites: %d scenes for %d clauses; they tell apart %d of %d neighbours the check pool can (%.1f%%)",
        len(suites),
        len(summary),
        int(summary["n_killed"].sum()),
        int(summary["n_distinguishable"].sum()),
        100 * summary["n_killed"].sum() / max(summary["n_distinguishable"].sum(), 1),
    )
    return suites, summary


def _evaluate(
    model: Any,
    tokenizer: Any,
    selected: pd.DataFrame,
    evaluation: dict[str, Any],
    prompt: dict[str, Any],
    label: str,
    suites: pd.DataFrame,
    progress: Any = None,
):
    from rulelens.data.rule_formats import rule_format
    from rulelens.evaluation import evaluate_model

    per_clause, aggregate, speed = evaluate_model(
        model,
        tokenizer,
        selected,
        style=prompt,
        generation_params=evaluation["generation"],
        metric_params=evaluation["metrics"],
        rule_format=rule_format(evaluation),
        suites=suites if executes_rules(evaluation) else None,
        smt_timeout_ms=evaluation["execution"]["smt_timeout_ms"],
        progress=progress,
    )
    metrics = flat_metrics(aggregate, speed)
    metrics.update(placement_tags(model))  # string values: MLflow tags (device, dtype), not metrics
    logger.info(
        "%s: %d rules, semantic similarity %.3f, valid %.0f%%, %.2f rules/s",
        label,
        len(per_clause),
        metrics.get("semantic_similarity", float("nan")),
        100 * metrics.get("valid", float("nan")),
        speed["rules_per_s"],
    )
    return per_clause, metrics


def evaluate_variant(
    checkpoint: Any,
    selected: pd.DataFrame,
    suites: pd.DataFrame,
    evaluation: dict[str, Any],
    prompt: dict[str, Any],
    progress: Any = None,
    *,
    variant: Variant,
):
    """Rules from one fine-tuned variant with their per-clause metrics, plus aggregated metrics.

    ``progress`` (the variant's ``generation_progress`` store) keeps finished generation batches
    and the finished outputs: a rerun whose checkpoint, clauses, suites and settings match returns
    the outputs without loading the model (docs/configuration.md, "What a rerun recomputes").
    """
    from rulelens.stage_store import checkpoint_identity

    def compute(store):
        return _evaluate(
            checkpoint.model, checkpoint.tokenizer, selected, evaluation, prompt, variant.namespace, suites, store
        )

    model = checkpoint_identity(checkpoint.metadata)
    per_clause, metrics = _resumable(compute, progress, model, selected, suites, evaluation, prompt, variant.namespace)
    return per_clause.assign(strategy=variant.strategy, model_size=variant.size, seed=variant.seed), metrics


def evaluate_zero_shot(
    selected: pd.DataFrame,
    suites: pd.DataFrame,
    evaluation: dict[str, Any],
    prompt: dict[str, Any],
    training: dict[str, Any],
    progress: Any = None,
    *,
    size: str,
):
    """The untuned base model of ``size`` with the same prompt: the reference row for each size."""
    from rulelens.modeling.placement import load_base_for_inference

    settings = variant_settings({"training": training}, Variant("fft", size))
    spec = {**settings["base_model"], "size_name": size}
    label = f"{ZERO_SHOT}.{size}"

    def compute(store):
        model, tokenizer = load_base_for_inference(spec)
        return _evaluate(model, tokenizer, selected, evaluation, prompt, label, suites, store)

    model = {"base_model": {k: v for k, v in spec.items() if k != "cache_dir"}}
    per_clause, metrics = _resumable(compute, progress, model, selected, suites, evaluation, prompt, label)
    return per_clause.assign(strategy=ZERO_SHOT, model_size=size, seed=0), metrics  # no training seed


def _resumable(compute, progress, model: dict, selected, suites, evaluation, prompt, label: str):
    """``compute(store)``, or its finished outputs from ``progress`` when the record matches."""
    from rulelens.modeling.fingerprint import rows_hash
    from rulelens.stage_store import stage_record, without

    if progress is None:
        return compute(None)
    record = stage_record(
        "generation",
        model=model,
        clauses=selected,
        settings={
            "evaluation": without(evaluation, "recompute"),
            "prompt": prompt,
            "suites": rows_hash(suites, tuple(suites.columns)) if executes_rules(evaluation) else None,
        },
    )
    progress.label = f"{label} generation"
    return progress.run(record, compute, recompute=bool(evaluation["recompute"]))


def placement_tags(model: Any) -> dict[str, str]:
    """``device`` and ``dtype`` the model was evaluated on (the tracking hook tags the child run)."""
    from rulelens.modeling.placement import model_placement

    return model_placement(model)


def flat_metrics(aggregate: pd.DataFrame, speed: dict[str, Any]) -> dict[str, float]:
    """``metric``, ``metric_ci_low``, ``metric_ci_high`` per metric, and throughput (MLflow-ready)."""
    metrics: dict[str, float] = {}
    for row in aggregate.itertuples(index=False):
        metrics[row.metric] = float(row.mean)
        metrics[f"{row.metric}_ci_low"] = float(row.ci_low)
        metrics[f"{row.metric}_ci_high"] = float(row.ci_high)
        metrics[f"{row.metric}_n"] = float(row.n)
    metrics.update({f"generation_{k}": float(v) for k, v in speed.items()})
    return metrics


def quality_table(*named_metrics: tuple[str, dict[str, float]]) -> pd.DataFrame:
    """Cross-variant table: one row per (strategy, size, metric) with mean and 95% CI."""
    rows = []
    for name, metrics in named_metrics:
        variant = parse_namespace(name)
        for key, value in metrics.items():
            if key.endswith(("_ci_low", "_ci_high", "_n")) or key.startswith("generation_") or isinstance(value, str):
                continue  # strings (device, dtype) are tags, not quality metrics
            rows.append(
                {
                    "strategy": variant.strategy,
                    "model_size": variant.size,
                    "seed": variant.seed,
                    "metric": key,
                    "mean": value,
                    "ci_low": metrics.get(f"{key}_ci_low"),
                    "ci_high": metrics.get(f"{key}_ci_high"),
                    "n": metrics.get(f"{key}_n"),
                }
            )
    return pd.DataFrame(rows, columns=["strategy", "model_size", "seed", "metric", "mean", "ci_low", "ci_high", "n"])
