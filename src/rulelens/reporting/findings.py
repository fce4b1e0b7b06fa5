"""The study's questions answered for one run, against the published findings (docs/reporting.md).

Each function reads saved statistics tables and returns a :class:`Finding`: what was published,
what this run measured (with n, test, p and effect size), and a verdict:

- ``reproduced``: same direction and significant at ``alpha``;
- ``contradicted``: significant against the claim (for the strategy focus also: equivalent to no
  effect within a declared smallest effect of interest);
- ``inconclusive``: neither (a non-significant result, whatever the sign of its estimate);
- ``not testable``: the run lacks what the test needs (no curves, a ladder below the published range);
- a finding of several parts (sizes, categories, measures) is reproduced only when every part
  is, contradicted when any part is, inconclusive otherwise: never a count of significant parts;
- ``same direction, not testable for significance``: a trend read for its sign only (fewer than 4
  sizes: the size is the unit of replication, docs/statistics.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rulelens.modeling.strategies import STRATEGIES

REPRODUCED = "reproduced"
NOT_TESTABLE = "not testable"
DIRECTION_ONLY = "same direction, not testable for significance"
OPPOSITE_ONLY = "opposite direction, not testable for significance"
MIXED_ONLY = "mixed directions, not testable for significance"
SCALE_CATEGORIES = ("numerical_constraint", "rule_identifier")
UNTESTED_DIRECTIONS = (DIRECTION_ONLY, OPPOSITE_ONLY, MIXED_ONLY)
CONTRADICTED = "contradicted"
INCONCLUSIVE = "inconclusive"
NOT_REPRODUCED = CONTRADICTED  # the one kind of "not reproduced" that is evidence against the claim


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
    """Three honest states: significant for the claim, significant against it, or neither."""
    if significant:
        return REPRODUCED if direction_agrees else CONTRADICTED
    return INCONCLUSIVE


def _combine(verdicts: list[str]) -> str:
    """One verdict from several parts: all reproduced, any contradicted, else inconclusive.

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
    if any(v == CONTRADICTED for v in real):
        return CONTRADICTED
    return INCONCLUSIVE


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


def _planning_note(row) -> str:
    """The design's sensitivity at this n (planning information, never a reading of the observed effect)."""
    mde = getattr(row, "mde", np.nan)
    if not np.isfinite(mde):
        note = str(getattr(row, "note", "") or "")
        return "; " + (note if "not testable" in note else "no effect is detectable at this n")
    return f"; this n detects {getattr(row, 'mde_name', 'd')} = {mde:.2f} with power 0.8"


def oriented_pairs(rows: pd.DataFrame, full: list[str], adapters: list[str]) -> pd.DataFrame:
    """Full-weight-vs-adapter comparison rows, every one read as full-weight minus adapter.

    A row whose groups are the other way round (an adapter strategy whose name sorts before the
    full-weight one, e.g. ``dora`` vs ``fft``) is flipped: groups swapped, the effect size, its
    direction and the mean difference negated and the CI mirrored, so no comparison drops out.
    """
    forward = rows[rows["group_a"].isin(full) & rows["group_b"].isin(adapters)]
    backward = rows[rows["group_a"].isin(adapters) & rows["group_b"].isin(full)].copy()
    if not backward.empty:
        backward[["group_a", "group_b"]] = backward[["group_b", "group_a"]].to_numpy()
        for column in ("effect_size", "mean_difference", "direction", "effect_d"):
            if column in backward:
                backward[column] = -backward[column]
        if {"ci_low", "ci_high"} <= set(backward.columns):
            backward[["ci_low", "ci_high"]] = -backward[["ci_high", "ci_low"]].to_numpy()
    return pd.concat([forward, backward], ignore_index=True)


def three_state(claimed: bool, significant: bool, ci: tuple[float, float], margin: float | None) -> str:
    """reproduced / contradicted / inconclusive for one test whose claim is a direction.

    Contradicted: significant against the claim, or (not significant) a CI inside +-``margin``,
    the smallest effect of interest (two one-sided tests at alpha/2 each when ``ci`` is the 95% CI:
    conservative for a TOST at alpha).
    """
    if significant:
        return REPRODUCED if claimed else CONTRADICTED
    low, high = ci
    if margin is not None and np.isfinite(low) and np.isfinite(high) and -margin < low and high < margin:
        return CONTRADICTED
    return INCONCLUSIVE


def overall_three_state(per_size: dict) -> str:
    """Reproduced only when the claim holds at every size; contradicted when any size contradicts it."""
    states = [v for v in per_size.values() if v != NOT_TESTABLE]
    if not states:
        return NOT_TESTABLE
    if any(v == CONTRADICTED for v in states):
        return CONTRADICTED
    if all(v == REPRODUCED for v in states) and len(states) == len(per_size):
        return REPRODUCED
    return INCONCLUSIVE


def focus_finding(
    comparisons: pd.DataFrame, alpha: float, metric: str = "normalised_entropy", margin: float | None = None
) -> Finding:
    """Are FFT attributions different from, and more focused than, LoRA and QLoRA, at every size?

    Per comparison (size, FFT vs one adapter strategy) the Holm-corrected Wilcoxon over clauses and
    the sign of its matched-pairs rank-biserial r (FFT minus adapter; negative entropy = FFT more
    focused) give a three-state verdict (:func:`three_state`; ``margin`` is the smallest effect of
    interest on the mean difference). A size reproduces the claim when every adapter comparison
    there does, contradicts it when any contradicts it; the overall verdict needs the claim at
    every size (:func:`overall_three_state`), never a count of significant cells.
    """
    question = "Does the fine-tuning strategy change how focused the attributions are?"
    published = "FFT attributions are statistically different from LoRA/QLoRA and more focused."
    rows = comparisons[(comparisons["family"] == "focus") & (comparisons["metric"] == metric)]
    full = [name for name, spec in STRATEGIES.items() if not spec.adapters]  # every weight trains (FFT)
    adapters = [name for name, spec in STRATEGIES.items() if spec.adapters]  # LoRA, QLoRA, ...
    pairs = oriented_pairs(rows, full, adapters)
    by_size: dict[str, list[str]] = {}
    details = []
    for row in pairs.itertuples():
        direction = row.direction if hasattr(row, "direction") else np.sign(row.effect_size)
        if not np.isfinite(row.p_adjusted) or direction == 0:
            state = NOT_TESTABLE
        else:
            ci = (getattr(row, "ci_low", np.nan), getattr(row, "ci_high", np.nan))
            state = three_state(direction < 0, row.p_adjusted < alpha, ci, margin)
        by_size.setdefault(str(row.size), []).append(state)
        over_runs = "training runs" in str(row.test)
        effect = "Hedges' g" if over_runs else "rank-biserial r"
        details.append(
            f"size {row.size}, FFT vs {row.group_b}: {state}; {effect} = {row.effect_size:+.2f} "
            f"(negative: FFT more focused), {row.test} n = {row.n} {'training runs' if over_runs else 'clauses'}, "
            f"Holm p = {_p(row.p_adjusted)}; "
            f"mean difference in {metric.replace('_', ' ')} {row.mean_difference:+.3f} "
            f"[{row.ci_low:+.3f}, {row.ci_high:+.3f}]" + _planning_note(row)
        )
    per_size = {size: overall_three_state({i: s for i, s in enumerate(states)}) for size, states in by_size.items()}
    omnibus = rows[rows["group_a"].fillna("") == ""]
    for row in omnibus.itertuples():
        details.append(
            f"size {row.size}: {row.test} over {row.comparison}, n = {row.n}, p = {_p(row.p_value)}, "
            f"{row.effect_size_name} = {row.effect_size:.2f}"
        )
    if pairs.empty:
        details.append("FFT and at least one of LoRA/QLoRA are needed at the same size")
        return Finding("strategy_focus", question, published, NOT_TESTABLE, "not testable in this run", details)
    verdict = overall_three_state(per_size)
    runs = pairs["test"].astype(str).str.contains("training runs").any()
    unit_text = "Holm-corrected Welch t over training runs" if runs else "Holm-corrected Wilcoxon over clauses"
    margin_text = f"; equivalence margin +-{margin:g} in mean {metric.replace('_', ' ')}" if margin else ""
    observed = (
        "per size: "
        + ", ".join(f"{size} {state}" for size, state in per_size.items())
        + f" (FFT vs each adapter strategy, {unit_text}, alpha = {alpha}{margin_text}; "
        "reproduced overall only when FFT is significantly more focused at every size)"
    )
    return Finding("strategy_focus", question, published, verdict, observed, details)


def plateau_finding(plateaus: pd.DataFrame, metric: str) -> Finding:
    """Does rule quality stop improving beyond some size? (the size is the unit)

    The verdict is the hinge row's size-level test (:func:`rulelens.statistics.plateau.plateau_test`,
    the curve model fixed in advance): reproduced when the hinge beats a straight line, quality
    rises before the knee and the slope after it is shown flat; contradicted when quality is shown
    still rising after the knee (the slope's CI above the margin); inconclusive otherwise. The
    saturating fit is described, never counted. The knee is reported beside the published ~7B.
    """
    question = "Does rule quality plateau with model size?"
    published = "Rule quality (semantic similarity) plateaus beyond a certain size (about 7B parameters)."
    if metric != "semantic_similarity":
        question = f"Does rule quality ({metric.replace('_', ' ')}) plateau with model size?"
    rows = plateaus[(plateaus["strategy"] == "all") & (plateaus["metric"] == metric)]
    details = []
    for row in rows.itertuples():
        if row.model != "hinge":
            details.append(f"{row.model} fit (descriptive): {row.fit_status}")
            continue
        knee = getattr(row, "knee_n_params", np.nan)
        knee_text = f", knee at {knee / 1e9:.2g}B parameters (published: about 7B)" if np.isfinite(knee) else ""
        test = ""
        if np.isfinite(getattr(row, "hinge_vs_line_p", np.nan)):
            test = (
                f"; hinge vs line over {row.n_sizes} sizes p = {_p(row.hinge_vs_line_p)}, rise before the knee "
                f"one-sided p = {_p(row.rise_p)}, slope after it {row.flat_slope:+.3f} "
                f"[{row.flat_ci_low:+.3f}, {row.flat_ci_high:+.3f}] per e-fold of parameters "
                f"(flat within +-{row.margin:g})"
            )
        reason = f" ({row.reason})" if row.reason and row.status != "plateau" else ""
        details.append(f"hinge: {row.status}{knee_text}{test}{reason}")
    hinge = rows[rows["model"] == "hinge"]
    status = str(hinge["status"].iloc[0]) if len(hinge) else ""
    if status == "plateau":
        verdict = REPRODUCED
    elif status in ("not supported", "not reached"):
        row = hinge.iloc[0]
        still_rising = np.isfinite(row.get("flat_ci_low", np.nan)) and row["flat_ci_low"] > row["margin"]
        verdict = CONTRADICTED if still_rising and row.get("rise_p", 1.0) < 0.05 else INCONCLUSIVE
    else:
        verdict = NOT_TESTABLE
    sizes = int(rows["n_sizes"].max()) if len(rows) else 0
    observed = (
        (f"pooled fine-tuned variants over {sizes} sizes: " + "; ".join(details)) if details else "no quality table"
    )
    return Finding("quality_plateau", question, published, verdict, observed, details)


FAITHFUL = {REPRODUCED: "faithful", CONTRADICTED: "not faithful", INCONCLUSIVE: "inconclusive"}


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
    equivalence_margin: float | None = None,
) -> list[Finding]:
    """The four answers; ``alpha``, ``quality_metric`` and the margin come from ``parameters_reporting.yml``."""
    return [
        focus_finding(comparisons, alpha, margin=equivalence_margin),
        scale_finding(scale_trends, alpha),
        plateau_finding(plateaus, quality_metric),
        faithfulness_finding(faithfulness, lds, alpha),
    ]


def findings_frame(findings: list[Finding]) -> pd.DataFrame:
    return pd.DataFrame(
        [f.as_row() for f in findings], columns=["key", "question", "published", "verdict", "observed", "details"]
    )
