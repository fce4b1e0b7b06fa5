"""Nodes of the attribution pipeline: thin wrappers over rulelens.attribution."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pandas as pd

from rulelens.attribution.settings import AttributionSettings
from rulelens.variant_grid import Variant

if TYPE_CHECKING:
    from rulelens.stage_store import StageStore

logger = logging.getLogger(__name__)

LDS_COLUMNS = ["variant", "clause_id", "n_words", "n_masks", "keep_prob", "lds", "lds_permuted", "full_score"]


def attribute_variant(
    checkpoint: Any,
    selected: pd.DataFrame,
    attribution: dict[str, Any],
    prompt: dict[str, Any],
    progress: StageStore | None = None,
    *,
    variant: Variant,
) -> tuple[pd.DataFrame, dict[str, float], pd.DataFrame, pd.DataFrame]:
    """Attribute each selected clause for one variant.

    Returns the word table, summary metrics (for MLflow), the deletion curves and the linear
    datamodeling scores (one row per clause, columns ``LDS_COLUMNS``) of ``faithfulness.n_clauses``
    clauses drawn over the selection's strata (scored while the model is loaded; reporting tests them).
    ``attribution`` is the parameters block, read by :class:`AttributionSettings` (every key required).

    ``progress`` (the variant's ``attribution_progress`` store) keeps each finished clause as it is
    done: a killed run resumes at the first unfinished clause, and a rerun whose checkpoint, clauses
    and settings match returns the finished outputs without loading the model
    (``attribution.recompute: true`` forces the work; docs/configuration.md).
    """
    from rulelens.stage_store import checkpoint_identity, stage_record, without

    settings = AttributionSettings.from_params(attribution)
    if progress is None:
        return _attribute(checkpoint, selected, settings, prompt, None, variant)
    record = stage_record(
        "attribution",
        model=checkpoint_identity(checkpoint.metadata),
        clauses=selected,
        settings={"attribution": without(attribution, "progress", "recompute"), "prompt": prompt},
    )
    progress.label = f"{variant.namespace} attribution"
    return progress.run(
        record,
        lambda store: _attribute(checkpoint, selected, settings, prompt, store, variant),
        recompute=settings.recompute,
    )


def _attribute(
    checkpoint: Any,
    selected: pd.DataFrame,
    settings: AttributionSettings,
    prompt: dict[str, Any],
    progress: StageStore | None,
    variant: Variant,
) -> tuple[pd.DataFrame, dict[str, float], pd.DataFrame, pd.DataFrame]:
    from rulelens.attribution import attribute_clauses
    from rulelens.attribution.result import saved_attributions_frame
    from rulelens.prompts import PromptStyle
    from rulelens.statistics.focus import clause_focus

    style = PromptStyle.from_params(prompt)
    results = attribute_clauses(
        checkpoint.model,
        checkpoint.tokenizer,
        list(selected["clause"]),
        list(selected["rule"]),
        clause_ids=list(selected["clause_id"]),
        style=style,
        progress=settings.progress,
        reuse=None if progress is None else lambda clause_id: progress.get(f"clause:{clause_id}"),
        on_result=None if progress is None else lambda result: progress.put(f"clause:{result.clause_id}", result),
        **settings.engine_options(),
    )
    table = saved_attributions_frame(results)
    table.insert(0, "variant", variant.namespace)
    focus = clause_focus(table.assign(strategy=variant.strategy, model_size=variant.size))
    summary = {
        f"attribution_{name}": float(focus[name].mean())
        for name in ("normalised_entropy", "gini", "top_k_mass", "effective_words")
    }
    summary["attribution_clauses"] = float(len(results))
    summary["attribution_tokens"] = float(sum(r.stats.get("tokens_processed", 0) for r in results))
    summary["attribution_padded_tokens"] = float(sum(r.stats.get("padded_tokens", 0) for r in results))
    summary["attribution_sequences"] = float(sum(r.stats.get("sequences", 0) for r in results))
    engine_dtype = results[0].stats.get("dtype", "float32") if results else "float32"
    summary.update(attribution_placement(checkpoint.model, results))
    logger.info(
        "%s: %d clauses attributed, mean normalised entropy %.3f",
        variant.namespace,
        len(results),
        summary["attribution_normalised_entropy"],
    )
    scoring_dtype = None if engine_dtype == "float32" else engine_dtype
    chosen = faithfulness_results(results, selected, settings)
    curves, lds, cost = faithfulness_outputs(
        checkpoint, chosen, settings, style, dtype=scoring_dtype, progress=progress
    )
    summary.update(cost)
    curves.insert(0, "variant", variant.namespace)
    lds.insert(0, "variant", variant.namespace)
    summary.update(faithfulness_metrics(curves))
    summary.update(lds_metrics(lds))
    return table, summary, curves, lds


def attribution_placement(model: Any, results: list) -> dict[str, Any]:
    """Where attribution ran: ``device`` and ``dtype`` strings (MLflow tags) and the bf16 check's numbers.

    ``dtype`` is the engine's scoring dtype (fp32 after a failed reduced-precision check), which
    can differ from the weights' dtype (``weights_dtype``).
    """
    from rulelens.modeling.placement import model_placement

    where = model_placement(model)
    stats = results[0].stats if results else {}
    out: dict[str, Any] = {
        "device": where["device"],
        "dtype": stats.get("dtype", where["dtype"]),
        "weights_dtype": where["dtype"],
    }
    if "reduced_precision_gap" in stats:
        out["attribution_bf16_gap_nats"] = float(stats["reduced_precision_gap"])
        out["attribution_bf16_fell_back"] = float(bool(stats.get("fell_back")))
    seconds = [r.stats.get("seconds") for r in results if r.stats.get("seconds") is not None]
    if seconds:
        out["attribution_seconds_per_clause"] = float(sum(seconds) / len(seconds))
    return out


def faithfulness_results(results: list, selected: pd.DataFrame, settings: AttributionSettings) -> list:
    """The attributed clauses that get deletion curves and LDS: ``faithfulness.n_clauses`` of them,
    drawn over the study's strata with ``faithfulness.seed`` (:func:`rulelens.data.selection.stratified_subsample`).
    """
    from rulelens.data.selection import stratified_subsample

    faithfulness = settings.faithfulness
    if faithfulness.n_clauses <= 0:
        return []
    drawn = stratified_subsample(selected, faithfulness.n_clauses, faithfulness.seed)
    wanted = set(drawn["clause_id"])
    return [r for r in results if r.clause_id in wanted]


def faithfulness_outputs(
    checkpoint: Any,
    chosen: list,
    settings: AttributionSettings,
    style: Any,
    *,
    dtype: str | None = None,
    progress: StageStore | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """Deletion curves and LDS rows (without ``variant``) of the ``chosen`` attributions, and their cost.

    Scored in ``dtype`` (None: float32), the dtype the attributions ended up in. Each clause's
    curves and masks are scored in one engine call (:func:`rulelens.attribution.faithfulness.clause_faithfulness`);
    its random orders and LDS masks are seeded by ``clause_seed(seed, clause_id)``, so a clause
    gets the same randomness whatever else is selected. ``faithfulness.lds: false`` switches the LDS off.
    The cost dict counts subsets needed and scored and the tokens the engine processed (MLflow metrics).
    With ``progress`` each clause's outcome is kept as it is done and reused by a resumed run.
    """
    from tqdm.auto import tqdm

    from rulelens.attribution.faithfulness import curves_frame, lds_frame

    engine = settings.scoring_options(dtype)
    curves: dict[Any, Any] = {}
    lds: list = []
    cost = {"faithfulness_subsets": 0.0, "faithfulness_subsets_scored": 0.0, "faithfulness_tokens": 0.0}
    cost["faithfulness_padded_tokens"] = 0.0
    for result in tqdm(chosen, unit="clause", desc="faithfulness", disable=not settings.progress):
        key = f"faithfulness:{result.clause_id}"
        outcome = progress.get(key) if progress is not None else None
        if outcome is None:
            outcome = _clause_faithfulness(checkpoint, result, settings, style, engine)
            if progress is not None:
                progress.put(key, outcome)
        curves[result.clause_id] = outcome.curves
        if outcome.lds is not None:
            lds.append(outcome.lds)
        cost["faithfulness_subsets"] += outcome.subsets_needed
        cost["faithfulness_subsets_scored"] += outcome.subsets_scored
        cost["faithfulness_tokens"] += outcome.stats.get("tokens_processed", 0)
        cost["faithfulness_padded_tokens"] += outcome.stats.get("padded_tokens", 0)
    cost["faithfulness_clauses"] = float(len(chosen))
    return curves_frame(curves), lds_frame(lds), cost


def _clause_faithfulness(checkpoint: Any, result: Any, settings: AttributionSettings, style: Any, engine: dict):
    """One clause's deletion curves and LDS in one engine call, seeded by the clause."""
    from rulelens.attribution.faithfulness import clause_faithfulness
    from rulelens.statistics.lds import clause_seed

    faithfulness = settings.faithfulness
    lds_settings = faithfulness.lds
    seed = faithfulness.seed
    return clause_faithfulness(
        checkpoint.model,
        checkpoint.tokenizer,
        result,
        style=style,
        mask_text=settings.mask_text,
        max_k=faithfulness.max_k if faithfulness.max_k is not None else len(result.words),
        n_random=faithfulness.n_random,
        curves_seed=clause_seed(seed, result.clause_id, "curves"),
        n_masks=lds_settings.n_masks if lds_settings is not None else None,
        keep_prob=lds_settings.keep_prob if lds_settings is not None else 0.5,
        n_permutations=lds_settings.n_permutations if lds_settings is not None else 0,
        lds_seed=clause_seed(seed, result.clause_id, "lds"),
        **engine,
    )


def lds_metrics(lds: pd.DataFrame) -> dict[str, float]:
    """Mean LDS of the attributions and of their permutation baseline (MLflow-ready; empty when none)."""
    if lds.empty:
        return {}
    return {
        "faithfulness_lds": float(lds["lds"].mean()),
        "faithfulness_lds_permuted": float(lds["lds_permuted"].mean()),
    }


def faithfulness_metrics(curves: pd.DataFrame) -> dict[str, float]:
    """Mean AOPC of the attribution and random orders (MLflow-ready; empty when no curves)."""
    if curves.empty:
        return {}
    means = curves.groupby("order")[["comprehensiveness", "sufficiency"]].mean()
    return {
        f"faithfulness_{order}_{measure}": float(means.loc[order, measure])
        for order in means.index
        for measure in means.columns
    }


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
