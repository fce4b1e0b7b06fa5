"""Cross-variant tables for reporting: per-variant outputs stacked with strategy, size and n_params.

Every per-variant table of the earlier stages is keyed by its catalog namespace
(``<strategy>.<size>``). Reporting stacks them and adds ``strategy``, ``model_size`` and
``n_params`` (the base model's parameter count, the scale axis of the study: a LoRA adapter's
few extra parameters do not make a bigger model). Zero-shot rows get their size's count too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from rulelens.variant_grid import parse_namespace

VARIANT_TABLE_COLUMNS = [
    "strategy",
    "model_size",
    "seed",
    "n_params",
    "total_params",
    "trainable_params",
    "train_examples",
    "global_step",
    "max_steps",
    "stopped_by",
    "epochs_trained",
    "train_loss_last",
    "val_loss_first",
    "best_val_loss",
    "best_step",
    "val_loss_last",
    "val_loss_last_vs_best",
    "max_length",
    "train_rows",
    "dropped_train_examples",
    "validation_rows",
    "dropped_validation_examples",
    "val_curve",
]
QUALITY_METRICS = (
    "exec_match",
    "exec_agreement",
    "constants_right",
    "conditions_right",
    "semantic_similarity",
    "chrf",
    "rouge_l",
    "exact_match",
    "valid",
    "valid_unconstrained",
)


def split_namespace(name: str) -> tuple[str, str, int]:
    """``"lora.m"`` -> ``("lora", "m", 0)``, ``"lora.m_seed2"`` -> ``("lora", "m", 2)``; a clear error otherwise."""
    variant = parse_namespace(name)
    return variant.strategy, variant.size, variant.seed


def variant_table(training_metrics: Mapping[str, Mapping]) -> pd.DataFrame:
    """One row per trained variant from its training metrics (``base_params`` is the size axis)."""
    rows = []
    for name, metrics in training_metrics.items():
        strategy, size, seed = split_namespace(name)
        base = metrics.get("base_params") or metrics.get("total_params")
        if base is None:
            raise ValueError(f"training metrics of {name} carry neither base_params nor total_params")
        rows.append(
            {
                "strategy": strategy,
                "model_size": size,
                "seed": seed,
                "n_params": int(base),
                **{key: metrics.get(key, np.nan) for key in VARIANT_TABLE_COLUMNS[4:]},
            }
        )
    return pd.DataFrame(rows, columns=VARIANT_TABLE_COLUMNS)


def size_parameters(variants: pd.DataFrame) -> dict[str, int]:
    """model_size -> n_params; refuses sizes whose variants disagree (different base models)."""
    counts = variants.groupby("model_size")["n_params"].unique()
    conflicting = {size: list(values) for size, values in counts.items() if len(values) > 1}
    if conflicting:
        raise ValueError(f"variants of one size report different base model sizes: {conflicting}")
    return {size: int(values[0]) for size, values in counts.items()}


def _with_sizes(frame: pd.DataFrame, variants: pd.DataFrame, what: str) -> pd.DataFrame:
    sizes = size_parameters(variants)
    unknown = sorted(set(frame["model_size"]) - set(sizes))
    if unknown:
        raise ValueError(f"{what}: no training metrics for sizes {unknown}; run training for them first")
    return frame.assign(n_params=frame["model_size"].map(sizes).astype("int64"))


def _with_strategy_and_size(table: pd.DataFrame) -> pd.DataFrame:
    """``strategy``, ``model_size`` and ``seed`` columns after ``variant`` (the namespace), split once."""
    parts = table["variant"].map(split_namespace)
    table.insert(1, "strategy", parts.str[0])
    table.insert(2, "model_size", parts.str[1])
    table.insert(3, "seed", parts.str[2].astype("int64"))
    return table


def combine_attributions(variants: pd.DataFrame, tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Stack the per-variant word tables (column ``variant`` = namespace) with strategy, size, n_params."""
    frames = [t for t in tables if len(t)]
    if not frames:
        raise ValueError("no attribution rows to report: run the attribution pipeline first")
    return _with_sizes(_with_strategy_and_size(pd.concat(frames, ignore_index=True)), variants, "attributions")


def combine_quality(variants: pd.DataFrame, tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Stack the per-clause evaluation tables (fine-tuned and zero-shot) with n_params; booleans as 0/1."""
    frames = [t for t in tables if len(t)]
    if not frames:
        raise ValueError("no evaluation rows to report: run the evaluation pipeline first")
    table = pd.concat(frames, ignore_index=True)
    for metric in QUALITY_METRICS:
        if metric in table.columns:
            table[metric] = table[metric].astype(float)
    return _with_sizes(table, variants, "rule quality")


def combine_curves(variants: pd.DataFrame, tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Stack the per-variant deletion curves with strategy, size and n_params (may be empty)."""
    frames = [t for t in tables if len(t)]
    if not frames:
        return pd.DataFrame(
            columns=[
                "variant",
                "strategy",
                "model_size",
                "seed",
                "n_params",
                "clause_id",
                "k",
                "order",
                "comprehensiveness",
                "sufficiency",
            ]
        )
    return _with_sizes(_with_strategy_and_size(pd.concat(frames, ignore_index=True)), variants, "faithfulness curves")


def combine_lds(variants: pd.DataFrame, tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Stack the per-variant LDS tables (one row per clause) with strategy, size and n_params (may be empty)."""
    frames = [t for t in tables if len(t)]
    if not frames:
        return pd.DataFrame(
            columns=["variant", "strategy", "model_size", "seed", "n_params", "clause_id", "lds", "lds_permuted"]
        )
    return _with_sizes(_with_strategy_and_size(pd.concat(frames, ignore_index=True)), variants, "LDS scores")


def aopc_from_curves(curves: pd.DataFrame) -> pd.DataFrame:
    """One row per (variant, clause): AOPC = mean of each curve over k, attribution and random order.

    The random curve is already the mean over the random orders, so its mean over k equals the
    mean of the per-order AOPCs (the same number ``deletion_curves`` reports).
    """
    keys = ["strategy", "model_size", "seed", "n_params", "clause_id"]
    columns = [
        *keys,
        "n_words",
        "max_k",
        "comprehensiveness",
        "sufficiency",
        "random_comprehensiveness",
        "random_sufficiency",
    ]
    if curves.empty:
        return pd.DataFrame(columns=columns)
    means = curves.groupby([*keys, "order"])[["comprehensiveness", "sufficiency"]].mean().unstack("order")
    means.columns = [measure if order == "attribution" else f"{order}_{measure}" for measure, order in means.columns]
    sizes = curves.groupby(keys)[["n_words", "max_k"]].first()
    out = sizes.join(means).reset_index()
    for column in columns:
        if column not in out.columns:
            out[column] = np.nan
    return out[columns]
