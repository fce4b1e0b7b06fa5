"""The study's questions answered for one run, against the published findings (GUIDE 1).

Each function reads saved statistics tables and returns a :class:`Finding`: what was published,
what this run measured (with n, test, p and effect size), and a verdict:

- ``reproduced``: same direction and significant at ``alpha``;
- ``same direction, not significant``: the sign agrees but the test cannot reject (often n);
- ``not reproduced``: the opposite direction, or a significant result against the claim;
- ``not testable``: the run lacks what the test needs (too few sizes, no curves).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

REPRODUCED = "reproduced"
SAME_DIRECTION = "same direction, not significant"
NOT_REPRODUCED = "not reproduced"
NOT_TESTABLE = "not testable"
SCALE_CATEGORIES = ("numerical_constraint", "rule_identifier")


@dataclass(frozen=True)
class Finding:
    """One question, the published answer, this run's evidence and the verdict."""

    key: str
    question: str
    published: str
    verdict: str
    observed: str
    details: list[str] = field(default_factory=list)

    def as_row(self) -> dict:
        return {"key": self.key, "question": self.question, "published": self.published, "verdict": self.verdict,
                "observed": self.observed, "details": " | ".join(self.details)}


def _p(value: float) -> str:
    return "n/a" if not np.isfinite(value) else (f"{value:.2g}" if value >= 0.001 else f"{value:.1e}")


def _verdict(direction_agrees: bool, significant: bool) -> str:
    if direction_agrees:
        return REPRODUCED if significant else SAME_DIRECTION
    return NOT_REPRODUCED


def _combine(verdicts: list[str]) -> str:
    """One verdict from several parts: all reproduced, any against, else weak agreement."""
    if not verdicts or all(v == NOT_TESTABLE for v in verdicts):
        return NOT_TESTABLE
    real = [v for v in verdicts if v != NOT_TESTABLE]
    if all(v == REPRODUCED for v in real):
        return REPRODUCED
    if all(v == NOT_REPRODUCED for v in real):
        return NOT_REPRODUCED
    if any(v == NOT_REPRODUCED for v in real):
        return "partly reproduced" if any(v == REPRODUCED for v in real) else NOT_REPRODUCED
    return SAME_DIRECTION if not any(v == REPRODUCED for v in real) else "partly reproduced"


def scale_finding(scale_trends: pd.DataFrame, alpha: float = 0.05) -> Finding:
    """Do larger models put more attribution mass on numerical constraints and rule identifiers?"""
    question = "Does model scale shift attribution towards numerical constraints and rule identifiers?"
    published = "Larger models put more attribution on numerical constraints and rule identifiers."
    rows = scale_trends[(scale_trends["family"] == "category") & (scale_trends["metric"] == "mass_share")
                        & (scale_trends["strategy"] == "all") & scale_trends["category"].isin(SCALE_CATEGORIES)]
    verdicts, details = [], []
    for row in rows.itertuples():
        if not np.isfinite(row.rho):
            verdicts.append(NOT_TESTABLE)
            details.append(f"{row.category}: not estimable ({row.note})")
            continue
        verdicts.append(_verdict(row.rho > 0, row.p_value < alpha))
        details.append(f"{row.category}: Spearman rho = {row.rho:+.2f} against ln(parameters), n = {row.n} variants "
                       f"over {row.n_sizes} sizes, p = {_p(row.p_value)}")
    verdict = _combine(verdicts)
    observed = "; ".join(details) if details else "no category trends in this run"
    return Finding("scale_categories", question, published, verdict, observed, details)


def focus_finding(comparisons: pd.DataFrame, alpha: float = 0.05, metric: str = "normalised_entropy") -> Finding:
    """Are FFT attributions different from, and more focused than, LoRA and QLoRA (per size)?"""
    question = "Does the fine-tuning strategy change how focused the attributions are?"
    published = "FFT attributions are statistically different from LoRA/QLoRA and more focused."
    rows = comparisons[(comparisons["family"] == "focus") & (comparisons["metric"] == metric)]
    pairs = rows[(rows["group_a"] == "fft") & rows["group_b"].isin(["lora", "qlora"])]
    verdicts, details = [], []
    for row in pairs.itertuples():
        # group_a - group_b < 0 on normalised entropy: FFT more focused
        more_focused = row.mean_difference < 0
        verdicts.append(_verdict(more_focused, row.p_adjusted < alpha))
        details.append(f"size {row.size}, FFT vs {row.group_b}: mean difference in {metric.replace('_', ' ')} "
                       f"{row.mean_difference:+.3f} [{row.ci_low:+.3f}, {row.ci_high:+.3f}], {row.test} n = {row.n}, "
                       f"Holm p = {_p(row.p_adjusted)}, rank-biserial r = {row.effect_size:+.2f}")
    omnibus = rows[rows["group_a"].fillna("") == ""]
    for row in omnibus.itertuples():
        details.append(f"size {row.size}: {row.test} over {row.comparison}, n = {row.n}, p = {_p(row.p_value)}, "
                       f"{row.effect_size_name} = {row.effect_size:.2f}")
    if pairs.empty:
        verdicts = [NOT_TESTABLE]
        details.append("FFT and at least one of LoRA/QLoRA are needed at the same size")
    reproduced = sum(v == REPRODUCED for v in verdicts)
    observed = (f"FFT more focused (lower entropy) and significantly different in {reproduced} of {len(pairs)} "
                f"FFT-vs-adapter comparisons (Holm-corrected Wilcoxon, alpha = {alpha})")
    return Finding("strategy_focus", question, published, _combine(verdicts), observed, details)


def plateau_finding(plateaus: pd.DataFrame, metric: str = "semantic_similarity") -> Finding:
    """Does rule quality stop improving beyond some size?"""
    question = "Does rule quality plateau with model size?"
    published = "Rule quality (semantic similarity) plateaus beyond a certain size (about 7B parameters)."
    if metric != "semantic_similarity":
        question = f"Does rule quality ({metric.replace('_', ' ')}) plateau with model size?"
    rows = plateaus[(plateaus["strategy"] == "all") & (plateaus["metric"] == metric)]
    details = [f"{row.model} fit: {row.status}" + (f" at {row.plateau_size} ({row.plateau_n_params:,.0f} parameters)"
                                                   if row.status == "plateau" else f" ({row.reason})")
               for row in rows.itertuples()]
    statuses = set(rows["status"])
    if not len(rows) or statuses == {"not estimable"}:
        verdict = NOT_TESTABLE
    elif "plateau" in statuses:
        verdict = REPRODUCED
    else:
        verdict = NOT_REPRODUCED
    sizes = int(rows["n_sizes"].max()) if len(rows) else 0
    observed = (f"pooled fine-tuned variants over {sizes} sizes: " + "; ".join(details)) if details else "no quality table"
    return Finding("quality_plateau", question, published, verdict, observed, details)


def faithfulness_finding(faithfulness: pd.DataFrame, alpha: float = 0.05) -> Finding:
    """Do the attributions beat a random word order on the deletion curves?"""
    question = "Do the attributions mean something (deletion curves against a random order)?"
    published = "(method check, not a published claim) top-attributed words should matter more than random words."
    rows = faithfulness[faithfulness["strategy"] == "all"] if len(faithfulness) else faithfulness
    verdicts, details = [], []
    for row in rows.itertuples():
        better = row.difference > 0 if row.better == "higher" else row.difference < 0
        verdicts.append(_verdict(better, row.p_value < alpha) if np.isfinite(row.p_value) else NOT_TESTABLE)
        details.append(f"{row.measure} AOPC {row.aopc_attribution:.3f} vs random {row.aopc_random:.3f} nats "
                       f"(difference {row.difference:+.3f} [{row.difference_ci_low:+.3f}, {row.difference_ci_high:+.3f}], "
                       f"{row.better} is better), Wilcoxon n = {row.n}, p = {_p(row.p_value)}, r = {row.effect_size:+.2f}")
    verdict = _combine(verdicts)
    verdict = {REPRODUCED: "faithful", NOT_REPRODUCED: "not faithful", SAME_DIRECTION: "weakly faithful"}.get(verdict, verdict)
    observed = "; ".join(details) if details else "no deletion curves in this run"
    return Finding("faithfulness", question, published, verdict, observed, details)


def all_findings(scale_trends: pd.DataFrame, comparisons: pd.DataFrame, plateaus: pd.DataFrame,
                 faithfulness: pd.DataFrame, alpha: float = 0.05,
                 quality_metric: str = "semantic_similarity") -> list[Finding]:
    return [
        focus_finding(comparisons, alpha),
        scale_finding(scale_trends, alpha),
        plateau_finding(plateaus, quality_metric),
        faithfulness_finding(faithfulness, alpha),
    ]


def findings_frame(findings: list[Finding]) -> pd.DataFrame:
    return pd.DataFrame([f.as_row() for f in findings],
                        columns=["key", "question", "published", "verdict", "observed", "details"])
