"""What to score for one clause: the prompt ids of the original and of every perturbation, and the target.

Engine, reference and captum adapter all start from :func:`plan_with_target`: a
:class:`ClausePlan` and a :class:`Target`, so they score the same token sequences:
``encode_prompt(prompt(perturbed clause)) + target ids``, exactly the sequence layout that
training uses. Every perturbed prompt is tokenized as a whole (no splicing of token lists), so
subword merges across a deleted word's neighbours are the tokenizer's own.

Target modes (docs/attribution.md), what y is in s(x) = log p(y | prompt(x)):

- ``reference``: the given rule followed by eos, tokenized as in training.
- ``greedy``: the model's own greedy continuation of the *unperturbed* prompt (argmax at every
  step, at most ``max_new_tokens``, eos included when produced). The greedy ids are kept as ids
  and never re-tokenized from text, so the scored tokens are exactly the ones generated. The
  loop calls the model's body and head directly (see :mod:`.scoring`), so no generation config
  (sampling, repetition penalty) can change the result.

Light to import: torch loads only when a greedy target is generated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rulelens.attribution.result import ClauseAttribution
from rulelens.prompts import (
    PromptParts,
    PromptStyle,
    build_prompt,
    check_clause_text,
    encode,
    encode_prompt,
    target_text,
)
from rulelens.words.perturb import DELETE, ClauseTemplate, clause_template, mask_string, perturbed_clauses

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
        clause=plan.template.clause,
        words=plan.template.words,
        scores=tuple(float(s) for s in scores),
        full_score=float(full_score),
        operator=plan.operator,
        target_mode=target.mode,
        target_text=target.text,
        target_ids=tuple(target.ids),
        clause_id=clause_id,
        reduction=reduction,
        method=method,
        stats=dict(stats or {}),
    )


def stop_ids(model: Any, tokenizer: Any) -> set[int]:
    """Token ids that end generation: the tokenizer's eos and the model's configured eos ids."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    config_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(config_eos, int):
        ids.add(config_eos)
    elif config_eos:
        ids.update(int(i) for i in config_eos)
    return ids


def greedy_ids(model: Any, prompt_ids: list[int], max_new_tokens: int, stop: set[int]) -> list[int]:
    """Greedy continuation of ``prompt_ids`` with a KV cache, up to and including a stop id."""
    import torch

    from rulelens.attribution.scoring import head_logits, lm_parts, run_body

    parts = lm_parts(model)
    device = parts.device
    generated: list[int] = []
    with torch.inference_mode():
        hidden, cache = run_body(parts, torch.tensor([list(prompt_ids)], device=device), use_cache=True)
        for step in range(max_new_tokens):
            token = int(head_logits(parts, hidden[:, -1]).argmax(dim=-1)[0])
            generated.append(token)
            if token in stop or step == max_new_tokens - 1:
                break
            position = torch.tensor([[len(prompt_ids) + step]], device=device)
            hidden, cache = run_body(
                parts, torch.tensor([[token]], device=device), position_ids=position, cache=cache, use_cache=True
            )
    return generated


def resolve_target(
    model: Any,
    tokenizer: Any,
    prompt_ids: list[int],
    rule: str | None,
    mode: str = REFERENCE,
    max_new_tokens: int = 128,
) -> Target:
    """The target of one clause under ``mode`` (the target modes of the module docstring)."""
    if mode == REFERENCE:
        if rule is None:
            raise ValueError("target_mode='reference' needs the reference rule")
        return reference_target(tokenizer, rule)
    if mode == GREEDY:
        ids = greedy_ids(model, prompt_ids, max_new_tokens, stop_ids(model, tokenizer))
        return Target(tuple(ids), tokenizer.decode(ids, skip_special_tokens=True), GREEDY)
    raise ValueError(f"unknown target mode {mode!r}; expected one of {TARGET_MODES}")


def plan_with_target(
    model: Any,
    tokenizer: Any,
    clause: str,
    target_rule: str | None,
    *,
    style,
    operator: str,
    mask_token: str | None,
    target: Target | None,
    target_mode: str,
    max_new_tokens: int,
):
    """(perturbation plan, target) for one clause: the step every implementation starts with,
    so the engine, the reference and the captum adapter score exactly the same inputs."""
    plan = plan_clause(tokenizer, clause, style=style, operator=operator, mask_token=mask_token)
    if target is None:
        target = resolve_target(model, tokenizer, list(plan.prompt_ids[0]), target_rule, target_mode, max_new_tokens)
    return plan, target
