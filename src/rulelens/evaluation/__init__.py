"""Rule-quality evaluation: greedy generation, metrics with bootstrap CIs, and the glue.

Importing this package does not import torch or sentence-transformers; they load when a
model is run or an encoder is first needed.
"""

from rulelens.evaluation.evaluate import PER_CLAUSE_COLUMNS, evaluate_model, throughput
from rulelens.evaluation.generation import GeneratedRule, GenerationParams, Generations, generate_rules
from rulelens.evaluation.lrml import LRMLSyntaxError, is_valid_lrml, parse_lrml
from rulelens.evaluation.metrics import (
    METRICS,
    MetricParams,
    aggregate,
    bootstrap_mean_ci,
    chrf,
    exact_match,
    load_encoder,
    rouge_l,
    score_pairs,
    semantic_similarity,
    validity,
)

__all__ = [
    "METRICS",
    "PER_CLAUSE_COLUMNS",
    "GeneratedRule",
    "GenerationParams",
    "Generations",
    "LRMLSyntaxError",
    "MetricParams",
    "aggregate",
    "bootstrap_mean_ci",
    "chrf",
    "evaluate_model",
    "exact_match",
    "generate_rules",
    "is_valid_lrml",
    "load_encoder",
    "parse_lrml",
    "rouge_l",
    "score_pairs",
    "semantic_similarity",
    "throughput",
    "validity",
]
