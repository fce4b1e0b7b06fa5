"""Nodes of the reporting pipeline: thin wrappers over rulelens.reporting.

``reporting`` is the parameters block, read by :class:`ReportingSettings` in each node (every
key required, none defaulted here). The statistics (scipy) load inside the nodes, so that
``kedro viz`` and ``kedro registry`` start fast.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from rulelens.reporting.settings import ReportingSettings

logger = logging.getLogger(__name__)
# StudyTables field -> catalog dataset: the figure and report nodes take these as one dict input,
# so no argument order can drift between the wiring and the functions.
REPORT_INPUTS = {
    "variants": "report_variants",
    "attributions": "report_attributions",
    "clause_focus": "clause_focus",
    "focus_summary": "focus_summary",
    "category_summary": "category_summary",
    "comparisons": "strategy_comparisons",
    "agreement_matrix": "agreement_matrix",
    "scale_trends": "scale_trends",
    "quality_by_variant": "quality_by_variant",
    "plateaus": "quality_plateaus",
    "faithfulness": "faithfulness_summary",
    "faithfulness_curves": "faithfulness_mean_curves",
    "lds": "lds_summary",
    "execution_mismatches": "execution_mismatches",
    "suite_summary": "rule_suite_summary",
    "attribution_correctness": "attribution_correctness",
}


def collect_variants(*named_metrics: tuple[str, dict]) -> pd.DataFrame:
    """One row per variant (namespace, training metrics): strategy, size, base parameter count,
    trainable parameters, steps and why training stopped, losses."""
    from rulelens.reporting import stacking

    return stacking.variant_table(dict(named_metrics))


def stack_attributions(variants: pd.DataFrame, *tables: pd.DataFrame) -> pd.DataFrame:
    """Every variant's word attributions in one table with strategy, model_size and n_params."""
    from rulelens.reporting import stacking

    return stacking.combine_attributions(variants, tables)


def stack_quality(variants: pd.DataFrame, *tables: pd.DataFrame) -> pd.DataFrame:
    """Every variant's (and zero-shot base's) per-clause rule quality in one table."""
    from rulelens.reporting import stacking

    return stacking.combine_quality(variants, tables)


def stack_faithfulness(variants: pd.DataFrame, *tables: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(all deletion curves, per variant and clause AOPC)."""
    from rulelens.reporting import stacking

    curves = stacking.combine_curves(variants, tables)
    return curves, stacking.aopc_from_curves(curves)


def summarise_focus(attributions: pd.DataFrame, reporting: dict[str, Any]):
    """Focus per clause and variant, and per variant means with CIs."""
    from rulelens.reporting import study_statistics

    settings = ReportingSettings.from_params(reporting)
    return study_statistics.focus_tables(attributions, k=settings.top_k, **settings.bootstrap())


def summarise_categories(attributions: pd.DataFrame, reporting: dict[str, Any]):
    """Category mass share / enrichment per clause and variant, and per variant means with CIs."""
    from rulelens.reporting import study_statistics

    return study_statistics.category_tables(attributions, **ReportingSettings.from_params(reporting).bootstrap())


def compare_strategies(
    clause_focus: pd.DataFrame, clause_categories: pd.DataFrame, quality: pd.DataFrame, reporting: dict[str, Any]
) -> pd.DataFrame:
    """Strategy comparisons per size on focus, categories and quality (tests, p, effect sizes, CIs)."""
    from rulelens.reporting import study_statistics

    settings = ReportingSettings.from_params(reporting)
    return study_statistics.strategy_comparisons(
        clause_focus, clause_categories, quality, settings.quality_metrics, **settings.bootstrap()
    )


def measure_agreement(attributions: pd.DataFrame, reporting: dict[str, Any]):
    """Per clause variant-pair agreement and the mean Spearman matrix."""
    from rulelens.reporting import study_statistics

    return study_statistics.agreement_tables(attributions, k=ReportingSettings.from_params(reporting).top_k)


def trend_with_scale(
    clause_focus: pd.DataFrame, clause_categories: pd.DataFrame, quality: pd.DataFrame, reporting: dict[str, Any]
) -> pd.DataFrame:
    """Slopes of per-size means against ln(n_params) for focus, category shares and quality (sizes as the unit)."""
    from rulelens.reporting import study_statistics

    settings = ReportingSettings.from_params(reporting)
    return study_statistics.scale_trend_table(
        clause_focus, clause_categories, quality, settings.quality_metrics, alpha=settings.alpha, **settings.bootstrap()
    )


def tabulate_mismatches(quality: pd.DataFrame) -> pd.DataFrame:
    """Why generated rules decide differently from the reference: diagnoses counted per model."""
    from rulelens.evaluation.execution import mismatch_table

    return mismatch_table([quality])


def link_attribution_to_correctness(clause_categories: pd.DataFrame, quality: pd.DataFrame) -> pd.DataFrame:
    """Does attention on numbers (entities) predict getting the constants (conditions) right? GEE, clause clusters."""
    from rulelens.statistics.correctness_link import attribution_correctness

    return attribution_correctness(clause_categories, quality)


def summarise_quality(quality: pd.DataFrame, reporting: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(quality per variant with CIs, plateau estimates).

    Where the run also scored the rules written without the constraint (columns ending in
    ``_unconstrained``, ``evaluation.generation.regenerate_unconstrained``), each compared metric's
    counterpart is summarised beside it: described per variant, never compared (the same model's
    other decoding, not another test)."""
    from rulelens.evaluation.metrics import UNCONSTRAINED_SUFFIX
    from rulelens.reporting import study_statistics

    settings = ReportingSettings.from_params(reporting)
    plateau = settings.plateau
    metrics = list(dict.fromkeys([*settings.quality_metrics, settings.quality_metric]))
    counterparts = [f"{m}{UNCONSTRAINED_SUFFIX}" for m in metrics]  # valid's is valid_unconstrained, compared if listed
    described = [name for name in counterparts if name in quality.columns and name not in metrics]
    by_variant = study_statistics.quality_summary_by_variant(quality, [*metrics, *described], **settings.bootstrap())
    plateaus = study_statistics.plateau_table(
        quality,
        metrics=[settings.quality_metric],
        models=plateau.models,
        epsilon=plateau.epsilon,
        min_n_params=plateau.min_n_params,
        n_resamples=plateau.n_resamples,
        seed=settings.seed,
        flat_margin=plateau.flat_margin,
        alpha=settings.alpha,
    )
    return by_variant, plateaus


def check_faithfulness(curves: pd.DataFrame, aopc: pd.DataFrame, reporting: dict[str, Any]):
    """(attribution vs random AOPC per variant and pooled, mean curves per strategy)."""
    from rulelens.reporting import study_statistics

    settings = ReportingSettings.from_params(reporting)
    summary = study_statistics.faithfulness_table(aopc, **settings.bootstrap())
    return summary, study_statistics.faithfulness_mean_curves(curves)


def stack_lds(variants: pd.DataFrame, *tables: pd.DataFrame) -> pd.DataFrame:
    """Every variant's per-clause LDS with strategy, model_size and n_params (may be empty)."""
    from rulelens.reporting import stacking

    return stacking.combine_lds(variants, tables)


def check_lds(lds_scores: pd.DataFrame, reporting: dict[str, Any]) -> pd.DataFrame:
    """LDS against the same attributions permuted over the clause's words, per variant and pooled per clause."""
    from rulelens.reporting import study_statistics

    return study_statistics.lds_table(lds_scores, **ReportingSettings.from_params(reporting).bootstrap())


def collect_run_facts(
    variants: pd.DataFrame,
    study_clauses: pd.DataFrame,
    comparisons: pd.DataFrame,
    training: dict[str, Any],
    data_processing: dict[str, Any],
    reporting: dict[str, Any],
    faithfulness_aopc: pd.DataFrame,
) -> dict[str, Any]:
    """What this run was (environment, base models, training, clauses, seeds, power): the report's prose reads it."""
    from rulelens.reporting.facts import run_facts

    return run_facts(
        variants,
        study_clauses,
        comparisons,
        training,
        data_processing["selection"],
        ReportingSettings.from_params(reporting),
        faithfulness_aopc,
    )


def _study_tables(tables: dict[str, pd.DataFrame]):
    from rulelens.reporting.report_content import StudyTables

    return StudyTables(**tables)


def draw_figures(reporting: dict[str, Any], **tables: pd.DataFrame) -> dict[str, Any]:
    """The report's figures, one catalog dataset each (kedro-viz previews them), keyed by figure name."""
    from rulelens.reporting.report_content import draw_all

    return draw_all(_study_tables(tables), ReportingSettings.from_params(reporting).quality_metric)


def example_heatmaps(attributions: pd.DataFrame, clauses: pd.DataFrame, n_examples: int) -> list[tuple[str, str]]:
    """(heading, side-by-side HTML fragment) for the first ``n_examples`` attributed clauses."""
    from rulelens.attribution.result import clause_variants, render_variants_fragment

    pages = []
    texts = dict(zip(clauses["clause_id"], clauses["clause"]))
    for clause_id in list(dict.fromkeys(attributions["clause_id"]))[:n_examples]:
        rows = attributions[attributions["clause_id"] == clause_id]
        pages.append((f"Clause {clause_id}", render_variants_fragment(clause_variants(texts[clause_id], rows))))
    return pages


def write_report(
    clauses: pd.DataFrame, reporting: dict[str, Any], facts: dict[str, Any], **tables: pd.DataFrame
) -> tuple[str, pd.DataFrame]:
    """(self-contained HTML report, findings table) for this run."""
    from datetime import datetime, timezone

    from rulelens.reporting.findings import findings_frame
    from rulelens.reporting.report_content import study_report

    settings = ReportingSettings.from_params(reporting)
    study = _study_tables(tables)
    attributions = study.attributions
    run_info = {
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "environment": str(facts.get("environment", "")),
        "dataset": settings.dataset,
        "variants": str(len(study.variants)),
        "clauses attributed per variant": str(attributions.groupby("variant")["clause_id"].nunique().min()),
        "target": ", ".join(sorted(set(attributions["target_mode"].astype(str)))),
        "operator": ", ".join(sorted(set(attributions["operator"].astype(str)))),
    }
    heatmaps = example_heatmaps(attributions, clauses, settings.heatmap_examples)
    page, findings = study_report(
        study,
        run_info,
        heatmaps,
        facts,
        alpha=settings.alpha,
        quality_metric=settings.quality_metric,
        title=settings.title,
        equivalence_margin=settings.focus_equivalence_margin,
    )
    for finding in findings:
        logger.info("%s: %s", finding.key, finding.verdict)
    return page, findings_frame(findings)
