"""The study's questions answered for one run, against the published findings (docs/reporting.md).

Each function reads saved statistics tables and returns a :class:`Finding`: what was published,
what this run measured (with n, test, p and effect size), and a verdict:

- ``reproduced``: same direction and significant at ``alpha``;
- ``same direction, not significant``: the sign agrees but the test cannot reject (often n);
- ``not reproduced``: the opposite direction, or a significant result against the claim;
- ``not testable``: the run lacks what the test needs (no curves, a ladder below the published range);
- ``same direction, not testable for significance``: a trend read for its sign only (fewer than 4
  sizes: the size is the unit of replication, docs/statistics.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rulelens.modeling.strategies import STRATEGIES

REPRODUCED = "reproduced"
SAME_DIRECTION = "same direction, not significant"
NOT_REPRODUCED = "not reproduced"
NOT_TESTABLE = "not testable"
DIRECTION_ONLY = "same direction, not testable for significance"
OPPOSITE_ONLY = "opposite direction, not testable for significance"
MIXED_ONLY = "mixed directions, not testable for significance"
SCALE_CATEGORIES = ("numerical_constraint", "rule_identifier")
UNTESTED_DIRECTIONS = (DIRECTION_ONLY, OPPOSITE_ONLY, MIXED_ONLY)


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
        return {
            "key": self.key,
            "question": self.question,
            "published": self.published,
            "verdict": self.verdict,
            "observed": self.observed,
            "details": " | ".join(self.details),
        }


def _p(value: float) -> str:
    return "n/a" if not np.isfinite(value) else (f"{value:.2g}" if value >= 0.001 else f"{value:.1e}")


def _verdict(direction_agrees: bool, significant: bool) -> str:
    if direction_agrees:
        return REPRODUCED if significant else SAME_DIRECTION
    return NOT_REPRODUCED


def _combine(verdicts: list[str]) -> str:
    """One verdict from several parts: all reproduced, any against, else weak agreement.

    Parts that could only be read for their direction (too few sizes to test) cap the verdict at
    "not testable for significance", whatever the other parts say.
    """
    if not verdicts or all(v == NOT_TESTABLE for v in verdicts):
        return NOT_TESTABLE
    real = [v for v in verdicts if v != NOT_TESTABLE]
    untested = [v for v in real if v in UNTESTED_DIRECTIONS]
    if untested:
        return untested[0] if len(set(untested)) == 1 else MIXED_ONLY
    if all(v == REPRODUCED for v in real):
        return REPRODUCED
    if all(v == NOT_REPRODUCED for v in real):
        return NOT_REPRODUCED
    if any(v == NOT_REPRODUCED for v in real):
        return "partly reproduced" if any(v == REPRODUCED for v in real) else NOT_REPRODUCED
    return SAME_DIRECTION if not any(v == REPRODUCED for v in real) else "partly reproduced"


def _truthy(value) -> bool:
    return bool(value) and not (isinstance(value, float) and np.isnan(value))


def _trend_verdict(row) -> str:
    """Verdict of one size trend whose claim is a positive slope (the size is the unit)."""
    if not np.isfinite(row.slope) or row.direction == 0:
        return NOT_TESTABLE
    if not _truthy(row.testable):
        return DIRECTION_ONLY if row.direction > 0 else OPPOSITE_ONLY
    return _verdict(row.direction > 0, _truthy(row.significant))


def scale_finding(scale_trends: pd.DataFrame, alpha: float) -> Finding:
    """Do larger models put more attribution mass on numerical constraints and rule identifiers?

    The evidence is the slope of the per-size mean mass share against ln(parameters), every size
    counted once (strategies averaged), tested over sizes with a clause-blocked bootstrap CI
    (docs/statistics.md). With fewer than 4 sizes only the direction is reported.
    """
    question = "Does model scale shift attribution towards numerical constraints and rule identifiers?"
    published = "Larger models put more attribution on numerical constraints and rule identifiers."
    rows = scale_trends[
        (scale_trends["family"] == "category")
        & (scale_trends["metric"] == "mass_share")
        & (scale_trends["strategy"] == "all")
        & scale_trends["category"].isin(SCALE_CATEGORIES)
    ]
    verdicts, details = [], []
    for row in rows.itertuples():
        verdict = _trend_verdict(row)
        verdicts.append(verdict)
        if not np.isfinite(row.slope):
            details.append(f"{row.category}: not estimable ({row.note})")
            continue
        test = (
            f"t-test over sizes p = {_p(row.p_value)}"
            if _truthy(row.testable)
            else "too few sizes to test (at least 4 needed): direction only"
        )
        details.append(
            f"{row.category}: slope {row.slope:+.4f} mass share per ln(parameters) "
            f"[{row.slope_ci_low:+.4f}, {row.slope_ci_high:+.4f}] (clause-blocked bootstrap), "
            f"{row.n_sizes} sizes x {row.n_clauses} clauses, {test}"
        )
    verdict = _combine(verdicts)
    observed = "; ".join(details) if details else "no category trends in this run"
    return Finding("scale_categories", question, published, verdict, observed, details)


def _power_note(row) -> str:
    """Whether a non-significant comparison could have been seen at its n (MDE vs observed effect)."""
    mde = getattr(row, "mde", np.nan)
    observed = getattr(row, "effect_d", np.nan)
    if not np.isfinite(mde):
        note = str(getattr(row, "note", "") or "")
        return "; " + (note if "not testable" in note else "no effect is detectable at this n")
    text = f"; smallest detectable {getattr(row, 'mde_name', 'd')} = {mde:.2f}"
    if np.isfinite(observed):
        text += f", observed {observed:+.2f}"
    return text


def focus_finding(comparisons: pd.DataFrame, alpha: float, metric: str = "normalised_entropy") -> Finding:
    """Are FFT attributions different from, and more focused than, LoRA and QLoRA (per size)?

    Direction and significance come from the same statistic: the sign of the matched-pairs
    rank-biserial r of the Wilcoxon test (FFT minus adapter; negative entropy = FFT more focused).
    """
    question = "Does the fine-tuning strategy change how focused the attributions are?"
    published = "FFT attributions are statistically different from LoRA/QLoRA and more focused."
    rows = comparisons[(comparisons["family"] == "focus") & (comparisons["metric"] == metric)]
    full = [name for name, spec in STRATEGIES.items() if not spec.adapters]  # every weight trains (FFT)
    adapters = [name for name, spec in STRATEGIES.items() if spec.adapters]  # LoRA, QLoRA, ...
    pairs = rows[rows["group_a"].isin(full) & rows["group_b"].isin(adapters)]
    verdicts, details = [], []
    underpowered = 0
    for row in pairs.itertuples():
        direction = row.direction if hasattr(row, "direction") else np.sign(row.effect_size)
        if not np.isfinite(row.p_adjusted) or direction == 0:
            verdicts.append(NOT_TESTABLE)
        else:
            verdicts.append(_verdict(direction < 0, row.p_adjusted < alpha))
        mde = getattr(row, "mde", np.nan)
        if row.p_adjusted >= alpha and (not np.isfinite(mde) or abs(getattr(row, "effect_d", 0.0)) < mde):
            underpowered += 1
        details.append(
            f"size {row.size}, FFT vs {row.group_b}: rank-biserial r = {row.effect_size:+.2f} "
            f"(negative: FFT more focused), {row.test} n = {row.n} clauses, Holm p = {_p(row.p_adjusted)}; "
            f"mean difference in {metric.replace('_', ' ')} {row.mean_difference:+.3f} "
            f"[{row.ci_low:+.3f}, {row.ci_high:+.3f}]" + _power_note(row)
        )
    omnibus = rows[rows["group_a"].fillna("") == ""]
    for row in omnibus.itertuples():
        details.append(
            f"size {row.size}: {row.test} over {row.comparison}, n = {row.n}, p = {_p(row.p_value)}, "
            f"{row.effect_size_name} = {row.effect_size:.2f}"
        )
    if pairs.empty:
        verdicts = [NOT_TESTABLE]
        details.append("FFT and at least one of LoRA/QLoRA are needed at the same size")
    reproduced = sum(v == REPRODUCED for v in verdicts)
    observed = (
        f"FFT more focused (negative rank-biserial r on normalised entropy) and significant in {reproduced} of "
        f"{len(pairs)} FFT-vs-adapter comparisons (Holm-corrected Wilcoxon over clauses, alpha = {alpha})"
    )
    if underpowered and len(pairs):
        observed += (
            f"; {underpowered} of the non-significant comparisons had an observed effect below the smallest "
            "effect detectable at their n (could not have been seen)"
        )
    return Finding("strategy_focus", question, published, _combine(verdicts), observed, details)


PLATEAU_TESTABLE_STATUSES = ("plateau", "not supported", "not reached")


def plateau_finding(plateaus: pd.DataFrame, metric: str) -> Finding:
    """Does rule quality stop improving beyond some size?

    A plateau verdict needs >= 4 sizes, a ladder reaching the published range and a fit whose
    support comes from a clause bootstrap; otherwise the status says why it is not testable.
    """
    question = "Does rule quality plateau with model size?"
    published = "Rule quality (semantic similarity) plateaus beyond a certain size (about 7B parameters)."
    if metric != "semantic_similarity":
        question = f"Does rule quality ({metric.replace('_', ' ')}) plateau with model size?"
    rows = plateaus[(plateaus["strategy"] == "all") & (plateaus["metric"] == metric)]
    details = []
    for row in rows.itertuples():
        support = getattr(row, "bootstrap_support", np.nan)
        support_text = f", bootstrap support {support:.0%}" if np.isfinite(support) else ""
        where = (
            f" at {row.plateau_size} ({row.plateau_n_params:,.0f} parameters)"
            if row.status == "plateau"
            else f" ({row.reason})"
        )
        details.append(f"{row.model} fit: {row.status}{where}{support_text}")
    statuses = set(rows["status"])
    if not len(rows) or not statuses & set(PLATEAU_TESTABLE_STATUSES):
        verdict = NOT_TESTABLE
    elif "plateau" in statuses:
        verdict = REPRODUCED
    elif "not supported" in statuses:  # a fit finds one, but under 95% of clause resamples agree
        verdict = SAME_DIRECTION
    else:
        verdict = NOT_REPRODUCED
    sizes = int(rows["n_sizes"].max()) if len(rows) else 0
    observed = (
        (f"pooled fine-tuned variants over {sizes} sizes: " + "; ".join(details)) if details else "no quality table"
    )
    return Finding("quality_plateau", question, published, verdict, observed, details)


FAITHFUL = {REPRODUCED: "faithful", NOT_REPRODUCED: "not faithful", SAME_DIRECTION: "weakly faithful"}


def faithfulness_finding(faithfulness: pd.DataFrame, lds: pd.DataFrame | None, alpha: float) -> Finding:
    """Do the attributions predict what deleting words does, better than random?

    Two checks, both with the clause as the unit (variants averaged per clause first):
    comprehensiveness / sufficiency AOPC against random word orders, and the linear datamodeling
    score (LDS) against the same attributions permuted over the clause's words (its chance level:
    same values, wrong words; a paired t-test over clauses). LDS is not true by construction,
    unlike comprehensiveness at k = 1, so the verdict needs it where it was measured.
    """
    question = "Do the attributions mean something (deletion curves and LDS against chance)?"
    published = "(method check, not a published claim) top-attributed words should matter more than random words."
    pooled = faithfulness[faithfulness["strategy"] == "all"] if len(faithfulness) else faithfulness
    verdicts, details = [], []
    for row in pooled.itertuples():
        direction = np.sign(row.effect_size) if np.isfinite(row.effect_size) else 0
        better = direction > 0 if row.better == "higher" else direction < 0
        verdicts.append(_verdict(better, row.p_value < alpha) if np.isfinite(row.p_value) else NOT_TESTABLE)
        details.append(
            f"{row.measure} AOPC {row.aopc_attribution:.3f} vs random {row.aopc_random:.3f} nats "
            f"(difference {row.difference:+.3f} [{row.difference_ci_low:+.3f}, {row.difference_ci_high:+.3f}], "
            f"{row.better} is better), Wilcoxon over n = {row.n} clauses, p = {_p(row.p_value)}, "
            f"r = {row.effect_size:+.2f}"
        )
    lds_rows = lds[lds["strategy"] == "all"] if lds is not None and len(lds) else pd.DataFrame()
    for row in lds_rows.itertuples():
        direction = np.sign(row.effect_size) if np.isfinite(row.effect_size) else 0
        verdicts.append(_verdict(direction > 0, row.p_value < alpha) if np.isfinite(row.p_value) else NOT_TESTABLE)
        details.append(
            f"LDS {row.lds_mean:.3f} [{row.lds_ci_low:.3f}, {row.lds_ci_high:.3f}] vs the same attributions "
            f"permuted over the clause's words {row.permuted_mean:.3f} (difference {row.difference_mean:+.3f} "
            f"[{row.difference_ci_low:+.3f}, {row.difference_ci_high:+.3f}]), paired t-test over "
            f"n = {row.n_clauses} clauses, p = {_p(row.p_value)}, d_z = {row.effect_size:+.2f}"
        )
    verdict = FAITHFUL.get(_combine(verdicts), _combine(verdicts))
    observed = "; ".join(details) if details else "no deletion curves or LDS in this run"
    return Finding("faithfulness", question, published, verdict, observed, details)


def all_findings(
    scale_trends: pd.DataFrame,
    comparisons: pd.DataFrame,
    plateaus: pd.DataFrame,
    faithfulness: pd.DataFrame,
    lds: pd.DataFrame | None,
    alpha: float,
    quality_metric: str,
) -> list[Finding]:
    """The four answers; ``alpha`` and ``quality_metric`` come from ``parameters_reporting.yml``."""
    return [
        focus_finding(comparisons, alpha),
        scale_finding(scale_trends, alpha),
        plateau_finding(plateaus, quality_metric),
        faithfulness_finding(faithfulness, lds, alpha),
    ]


def findings_frame(findings: list[Finding]) -> pd.DataFrame:
    return pd.DataFrame(
        [f.as_row() for f in findings], columns=["key", "question", "published", "verdict", "observed", "details"]
    )
