"""Nodes of the attribution pipeline: thin wrappers over rulelens.attribution."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from rulelens.variants import Variant

logger = logging.getLogger(__name__)

ENGINE_OPTIONS = ("operator", "target_mode", "reduction", "max_new_tokens", "memory_cap_bytes", "max_batch_tokens", "mask_token")


def attribute_variant(checkpoint: Any, selected: pd.DataFrame, attribution: dict[str, Any], prompt: dict[str, Any], *, variant: Variant) -> tuple[pd.DataFrame, dict[str, float]]:
    """Attribute each selected clause for one variant; returns the word table and summary metrics."""
    from rulelens.attribution import attribute_clauses, attributions_frame
    from rulelens.prompts import PromptStyle
    from rulelens.statistics.focus import clause_focus

    options = {key: attribution[key] for key in ENGINE_OPTIONS if attribution.get(key) is not None}
    results = attribute_clauses(
        checkpoint.model, checkpoint.tokenizer, list(selected["clause"]), list(selected["rule"]),
        clause_ids=list(selected["clause_id"]), style=PromptStyle.from_params(prompt),
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
    return table, summary


def render_heatmaps(selected: pd.DataFrame, *tables: pd.DataFrame) -> dict[str, str]:
    """One HTML page per clause: the same clause under every variant, side by side."""
    from rulelens.attribution import attribution_from_frame, render_variants_html

    combined = pd.concat(tables, ignore_index=True)
    pages = {}
    for clause_id, clause in zip(selected["clause_id"], selected["clause"]):
        rows = combined[combined["clause_id"] == clause_id]
        variants = {name: attribution_from_frame(clause, group) for name, group in rows.groupby("variant", sort=False)}
        if variants:
            pages[f"{clause_id}.html"] = render_variants_html(variants, title=f"Clause {clause_id}: every variant")
    return pages
