"""Evaluate one model variant on a test frame: generate, score, aggregate, time.

This is the function a pipeline node calls; it takes plain objects and parameter mappings
and returns data frames plus a small dict, so it needs no Kedro import.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from rulelens.data.rule_formats import RuleFormat, format_name
from rulelens.evaluation.execution import EXECUTION_COLUMNS, EXECUTION_METRICS, execution_indicators, score_execution
from rulelens.evaluation.generation import STOP_REPETITION, GenerationParams, Generations, generate_rules
from rulelens.evaluation.metrics import (
    DIAGNOSTICS,
    LRML_CLAUSE_COLUMNS,
    LRML_METRICS,
    METRICS,
    MetricParams,
    aggregate,
    score_pairs,
)
from rulelens.prompts import PromptStyle

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


def per_clause_columns(rule_format: str = "rulelens", executed: bool = False) -> list[str]:
    """The per-clause table's columns: PER_CLAUSE_COLUMNS, plus the LRML score after ``valid`` for LRML,
    and the execution columns (rulelens.evaluation.execution) first among the scores when rules were run."""
    if executed:
        at = PER_CLAUSE_COLUMNS.index("reference_rule") + 1
        return [*PER_CLAUSE_COLUMNS[:at], *EXECUTION_COLUMNS, *per_clause_columns(rule_format)[at:]]
    if rule_format != "lrml":
        return list(PER_CLAUSE_COLUMNS)
    at = PER_CLAUSE_COLUMNS.index("valid") + 1
    return [*PER_CLAUSE_COLUMNS[:at], *LRML_CLAUSE_COLUMNS, *PER_CLAUSE_COLUMNS[at:]]


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
    diagnostics = per_clause.assign(
        stopped_by_repetition=(per_clause["stop_reason"] == STOP_REPETITION).astype(float),
        constrained=changed.astype(float),
        valid_unconstrained=per_clause["valid_unconstrained"].astype(float),
    )
    quality = (*METRICS, *LRML_METRICS) if notation == "lrml" else METRICS
    speed = throughput(generations)
    executed = suites is not None
    if executed:
        columns, seconds = score_execution(per_clause, suites, smt_timeout_ms, notation=notation)
        per_clause = pd.concat([per_clause, columns], axis=1)
        diagnostics = pd.concat([diagnostics, execution_indicators(columns)], axis=1)
        quality = (*EXECUTION_METRICS, *quality)
        speed["execution_seconds"] = seconds
    metrics_frame = aggregate(diagnostics, metrics=(*quality, *DIAGNOSTICS), params=metric_params)
    return per_clause[per_clause_columns(notation, executed)], metrics_frame, speed
