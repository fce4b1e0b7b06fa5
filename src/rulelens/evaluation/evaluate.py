"""Evaluate one model variant on a test frame: generate, score, aggregate, time.

This is the function a pipeline node calls; it takes plain objects and parameter mappings
and returns data frames plus a small dict, so it needs no Kedro import.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd

from rulelens.data.rule_formats import RuleFormat, as_rule_format, format_name
from rulelens.evaluation.execution import EXECUTION_COLUMNS, EXECUTION_METRICS, execution_indicators, score_execution
from rulelens.evaluation.generation import (
    STOP_REPETITION,
    GenerationParams,
    Generations,
    generate_rules,
    unconstrained_rules,
)
from rulelens.evaluation.metrics import (
    DIAGNOSTICS,
    LRML_CLAUSE_COLUMNS,
    LRML_METRICS,
    LRML_UNCONSTRAINED_CLAUSE_COLUMNS,
    LRML_UNCONSTRAINED_METRICS,
    METRICS,
    UNCONSTRAINED_SUFFIX,
    MetricParams,
    aggregate,
    lrml_scores,
    score_pairs,
)
from rulelens.prompts import PromptStyle

logger = logging.getLogger(__name__)

PER_CLAUSE_COLUMNS = [
    "clause_id",
    "clause",
    "generated_rule",
    "reference_rule",
    "semantic_similarity",
    "chrf",
    "rouge_l",
    "exact_match",
    "valid",
    "generated_tokens",
    "stop_reason",
    "constrained_steps",
    "valid_unconstrained",
]


def per_clause_columns(rule_format: str = "rulelens", executed: bool = False, regenerated: bool = False) -> list[str]:
    """The per-clause table's columns: PER_CLAUSE_COLUMNS, plus the LRML score after ``valid`` for LRML,
    the execution columns (rulelens.evaluation.execution) first among the scores when rules were run,
    and with ``regenerated`` the rule written without the constraint after the generated one (for LRML
    its LRML score after the constrained one's)."""
    columns = list(PER_CLAUSE_COLUMNS)
    if regenerated:
        columns.insert(columns.index("generated_rule") + 1, "unconstrained_rule")
    if rule_format == "lrml":
        at = columns.index("valid") + 1
        columns[at:at] = [*LRML_CLAUSE_COLUMNS, *(LRML_UNCONSTRAINED_CLAUSE_COLUMNS if regenerated else ())]
    if executed:
        at = columns.index("reference_rule") + 1
        columns[at:at] = EXECUTION_COLUMNS
    return columns


def throughput(generations: Generations) -> dict[str, float]:
    """Rules per second and kept generated tokens per second over the whole generation."""
    rules, tokens = len(generations.items), int(sum(generations.token_counts))
    seconds = generations.seconds
    return {
        "rules": rules,
        "generated_tokens": tokens,
        "seconds": seconds,
        "rules_per_s": rules / seconds if seconds > 0 else float("nan"),
        "tokens_per_s": tokens / seconds if seconds > 0 else float("nan"),
        "batch_size": generations.batch_size,
        # what the decoder computed (FLOPs ~ 2 x parameters x these tokens; scripts/bench_budget.py)
        "prompt_tokens": int(generations.extra.get("prompt_tokens", 0)),
        "decode_token_slots": int(generations.extra.get("decode_token_slots", 0)),
    }


def _reference_column(frame: pd.DataFrame) -> str:
    """The reference rule column: ``rule`` (the project's clause table) or ``reference_rule``."""
    for name in ("rule", "reference_rule"):
        if name in frame:
            return name
    raise KeyError("the test frame needs a 'rule' (or 'reference_rule') column")


def evaluate_model(
    model: Any,
    tokenizer: Any,
    test_frame: pd.DataFrame,
    *,
    style: PromptStyle | dict[str, Any] | None = None,
    generation_params: GenerationParams | Mapping[str, Any] | None = None,
    metric_params: MetricParams | Mapping[str, Any] | None = None,
    rule_format: RuleFormat | str = "rulelens",
    encoder: Any = None,
    suites: pd.DataFrame | None = None,
    smt_timeout_ms: int = 2000,
    progress: Any = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """(per-clause scores, aggregate with bootstrap CIs, throughput) for one model.

    The per-clause table says why decoding stopped (``stop_reason``), how many tokens the
    constraint changed (``constrained_steps``) and whether the rule is valid without it
    (``valid_unconstrained``); the aggregate adds ``stopped_by_repetition`` (the
    share of clauses cut by the repetition stop), ``constrained`` (the share of rules the
    constraint changed) and ``valid_unconstrained`` (the share valid without the constraint:
    valid and unchanged, exact because the constraint only removes certainly invalid tokens). With
    the ``lrml`` format the table also has ``lrml_precision``, ``lrml_recall`` and
    ``lrml_clause_f1`` and the aggregate ``lrml_f1``, ``lrml_precision``, ``lrml_recall``.
    With ``regenerate_unconstrained`` (and ``constrain``) the rules the constraint changed are generated
    again without it (:func:`rulelens.evaluation.generation.unconstrained_rules`): the table gets
    ``unconstrained_rule`` and, for LRML, every LRML score of those rules with the suffix
    ``_unconstrained`` (aggregates too: ``lrml_f1_published_unconstrained`` beside ``lrml_f1_published``);
    the throughput gets ``unconstrained_seconds`` and ``regenerated_rules``.

    ``generation_params`` and ``metric_params`` are required: the complete ``evaluation.generation``
    and ``evaluation.metrics`` blocks (``conf/base/parameters_evaluation.yml``) or their settings.
    ``test_frame`` needs ``clause`` and ``rule`` columns; ``clause_id`` is optional (the
    index is used otherwise). ``encoder`` overrides the embedding model of ``metric_params``.
    With ``suites`` (:func:`rulelens.evaluation.execution.build_suites`) every rule is also run on
    its clause's scenes: the execution columns and the aggregate ``exec_match``,
    ``exec_agreement``, ``proved_equivalent``, ``proved_different``, ``undecided``.
    ``progress`` keeps finished generation batches for a resumed run (:func:`generate_rules`).
    """
    if not isinstance(style, PromptStyle):
        style = PromptStyle.from_params(style)
    generation_params = GenerationParams.from_params(generation_params)  # both complete before any work
    metric_params = MetricParams.from_params(metric_params)
    clauses = test_frame["clause"].astype(str).tolist()
    references = test_frame[_reference_column(test_frame)].astype(str).tolist()
    ids = (
        test_frame["clause_id"].astype(str).tolist()
        if "clause_id" in test_frame
        else [str(i) for i in test_frame.index]
    )
    generations = generate_rules(
        model, tokenizer, clauses, style, generation_params, progress=progress, rule_format=rule_format
    )
    scores = score_pairs(generations.texts, references, rule_format, metric_params, encoder)
    notation = format_name(rule_format)
    per_clause = pd.DataFrame(
        {
            "clause_id": ids,
            "clause": clauses,
            "generated_rule": generations.texts,
            "reference_rule": references,
        }
    )
    per_clause = pd.concat([per_clause, scores.reset_index(drop=True)], axis=1)
    per_clause["generated_tokens"] = generations.token_counts
    per_clause["stop_reason"] = [item.stop_reason for item in generations.items]
    per_clause["constrained_steps"] = [item.constrained_steps for item in generations.items]
    changed = per_clause["constrained_steps"] > 0
    per_clause["valid_unconstrained"] = per_clause["valid"].astype(bool) & ~changed
    quality = (*METRICS, *LRML_METRICS) if notation == "lrml" else METRICS
    regenerated = generation_params.constrain and generation_params.regenerate_unconstrained
    second_pass: dict[str, float] = {}
    if regenerated:
        free = unconstrained_rules(
            model, tokenizer, clauses, style, generation_params, generations, rule_format=rule_format
        )
        per_clause["unconstrained_rule"] = free.texts
        second_pass = {"unconstrained_seconds": free.seconds, "regenerated_rules": free.extra["regenerated"]}
        _check_unconstrained_validity(per_clause, as_rule_format(rule_format).is_valid)
        if notation == "lrml":
            free_scores = lrml_scores(free.texts, references, metric_params.lrml_entity_weight)
            per_clause = pd.concat([per_clause, free_scores.add_suffix(UNCONSTRAINED_SUFFIX)], axis=1)
            quality = (*quality, *LRML_UNCONSTRAINED_METRICS)
    diagnostics = per_clause.assign(
        stopped_by_repetition=(per_clause["stop_reason"] == STOP_REPETITION).astype(float),
        constrained=changed.astype(float),
        valid_unconstrained=per_clause["valid_unconstrained"].astype(float),
    )
    speed = {**throughput(generations), **second_pass}
    executed = suites is not None
    if executed:
        columns, seconds = score_execution(per_clause, suites, smt_timeout_ms, notation=notation)
        per_clause = pd.concat([per_clause, columns], axis=1)
        diagnostics = pd.concat([diagnostics, execution_indicators(columns)], axis=1)
        quality = (*EXECUTION_METRICS, *quality)
        speed["execution_seconds"] = seconds
    metrics_frame = aggregate(diagnostics, metrics=(*quality, *DIAGNOSTICS), params=metric_params)
    return per_clause[per_clause_columns(notation, executed, regenerated)], metrics_frame, speed


def _check_unconstrained_validity(per_clause: pd.DataFrame, is_valid: Any) -> None:
    """Warn where a regenerated unconstrained rule's validity is not ``valid_unconstrained``.

    They agree by construction (a rule the constraint changed would have been invalid without it);
    a difference means the second pass, in batches of its own, decoded a row differently (float
    rounding at a near tie), and is named rather than hidden."""
    regenerated_valid = per_clause["unconstrained_rule"].map(is_valid).astype(bool)
    differ = per_clause.loc[regenerated_valid != per_clause["valid_unconstrained"].astype(bool), "clause_id"]
    if len(differ):
        logger.warning(
            "regenerated unconstrained rules of %d clause(s) (%s) differ in validity from valid_unconstrained",
            len(differ),
            ", ".join(map(str, differ[:5])),
        )
