"""The study report of one run: findings, figures and tables put into sections with prose.

Input is a :class:`StudyTables` of saved reporting tables; output is the HTML page of
:func:`rulelens.reporting.html_page.render_report`. Prose that depends on numbers is computed here
from the tables, so the words always describe this run.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import pandas as pd

from rulelens.reporting import figures as fg
from rulelens.reporting.facts import caveats, departure_reasons
from rulelens.reporting.figure_registry import FIGURE_SPECS
from rulelens.reporting.findings import REPRODUCED, Finding, all_findings
from rulelens.reporting.html_page import Section, render_report
from rulelens.variant_grid import ZERO_SHOT


@dataclass(frozen=True)
class StudyTables:
    """Everything the report reads (all saved by the reporting pipeline)."""

    variants: pd.DataFrame
    attributions: pd.DataFrame
    clause_focus: pd.DataFrame
    focus_summary: pd.DataFrame
    category_summary: pd.DataFrame
    comparisons: pd.DataFrame
    agreement_matrix: pd.DataFrame
    scale_trends: pd.DataFrame
    quality_by_variant: pd.DataFrame
    plateaus: pd.DataFrame
    faithfulness: pd.DataFrame
    faithfulness_curves: pd.DataFrame
    lds: pd.DataFrame
    execution_mismatches: pd.DataFrame = field(default_factory=pd.DataFrame)
    suite_summary: pd.DataFrame = field(default_factory=pd.DataFrame)
    attribution_correctness: pd.DataFrame = field(default_factory=pd.DataFrame)


def draw_all(tables: StudyTables, quality_metric: str) -> dict[str, object]:
    """name -> matplotlib Figure for every registered figure of the report, in registry order."""
    return {spec.name: spec.draw(tables, quality_metric) for spec in FIGURE_SPECS}


def _mean_by_strategy(summary: pd.DataFrame, metric: str) -> str:
    rows = summary[summary["metric"] == metric].groupby("strategy")["mean"].mean()
    return ", ".join(f"{fg.label(s)} {v:.3f}" for s, v in rows.items())


def _agreement_sentence(matrix: pd.DataFrame) -> str:
    if matrix.empty or len(matrix) < 2:
        return "Agreement needs at least two variants."
    values = matrix.set_index("variant")
    same_size, other = [], []
    for a in values.index:
        for b in values.columns:
            if a < b:
                (same_size if a.split(".")[-1] == b.split(".")[-1] else other).append(values.loc[a, b])
    parts = []
    if same_size:
        parts.append(f"variants of the same size agree with mean Spearman rho {pd.Series(same_size).mean():.2f}")
    if other:
        parts.append(f"variants of different sizes with {pd.Series(other).mean():.2f}")
    return "On the same clauses, " + " and ".join(parts) + "."


LRML_SCORES = {  # aggregate F1 -> (precision, recall) metric names, in the table's column order
    "lrml_f1_published": ("lrml_published_precision", "lrml_published_recall"),
    "lrml_f1_published_unconstrained": (
        "lrml_published_precision_unconstrained",
        "lrml_published_recall_unconstrained",
    ),
    "lrml_f1": ("lrml_precision", "lrml_recall"),
    "lrml_f1_unconstrained": ("lrml_precision_unconstrained", "lrml_recall_unconstrained"),
}


def lrml_f1_by_variant(quality_by_variant: pd.DataFrame) -> pd.DataFrame:
    """This run's corpus LRML F1 per variant, in percent: F1 of the mean precision and recall (as published),
    for the published pipeline's score (``lrml_f1_published``, with its precision and recall) and, beside it,
    rulelens's own (``lrml_f1``); each followed by the same score of the rules written without the
    constraint (``..._unconstrained``) when the run generated them (``regenerate_unconstrained``)."""
    names = [name for pair in LRML_SCORES.values() for name in pair]
    rows = quality_by_variant[quality_by_variant["metric"].isin(names)]
    if rows.empty:
        return pd.DataFrame()
    wide = rows.pivot_table(index=["strategy", "model_size"], columns="metric", values="mean").reset_index()
    columns = ["strategy", "model_size"]
    for f1_name, (precision, recall) in LRML_SCORES.items():
        if not {precision, recall} <= set(wide.columns):
            continue
        p, r = 100 * wide[precision], 100 * wide[recall]
        wide[f1_name] = (2 * p * r / (p + r)).where(p + r > 0, 0.0)
        wide[precision], wide[recall] = p, r
        columns += [f1_name] + ([precision, recall] if f1_name == "lrml_f1_published" else [])
    return wide[columns] if len(columns) > 2 else pd.DataFrame()


def constraint_sentence(quality_by_variant: pd.DataFrame) -> str | None:
    """What constrained decoding did to validity in this run; None when it made no difference."""
    rows = quality_by_variant[quality_by_variant["strategy"] != ZERO_SHOT]
    wide = rows.pivot_table(index=["strategy", "model_size"], columns="metric", values="mean")
    if not {"valid", "valid_unconstrained"} <= set(wide.columns):
        return None
    if (wide["valid"] - wide["valid_unconstrained"]).abs().max() < 1e-12:
        return None

    def span(column: str) -> str:
        low, high = wide[column].min(), wide[column].max()
        return f"{low:.0%}" if round(100 * low) == round(100 * high) else f"{low:.0%}-{high:.0%}"

    return (
        "Rules are decoded under the rule-format constraint (docs/evaluation.md): the model's greedy token "
        "unless that token makes a valid rule impossible. Per fine-tuned variant "
        f"{span('valid')} of the rules are valid with it and {span('valid_unconstrained')} without it "
        "(valid_unconstrained, exact from the same run); the other quality metrics score the rules as "
        "written, with the constraint."
    )


def execution_sections(tables: StudyTables) -> list[Section]:
    """ "Rule quality by execution": exec_match per model, what the suites can tell apart, why rules differ."""
    quality = tables.quality_by_variant
    rows = quality[quality["metric"] == "exec_match"] if len(quality) else quality
    if rows.empty:
        return [link_section(tables.attribution_correctness)]
    summary = tables.suite_summary
    if summary.empty or "n_cases" not in summary:
        summary = pd.DataFrame({"n_cases": [], "n_killed": [], "n_distinguishable": [], "n_check": []})
    executable = summary[summary["n_cases"] > 0]
    killed, distinguishable = int(executable["n_killed"].sum()), int(executable["n_distinguishable"].sum())
    ranked = rows.sort_values("mean", ascending=False)
    best = ", ".join(
        f"{r.strategy}.{r.model_size} {r.mean:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}]"
        for r in ranked.head(3).itertuples()
    )
    text = [
        "A generated rule is run on its clause's distilled test suite: scenes of facts around every constant, "
        "boolean, category and count of the reference rule, kept where they tell the reference apart from its "
        "one-edit neighbours (a comparison swapped, a constant moved, a condition dropped, when and require "
        "swapped, ...). exec_match: the same verdict (not applicable, pass, fail, unknown) as the reference on "
        "every scene, units converted (headroom_m >= 2.0 and headroom_mm >= 2000 agree); exec_agreement: the "
        "share of scenes agreed. Where both rules are linear arithmetic and logic, z3 decides equivalence "
        "exactly and a counterexample scene is kept in the per-clause table.",
        f"Highest exec_match (share of the {int(rows['n'].max())} study clauses, 95% CI): {html.escape(best)}.",
        f"The suites ({len(executable)} of {len(summary)} reference rules executable) tell apart {killed} of the "
        f"{distinguishable} neighbours that an independent pool of {_check_size(summary)} random scenes per clause "
        "can tell apart" + (f" ({killed / distinguishable:.1%})." if distinguishable else "."),
    ]
    link = tables.attribution_correctness
    sections = [
        Section(
            "Rule quality by execution",
            text,
            tables=[
                ("exec_match per model (mean, 95% CI)", rows),
                ("Why rules decide differently (rules per diagnosis, several per rule)", tables.execution_mismatches),
                ("Test suites per clause", summary),
            ],
        )
    ]
    sections.append(link_section(link))
    return sections


def link_section(link: pd.DataFrame) -> Section:
    """Attribution share against correctness (always present, with the reason when it cannot be tested)."""
    return Section(
        "Where the model looks and whether it translated right",
        [
            "Per fine-tuned model and clause: the attribution share on numerical-constraint words against "
            "whether the rule states every constant of the reference (in SI, so units may differ), and the "
            "share on domain entities against whether its conditions are right (the same comparisons and "
            "number of conditions, when and require not confused). GEE logistic regression with the clause "
            "as the cluster (exchangeable working correlation, robust standard errors): the same clause "
            "under every model is one cluster, not independent rows. Odds ratios per 0.1 of the share.",
            html.escape(_link_sentence(link))
            if len(link)
            else "Not testable in this run: its rules were not run (rule quality by execution is off, or "
            "the rule format has no executable rules).",
        ],
        figures=["correctness_link"],
        tables=[("Attribution share and correctness (GEE, clause clusters)", link)],
    )


def _link_sentence(link: pd.DataFrame) -> str:
    parts = []
    for row in link.itertuples():
        if row.note:
            parts.append(f"{row.predictor} vs {row.outcome}: {row.note} ({row.share_right:.0%} right)")
        else:
            parts.append(
                f"{row.predictor} vs {row.outcome}: odds ratio {row.odds_ratio_per_0_1:.2f} per 0.1 "
                f"[{row.ci_low:.2f}, {row.ci_high:.2f}], p = {row.p_value:.3g}, {row.n_clauses} clauses"
            )
    return "; ".join(parts) + "."


def _check_size(summary: pd.DataFrame) -> str:
    sizes = sorted(set(int(n) for n in summary.get("n_check", pd.Series(dtype=int)).dropna()))
    return "/".join(map(str, sizes)) or "?"


def published_section_parts(quality_by_variant: pd.DataFrame) -> tuple[list[str], list[tuple[str, pd.DataFrame]]]:
    """(paragraphs, tables) comparing this run's LRML F1 with the published NZBC results; empty off LRML data."""
    ours = lrml_f1_by_variant(quality_by_variant)
    if ours.empty:
        return [], []
    from rulelens.reporting.published import published_lrml_note, published_lrml_table

    paragraphs = [
        "This dataset is scored with the LRML F1 metric in percent (docs/evaluation.md): "
        "<code>lrml_f1_published</code> normalises prediction and reference as the published pipeline did "
        "and scores them with its scorer, quirks included, so it is the one to compare with the published "
        "figures; <code>lrml_f1</code> is rulelens's cleaner score on the compact notation, beside it. "
        "Rules are decoded under the LRML constraint; where the run also generated the rules the "
        "constraint changed without it (<code>regenerate_unconstrained</code>), the columns ending in "
        "<code>_unconstrained</code> score the rules as the model writes them unconstrained.",
        html.escape(published_lrml_note()),
    ]
    return paragraphs, [
        ("This run: LRML F1 per variant (F1 of mean precision and recall, %)", ours),
        ("Published results on the NZBC benchmark", published_lrml_table()),
    ]


VARIANT_DISPLAY = [
    "strategy",
    "model_size",
    "n_params",
    "trainable_params",
    "train_examples",
    "global_step",
    "stopped_by",
    "val_loss_first",
    "best_val_loss",
    "best_step",
    "val_loss_last_vs_best",
]


def variant_display(variants: pd.DataFrame) -> pd.DataFrame:
    """The variant table as the report shows it: how long each trained, why it stopped, its losses."""
    return variants[[c for c in VARIANT_DISPLAY if c in variants]]


def training_sentence(training: dict) -> str:
    """How training ended for the variants, and the rows left out for length (from the run facts)."""
    stopped = training.get("stopped_by") or {}
    parts = []
    if stopped:
        parts.append(
            "Training stopped by "
            + ", ".join(f"{reason.replace('_', ' ')} for {n} variant(s)" for reason, n in sorted(stopped.items()))
            + "."
        )
    left_out = training.get("left_out")
    if left_out:
        parts.append(
            f"{left_out['train']} of {left_out['train_rows']} training rows "
            f"({100 * left_out['train'] / max(left_out['train_rows'], 1):.1f}%) and {left_out['validation']} "
            f"of {left_out['validation_rows']} validation rows were left out as longer than "
            f"max_length = {left_out['max_length']} tokens (never cut)."
        )
    return " ".join(parts)


def strata_table(facts: dict) -> pd.DataFrame:
    """Selected clauses per stratum (from the run facts)."""
    strata = (facts.get("selection") or {}).get("strata") or {}
    return pd.DataFrame({"stratum": list(strata), "clauses": list(strata.values())})


def sections(tables: StudyTables, quality_metric: str, facts: dict | None = None) -> list[Section]:
    variants = tables.variants.sort_values(["n_params", "strategy"])
    focus_cmp = tables.comparisons[tables.comparisons["family"] == "focus"]
    category_cmp = tables.comparisons[tables.comparisons["family"] == "category"]
    quality_cmp = tables.comparisons[tables.comparisons["family"] == "quality"]
    n_clauses = tables.clause_focus["clause_id"].nunique() if len(tables.clause_focus) else 0
    facts = facts or {}
    selection = facts.get("selection") or {}
    strata = strata_table(facts)
    return [
        Section(
            "Variants and clauses of this run",
            [
                f"{len(variants)} fine-tuned variants ({', '.join(sorted(set(variants['strategy'])))}) over "
                f"{variants['model_size'].nunique()} sizes; {n_clauses} test clauses attributed per variant. "
                "Model size is the base model's parameter count.",
                f"The same {selection.get('n_clauses', n_clauses)} clauses are evaluated and attributed under every "
                f"variant: a seeded random sample of the {html.escape(str(selection.get('split', 'test')))} split"
                + (
                    f", stratified by {html.escape(' and '.join(selection.get('strata_columns') or []))}, "
                    f"{len(strata)} strata"
                    if len(strata) > 1
                    else ""
                )
                + ".",
                html.escape(training_sentence(facts.get("training") or {})),
            ],
            figures=["training"],
            tables=[("Variants", variant_display(variants)), ("Selected clauses per stratum", strata)],
        ),
        Section(
            "Fine-tuning strategy and attribution focus",
            [
                f"Mean normalised entropy by strategy (over sizes and clauses): "
                f"{html.escape(_mean_by_strategy(tables.focus_summary, 'normalised_entropy'))}. Lower means the "
                "attribution concentrates on fewer words. Strategies are compared within each size on the same "
                "clauses: Friedman test, then Wilcoxon signed-rank tests with Holm's correction; effect sizes are "
                "Kendall's W and the matched-pairs rank-biserial r, with bootstrap 95% CIs of the mean difference."
            ],
            figures=["focus"],
            tables=[
                ("Focus per variant (mean, 95% CI)", tables.focus_summary),
                ("Strategy comparisons on focus", focus_cmp),
            ],
        ),
        Section(
            "Word categories and model scale",
            [
                "Which words carry the attribution: rule identifiers, numerical constraints (numbers, units, "
                "comparison phrases), deontic words, domain entities, other. Mass share is the category's part of "
                "the attribution, enrichment is mass share over word share (above 1: more than its size). A scale "
                "trend is the slope of the per-size mean against ln(parameters), each size counted once; the size "
                "is the unit of replication, so it is tested over sizes (t-test, at least 4 sizes) and its CI comes "
                "from resampling clauses (the same clauses for every size)."
            ],
            figures=["category_share"],
            tables=[
                ("Category shares per variant (mean, 95% CI)", tables.category_summary),
                ("Scale trends (slope of per-size means against ln parameters)", tables.scale_trends),
                ("Strategy comparisons per category", category_cmp),
            ],
        ),
        Section(
            "Rule quality against size",
            [
                f"Quality is {quality_metric.replace('_', ' ')} between the generated and the reference rule; the "
                "other quality metrics are in the tables. The plateau is tested with the model size as the unit: a "
                "hinge on ln(parameters), fixed in advance, must fit better than a straight line, quality must rise "
                "significantly before its knee and be shown flat after it (an equivalence test); that needs at least "
                "5 sizes and a ladder reaching the published range. The saturating curve is shown for description.",
                *filter(None, [constraint_sentence(tables.quality_by_variant)]),
            ],
            figures=["quality"],
            tables=[
                ("Quality per variant (mean, 95% CI)", tables.quality_by_variant),
                ("Plateau estimates", tables.plateaus),
                ("Strategy comparisons on quality", quality_cmp),
            ],
        ),
        *execution_sections(tables),
        *(
            [Section("Rule quality against the published NZBC results", published[0], tables=published[1])]
            if (published := published_section_parts(tables.quality_by_variant))[0]
            else []
        ),
        Section(
            "Agreement between variants",
            [html.escape(_agreement_sentence(tables.agreement_matrix))],
            figures=["agreement"],
            tables=[("Mean Spearman agreement matrix", tables.agreement_matrix)],
        ),
        Section(
            "Faithfulness of the attributions",
            [
                "Comprehensiveness: how much log p(rule) drops when the top-k words are removed (higher is better). "
                "Sufficiency: how much is lost keeping only the top-k words (lower is better). AOPC averages a curve "
                "over k; the baseline is the same curve for random word orders (several per clause), paired by "
                "clause; the clauses are a seeded draw from the study's clauses over its strata. Comprehensiveness "
                "at k = 1 equals the top word's score by construction, so the linear "
                "datamodeling score (LDS) is reported beside it: over random half-ablations of each clause, the rank "
                "correlation of the kept words' summed attributions with the actual log p(rule). Its chance level "
                "is not 0: attributions are mostly positive and a mask keeps a random number of words, so any "
                "positive vector predicts part of the score by the kept count alone. The LDS is therefore compared "
                "with the same attributions permuted over the clause's words (same values, wrong words), by a "
                "paired t-test over clauses. The clause is the unit: each variant is tested over its clauses, "
                "and the pooled row averages the variants per clause first."
            ],
            figures=["faithfulness"],
            tables=[
                ("Faithfulness (AOPC, attribution vs random)", tables.faithfulness),
                ("Linear datamodeling score (LDS) per variant and pooled", tables.lds),
            ],
        ),
        Section(
            "One clause under every variant",
            [
                "The grid below is the first attributed clause; the interactive side-by-side pages of the first "
                "clauses follow at the end of the report."
            ],
            figures=["clause_heatmap"],
        ),
    ]


PUBLISHED_KEYS = ("strategy_focus", "scale_categories", "quality_plateau")


def departures(findings: list[Finding], facts: dict) -> list[str]:
    """One paragraph per published finding this run does not reproduce, with reasons from the run's facts."""
    lines = []
    for finding in findings:
        if finding.key not in PUBLISHED_KEYS or finding.verdict == REPRODUCED:
            continue
        reasons = departure_reasons(finding.key, facts) or [
            "Nothing in this run's set-up explains it; the data may simply disagree with the published finding."
        ]
        lines.append(
            f"<b>{html.escape(finding.published)}</b> This run: {html.escape(finding.verdict)}. "
            + html.escape(" ".join(reasons))
        )
    return lines or ["Every published finding tested here is reproduced by this run."]


def study_report(
    tables: StudyTables,
    run_info: dict,
    heatmaps: list[tuple[str, str]],
    facts: dict,
    *,
    alpha: float,
    quality_metric: str,
    title: str,
    equivalence_margin: float | None = None,
) -> tuple[str, list[Finding]]:
    """(HTML page, findings) of one run; every sentence about the run itself comes from ``facts``."""
    findings = all_findings(
        tables.scale_trends,
        tables.comparisons,
        tables.plateaus,
        tables.faithfulness,
        tables.lds,
        alpha,
        quality_metric,
        equivalence_margin=equivalence_margin,
    )
    figures = draw_all(tables, quality_metric)
    captioned = {spec.name: (figures[spec.name], spec.caption_for(quality_metric)) for spec in FIGURE_SPECS}
    body_sections = sections(tables, quality_metric, facts)
    body_sections.append(Section("Where this run departs from the published study", departures(findings, facts)))
    body_sections.append(Section("Caveats", [html.escape(line) for line in caveats(facts)]))
    page = render_report(title, run_info, findings, body_sections, captioned, heatmaps)
    return page, findings
