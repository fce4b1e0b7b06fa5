"""Nodes of the attribution pipeline: thin wrappers over rulelens.attribution."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from rulelens.variants import Variant

logger = logging.getLogger(__name__)

ENGINE_OPTIONS = ("operator", "target_mode", "reduction", "max_new_tokens", "memory_cap_bytes", "max_batch_tokens", "mask_token")
FAITHFULNESS_ENGINE_OPTIONS = ("memory_cap_bytes", "max_batch_tokens")
FAITHFULNESS_DEFAULTS = {"n_clauses": 6, "max_k": 4, "n_random": 2, "seed": 0}  # as in parameters_attribution.yml


def attribute_variant(
    checkpoint: Any, selected: pd.DataFrame, attribution: dict[str, Any], prompt: dict[str, Any], *, variant: Variant
) -> tuple[pd.DataFrame, dict[str, float], pd.DataFrame]:
    """Attribute each selected clause for one variant.

    Returns the word table, summary metrics (for MLflow) and the deletion curves of the first
    ``faithfulness.n_clauses`` clauses (scored while the model is loaded; reporting tests them).
    """
    from rulelens.attribution import attribute_clauses, attributions_frame
    from rulelens.prompts import PromptStyle
    from rulelens.statistics.focus import clause_focus

    options = {key: attribution[key] for key in ENGINE_OPTIONS if attribution.get(key) is not None}
    style = PromptStyle.from_params(prompt)
    results = attribute_clauses(
        checkpoint.model, checkpoint.tokenizer, list(selected["clause"]), list(selected["rule"]),
        clause_ids=list(selected["clause_id"]), style=style,
        progress=bool(attribution.get("progress", True)), **options,
    )
    table = attributions_frame(results)
    extras = {r.clause_id: (r.full_score, r.target_text) for r in results}
    table["full_score"] = table["clause_id"].map(lambda c: extras[c][0])
    table["target_text"] = table["clause_id"].map(lambda c: extras[c][1])
    table.insert(0, "variant", variant.namespace)
    focus = clause_focus(table.assign(strategy=variant.strategy, model_size=variant.size))
    summary = {
        f"attribution_{name}": float(focus[name].mean())
        for name in ("normalised_entropy", "gini", "top_k_mass", "effective_words")
    }
    summary["attribution_clauses"] = float(len(results))
    logger.info("%s: %d clauses attributed, mean normalised entropy %.3f", variant.namespace, len(results), summary["attribution_normalised_entropy"])
    curves = faithfulness_curves(checkpoint, results, attribution, style)
    curves.insert(0, "variant", variant.namespace)
    summary.update(faithfulness_metrics(curves))
    return table, summary, curves


def faithfulness_curves(checkpoint: Any, results: list, attribution: dict[str, Any], style: Any) -> pd.DataFrame:
    """Deletion curves (attribution order vs random orders) for the first ``n_clauses`` results."""
    from tqdm.auto import tqdm

    from rulelens.attribution.faithfulness import clause_deletion_curves, curves_frame

    settings = {**FAITHFULNESS_DEFAULTS, **(attribution.get("faithfulness") or {})}
    chosen = results[: max(0, int(settings["n_clauses"] or 0))]
    engine = {key: attribution[key] for key in FAITHFULNESS_ENGINE_OPTIONS if attribution.get(key) is not None}
    curves = {}
    for result in tqdm(chosen, unit="clause", desc="faithfulness", disable=not attribution.get("progress", True)):
        curves[result.clause_id] = clause_deletion_curves(
            checkpoint.model, checkpoint.tokenizer, result, style=style, max_k=settings["max_k"],
            n_random=settings["n_random"], seed=settings["seed"], mask_token=attribution.get("mask_token"), **engine,
        )
    return curves_frame(curves)


def faithfulness_metrics(curves: pd.DataFrame) -> dict[str, float]:
    """Mean AOPC of the attribution and random orders (MLflow-ready; empty when no curves)."""
    if curves.empty:
        return {}
    means = curves.groupby("order")[["comprehensiveness", "sufficiency"]].mean()
    return {f"faithfulness_{order}_{measure}": float(means.loc[order, measure])
            for order in means.index for measure in means.columns}


def render_heatmaps(selected: pd.DataFrame, *tables: pd.DataFrame) -> dict[str, str]:
    """One HTML page per clause: the same clause under every variant, side by side."""
    from rulelens.attribution.result import clause_variants, render_variants_html

    combined = pd.concat(tables, ignore_index=True)
    pages = {}
    for clause_id, clause in zip(selected["clause_id"], selected["clause"]):
        rows = combined[combined["clause_id"] == clause_id]
        variants = clause_variants(clause, rows)
        if variants:
            pages[f"{clause_id}.html"] = render_variants_html(variants, title=f"Clause {clause_id}: every variant")
    return pages
