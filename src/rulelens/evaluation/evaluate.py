"""Evaluate one model variant on a test frame: generate, score, aggregate, time.

This is the function a pipeline node calls; it takes plain objects and parameter mappings
and returns data frames plus a small dict, so it needs no Kedro import.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from rulelens.evaluation.generation import GenerationParams, Generations, generate_rules
from rulelens.evaluation.metrics import MetricParams, aggregate, score_pairs
from rulelens.prompts import PromptStyle

PER_CLAUSE_COLUMNS = [
    "clause_id", "clause", "generated_rule", "reference_rule", "semantic_similarity", "chrf",
    "rouge_l", "exact_match", "valid", "generated_tokens",
]


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
    }


def _reference_column(frame: pd.DataFrame) -> str:
    """The reference rule column: ``rule`` (the project's clause table) or ``reference_rule``."""
    for name in ("rule", "reference_rule"):
        if name in frame:
            return name
    raise KeyError("the test frame needs a 'rule' (or 'reference_rule') column")


def evaluate_model(model: Any, tokenizer: Any, test_frame: pd.DataFrame, *,
                   style: PromptStyle | dict[str, Any] | None = None,
                   generation_params: GenerationParams | dict[str, Any] | None = None,
                   metric_params: MetricParams | dict[str, Any] | None = None,
                   rule_format: str = "rulelens", encoder: Any = None,
                   ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """(per-clause scores, aggregate with bootstrap CIs, throughput) for one model.

    ``test_frame`` needs ``clause`` and ``rule`` columns; ``clause_id`` is optional (the
    index is used otherwise). ``encoder`` overrides the embedding model of ``metric_params``.
    """
    if not isinstance(style, PromptStyle):
        style = PromptStyle.from_params(style)
    metric_params = MetricParams.from_params(metric_params)
    clauses = test_frame["clause"].astype(str).tolist()
    references = test_frame[_reference_column(test_frame)].astype(str).tolist()
    ids = test_frame["clause_id"].astype(str).tolist() if "clause_id" in test_frame else [str(i) for i in test_frame.index]
    generations = generate_rules(model, tokenizer, clauses, style, generation_params)
    scores = score_pairs(generations.texts, references, rule_format, metric_params, encoder)
    per_clause = pd.DataFrame({
        "clause_id": ids, "clause": clauses, "generated_rule": generations.texts, "reference_rule": references,
    })
    per_clause = pd.concat([per_clause, scores.reset_index(drop=True)], axis=1)
    per_clause["generated_tokens"] = generations.token_counts
    metrics_frame = aggregate(per_clause, params=metric_params)
    return per_clause[PER_CLAUSE_COLUMNS], metrics_frame, throughput(generations)
