"""Nodes of the reporting pipeline: thin wrappers over rulelens.reporting.

The statistics (scipy) load inside the nodes, so that ``kedro viz`` and ``kedro registry`` start fast.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pandas as pd

from rulelens.reporting import FIGURES

logger = logging.getLogger(__name__)
# StudyTables field -> catalog dataset: the figure and report nodes take these as one dict input,
# so no argument order can drift between the wiring and the functions.
REPORT_INPUTS = {
    "variants": "report_variants", "attributions": "report_attributions", "clause_focus": "clause_focus",
    "focus_summary": "focus_summary", "category_summary": "category_summary", "comparisons": "strategy_comparisons",
    "agreement_matrix": "agreement_matrix", "scale_trends": "scale_trends", "quality_by_variant": "quality_by_variant",
    "plateaus": "quality_plateaus", "faithfulness": "faithfulness_summary",
    "faithfulness_curves": "faithfulness_mean_curves", "lds": "lds_summary",
}


def _stats_options(reporting: dict[str, Any]) -> dict[str, int]:
    return {"n_resamples": int(reporting.get("n_resamples", 2000)), "seed": int(reporting.get("seed", 0))}


def collect_variants(*training_metrics: dict, names: Sequence[str]) -> pd.DataFrame:
    """One row per variant: strategy, size, base parameter count, trainable parameters, losses."""
    from rulelens.reporting import tables as stacked

    return stacked.variant_table(dict(zip(names, training_metrics)))


def stack_attributions(variants: pd.DataFrame, *tables: pd.DataFrame) -> pd.DataFrame:
    """Every variant's word attributions in one table with strategy, model_size and n_params."""
    from rulelens.reporting import tables as stacked

    return stacked.combine_attributions(variants, tables)


def stack_quality(variants: pd.DataFrame, *tables: pd.DataFrame) -> pd.DataFrame:
    """Every variant's (and zero-shot base's) per-clause rule quality in one table."""
    from rulelens.reporting import tables as stacked

    return stacked.combine_quality(variants, tables)


def stack_faithfulness(variants: pd.DataFrame, *tables: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(all deletion curves, per variant and clause AOPC)."""
    from rulelens.reporting import tables as stacked

    curves = stacked.combine_curves(variants, tables)
    return curves, stacked.aopc_from_curves(curves)


def summarise_focus(attributions: pd.DataFrame, reporting: dict[str, Any]):
    """Focus per clause and variant, and per variant means with CIs."""
    from rulelens.reporting import analysis

    return analysis.focus_tables(attributions, k=int(reporting.get("top_k", 3)), **_stats_options(reporting))


def summarise_categories(attributions: pd.DataFrame, reporting: dict[str, Any]):
    """Category mass share / enrichment per clause and variant, and per variant means with CIs."""
    from rulelens.reporting import analysis

    return analysis.category_tables(attributions, **_stats_options(reporting))


def compare_strategies(clause_focus: pd.DataFrame, clause_categories: pd.DataFrame, quality: pd.DataFrame,
                       reporting: dict[str, Any]) -> pd.DataFrame:
    """Strategy comparisons per size on focus, categories and quality (tests, p, effect sizes, CIs)."""
    from rulelens.reporting import analysis

    return analysis.strategy_comparisons(clause_focus, clause_categories, quality, reporting["quality_metrics"],
                                         **_stats_options(reporting))


def measure_agreement(attributions: pd.DataFrame, reporting: dict[str, Any]):
    """Per clause variant-pair agreement and the mean Spearman matrix."""
    from rulelens.reporting import analysis

    return analysis.agreement_tables(attributions, k=int(reporting.get("top_k", 3)))


def trend_with_scale(clause_focus: pd.DataFrame, clause_categories: pd.DataFrame, quality: pd.DataFrame,
                     reporting: dict[str, Any]) -> pd.DataFrame:
    """Slopes of per-size means against ln(n_params) for focus, category shares and quality (sizes as the unit)."""
    from rulelens.reporting import analysis

    return analysis.scale_trend_table(clause_focus, clause_categories, quality, reporting["quality_metrics"],
                                      alpha=float(reporting.get("alpha", 0.05)), **_stats_options(reporting))


def summarise_quality(quality: pd.DataFrame, reporting: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(quality per variant with CIs, plateau estimates)."""
    from rulelens.reporting import analysis

    plateau = reporting.get("plateau") or {}
    metrics = list(dict.fromkeys([*reporting["quality_metrics"], _quality_metric(reporting)]))
    by_variant = analysis.quality_summary_by_variant(quality, metrics, **_stats_options(reporting))
    plateaus = analysis.plateau_table(quality, metrics=[_quality_metric(reporting)],
                                      models=plateau.get("models", ("saturating", "hinge")),
                                      epsilon=float(plateau.get("epsilon", 0.02)),
                                      min_n_params=plateau.get("min_n_params"),
                                      n_resamples=int(plateau.get("n_resamples", 200)),
                                      seed=int(reporting.get("seed", 0)))
    return by_variant, plateaus


def check_faithfulness(curves: pd.DataFrame, aopc: pd.DataFrame, reporting: dict[str, Any]):
    """(attribution vs random AOPC per variant and pooled, mean curves per strategy)."""
    from rulelens.reporting import analysis

    return analysis.faithfulness_table(aopc, **_stats_options(reporting)), analysis.faithfulness_mean_curves(curves)


def stack_lds(variants: pd.DataFrame, *tables: pd.DataFrame) -> pd.DataFrame:
    """Every variant's per-clause LDS with strategy, model_size and n_params (may be empty)."""
    from rulelens.reporting import tables as stacked

    return stacked.combine_lds(variants, tables)


def check_lds(lds_scores: pd.DataFrame, reporting: dict[str, Any]) -> pd.DataFrame:
    """LDS against random attributions per variant and pooled per clause."""
    from rulelens.reporting import analysis

    return analysis.lds_table(lds_scores, **_stats_options(reporting))


def collect_run_facts(variants: pd.DataFrame, study_clauses: pd.DataFrame, comparisons: pd.DataFrame,
                      training: dict[str, Any], data_processing: dict[str, Any],
                      reporting: dict[str, Any]) -> dict[str, Any]:
    """What this run was (environment, base models, training length, clauses, power): the report's prose reads it."""
    from rulelens.reporting.facts import run_facts

    return run_facts(variants, study_clauses, comparisons, training, data_processing.get("selection") or {}, reporting)


def _study_tables(tables: dict[str, pd.DataFrame]):
    from rulelens.reporting.study import StudyTables

    return StudyTables(**tables)


def _quality_metric(reporting: dict[str, Any]) -> str:
    return (reporting.get("plateau") or {}).get("metric", "semantic_similarity")


def draw_figures(reporting: dict[str, Any], **tables: pd.DataFrame) -> dict[str, Any]:
    """The report's figures, one catalog dataset each (kedro-viz previews them), keyed by figure name."""
    from rulelens.reporting.study import draw_all

    return draw_all(_study_tables(tables), _quality_metric(reporting))


def example_heatmaps(attributions: pd.DataFrame, clauses: pd.DataFrame, n_examples: int) -> list[tuple[str, str]]:
    """(heading, side-by-side HTML fragment) for the first ``n_examples`` attributed clauses."""
    from rulelens.attribution.result import clause_variants, render_variants_fragment

    pages = []
    texts = dict(zip(clauses["clause_id"], clauses["clause"]))
    for clause_id in list(dict.fromkeys(attributions["clause_id"]))[:n_examples]:
        rows = attributions[attributions["clause_id"] == clause_id]
        pages.append((f"Clause {clause_id}", render_variants_fragment(clause_variants(texts[clause_id], rows))))
    return pages


def write_report(clauses: pd.DataFrame, reporting: dict[str, Any], facts: dict[str, Any],
                 **tables: pd.DataFrame) -> tuple[str, pd.DataFrame]:
    """(self-contained HTML report, findings table) for this run."""
    from datetime import datetime, timezone

    from rulelens.reporting.findings import findings_frame
    from rulelens.reporting.study import study_report

    study = _study_tables(tables)
    attributions = study.attributions
    run_info = {
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "environment": str(facts.get("environment", "")),
        "dataset": str(reporting.get("dataset", "")),
        "variants": str(len(study.variants)),
        "clauses attributed per variant": str(attributions.groupby("variant")["clause_id"].nunique().min()),
        "target": ", ".join(sorted(set(attributions["target_mode"].astype(str)))),
        "operator": ", ".join(sorted(set(attributions["operator"].astype(str)))),
    }
    heatmaps = example_heatmaps(attributions, clauses, int(reporting.get("heatmap_examples", 3)))
    page, findings = study_report(study, run_info, heatmaps, facts, alpha=float(reporting.get("alpha", 0.05)),
                                  quality_metric=_quality_metric(reporting),
                                  title=str(reporting.get("title", "rulelens study report")))
    for finding in findings:
        logger.info("%s: %s", finding.key, finding.verdict)
    return page, findings_frame(findings)
