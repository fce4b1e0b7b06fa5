"""Constrained greedy decoding: the model's own choice unless that choice dooms the rule.

At each step of ``generate`` the processor keeps the row's greedy (arg-max) token when the rule
can still become valid with it; otherwise it takes the highest-scoring token of the top
``constraint_top_k`` that keeps a valid rule possible, checked in score order (docs/evaluation.md,
"Constrained decoding"). While the row goes on, "possible" is
:func:`rulelens.data.rule_prefix.prefix_problem`; when the token ends the row (end of sequence,
the stop rule, the repetition stop or ``max_new_tokens``) it is the exact
:func:`rulelens.data.rule_format.is_valid_rule` of the text the row would end with.

Because the prefix check is sound, a rule the processor never changed is exactly the model's
unconstrained greedy rule, and one it changed would have been invalid without it: one
constrained run gives both the constrained validity and the unconstrained one
(``valid_unconstrained``: valid and never changed).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from rulelens.data.rule_format import is_valid_rule
from rulelens.data.rule_prefix import prefix_problem
from rulelens.evaluation.stopping import GenerationParams, clean_text, row_stops


def ends_generation(ids: Sequence[int], text: str, params: GenerationParams) -> bool:
    """Whether a row whose new tokens are ``ids`` (decoded: ``text``) stops here, eos aside."""
    return len(ids) >= params.max_new_tokens or row_stops(ids, text, params)


def keeps_rule_possible(
    new_ids: Sequence[int],
    candidate: int,
    decode: Callable[[Sequence[int]], str],
    eos_ids: frozenset[int],
    params: GenerationParams,
) -> bool:
    """True unless appending ``candidate`` to a running row makes its final rule invalid for sure."""
    if candidate in eos_ids:
        return is_valid_rule(clean_text(decode(new_ids), params))
    ids = [*new_ids, candidate]
    text = decode(ids)
    if ends_generation(ids, text, params):
        return is_valid_rule(clean_text(text, params))
    return prefix_problem(text) is None


def row_finished(new_ids: Sequence[int], text: str, end_ids: frozenset[int], params: GenerationParams) -> bool:
    """A row ``generate`` has already ended (it is only padded from now on)."""
    return any(t in end_ids for t in new_ids) or bool(new_ids) and ends_generation(new_ids, text, params)


def rule_constraint(tokenizer: Any, params: GenerationParams, prompt_width: int, eos_ids: frozenset[int], pad_id: int):
    """A ``LogitsProcessor`` for one left-padded batch; its ``changed_steps[row]`` counts interventions."""
    import torch
    from transformers import LogitsProcessor

    def decode(ids: Sequence[int]) -> str:
        return tokenizer.decode(list(ids), skip_special_tokens=True)

    end_ids = frozenset(eos_ids | {pad_id})
    # special tokens other than eos decode to nothing: as a replacement they would only stall the row
    never_instead = frozenset(getattr(tokenizer, "all_special_ids", ())) - eos_ids

    def acceptable_instead(new: list[int], token: int, best: int) -> bool:
        if token == best or token in never_instead:
            return False
        return keeps_rule_possible(new, token, decode, eos_ids, params)

    class RuleConstraint(LogitsProcessor):
        """Masks every token but the first acceptable one, in score order, where the arg-max is not."""

        def __init__(self) -> None:
            self.changed_steps: list[int] = []
            self.gave_up: list[bool] = []

        def __call__(self, input_ids, scores):
            if not self.changed_steps:
                self.changed_steps = [0] * input_ids.shape[0]
                self.gave_up = [False] * input_ids.shape[0]
            best = scores.argmax(dim=-1).tolist()
            for row in range(input_ids.shape[0]):
                if self.gave_up[row]:
                    continue
                new = input_ids[row, prompt_width:].tolist()
                if row_finished(new, decode(new), end_ids, params):
                    continue
                if keeps_rule_possible(new, best[row], decode, eos_ids, params):
                    continue  # the model's own choice: nothing to do
                k = min(params.constraint_top_k, scores.shape[-1])
                ranked = scores[row].topk(k).indices.tolist()  # only for rows that need it
                chosen = next((t for t in ranked if acceptable_instead(new, t, best[row])), None)
                if chosen is None:
                    self.gave_up[row] = True  # nothing in the top k helps: the row goes on unconstrained
                    continue
                self.changed_steps[row] += 1
                keep = scores[row, chosen].clone()
                scores[row] = torch.finfo(scores.dtype).min
                scores[row, chosen] = keep
            return scores

    return RuleConstraint()
