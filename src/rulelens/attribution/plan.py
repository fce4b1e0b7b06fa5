"""What to score for one clause: the prompt ids of the original and of every perturbation.

Engine, reference and captum adapter all start from a :class:`ClausePlan`, so they score the
same token sequences: ``encode_prompt(prompt(perturbed clause)) + target ids``, exactly the
sequence layout that training uses. Every perturbed prompt is tokenized as a whole (no
splicing of token lists), so subword merges across a deleted word's neighbours are the
tokenizer's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rulelens.attribution.result import ClauseAttribution
from rulelens.attribution.segments import DELETE, ClauseTemplate, clause_template, mask_string, perturbed_clauses
from rulelens.prompts import (
    PromptParts, PromptStyle, build_prompt, check_clause_text, encode, encode_prompt, target_text,
)

REFERENCE = "reference"
GREEDY = "greedy"
TARGET_MODES = (REFERENCE, GREEDY)


@dataclass(frozen=True)
class Target:
    """The token ids that are scored after the prompt, with readable text and their origin."""

    ids: tuple[int, ...]
    text: str
    mode: str


def reference_target(tokenizer: Any, rule: str) -> Target:
    """The given rule + eos, tokenized exactly as training tokenizes it."""
    return Target(tuple(encode(tokenizer, target_text(tokenizer, rule))), rule, REFERENCE)


@dataclass(frozen=True)
class ClausePlan:
    """A clause's prompt, its word template and the token ids to score (original first)."""

    parts: PromptParts
    template: ClauseTemplate
    operator: str
    mask_text: str
    clauses: tuple[str, ...]
    prompt_ids: tuple[tuple[int, ...], ...]

    @property
    def n_words(self) -> int:
        return len(self.template.features)


def plan_clause(
    tokenizer: Any,
    clause: str,
    *,
    style: PromptStyle = PromptStyle(),
    operator: str = DELETE,
    mask_token: str | None = None,
    mask_text: str | None = None,
) -> ClausePlan:
    """Build the prompt around ``clause`` and tokenize it and all its single-word perturbations.

    ``mask_text`` (alias ``mask_token``, the engine option's name) is the mask operator's
    plain-text placeholder, default ``"___"``; it is validated by :func:`mask_string`.
    """
    parts = build_prompt(tokenizer, clause, style)
    template = clause_template(clause)
    text = mask_text if mask_text is not None else mask_token
    placeholder = mask_string(tokenizer, text) if operator != DELETE else ""
    clauses = (clause, *perturbed_clauses(template, operator, placeholder))
    for perturbed in clauses[1:]:
        check_clause_text(tokenizer, perturbed, parts)
    prompt_ids = tuple(tuple(encode_prompt(tokenizer, parts.with_clause(c))) for c in clauses)
    return ClausePlan(parts, template, operator, placeholder, clauses, prompt_ids)


REDUCTIONS = ("sum", "mean")


def reduce_scores(token_log_probs: list[float], reduction: str = "sum") -> float:
    """The sequence score s: sum of the target tokens' log p (default) or their mean."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; expected one of {REDUCTIONS}")
    total = float(sum(token_log_probs))
    return total / len(token_log_probs) if reduction == "mean" and token_log_probs else total


def build_attribution(
    plan: ClausePlan,
    target: Target,
    token_log_probs: list[list[float]],
    *,
    reduction: str = "sum",
    method: str = "engine",
    clause_id: Any = None,
    stats: dict | None = None,
) -> ClauseAttribution:
    """Word scores a_i = s(x) - s(x without word i) from per-token log p (original first)."""
    if len(token_log_probs) != 1 + plan.n_words:
        raise ValueError(f"expected {1 + plan.n_words} scored sequences, got {len(token_log_probs)}")
    totals = [reduce_scores(list(row), reduction) for row in token_log_probs]
    scores = [totals[0] - s for s in totals[1:]]
    return attribution_from_scores(
        plan, target, totals[0], scores, reduction=reduction, method=method, clause_id=clause_id, stats=stats
    )


def attribution_from_scores(
    plan: ClausePlan,
    target: Target,
    full_score: float,
    scores: list[float],
    *,
    reduction: str = "sum",
    method: str = "engine",
    clause_id: Any = None,
    stats: dict | None = None,
) -> ClauseAttribution:
    """The result object for already computed word scores."""
    return ClauseAttribution(
        clause=plan.template.clause, words=plan.template.words,
        scores=tuple(float(s) for s in scores), full_score=float(full_score),
        operator=plan.operator, target_mode=target.mode, target_text=target.text,
        target_ids=tuple(target.ids), clause_id=clause_id, reduction=reduction,
        method=method, stats=dict(stats or {}),
    )
