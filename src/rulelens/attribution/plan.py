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

from rulelens.attribution.segments import DELETE, ClauseTemplate, clause_template, mask_string, perturbed_clauses
from rulelens.prompts import PromptParts, PromptStyle, build_prompt, encode_prompt


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
) -> ClausePlan:
    """Build the prompt around ``clause`` and tokenize it and all its single-word perturbations."""
    parts = build_prompt(tokenizer, clause, style)
    template = clause_template(clause)
    mask_text = mask_string(tokenizer, mask_token) if operator != DELETE else ""
    clauses = (clause, *perturbed_clauses(template, operator, mask_text))
    prompt_ids = tuple(tuple(encode_prompt(tokenizer, parts.with_clause(c))) for c in clauses)
    return ClausePlan(parts, template, operator, mask_text, clauses, prompt_ids)
