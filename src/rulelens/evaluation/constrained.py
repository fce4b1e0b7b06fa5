"""Constrained greedy decoding: the model's own choice unless that choice dooms the rule.

At each step of greedy decoding (:mod:`rulelens.evaluation.decoding`) the constraint keeps the row's
greedy (arg-max) token when the rule can still become valid with it; otherwise it takes the
highest-scoring token that keeps a valid rule possible (docs/evaluation.md, "Constrained decoding").
While the row goes on, "possible" is the rule format's declared grammar
(:class:`rulelens.data.rule_formats.RuleFormat`, e.g. ``data/grammars/rulelens.gbnf``) through
llguidance: the token is allowed when the text so far plus the token can still become a sentence of
the grammar. When the token ends the row (end of sequence, the stop rule, ``max_new_tokens``) it is
the format's exact validator (for the shipped format
:func:`rulelens.data.rule_format.is_valid_rule`) on the text the row would end with. A greedy token
that makes the row loop (the repetition stop) is kept: the row ends there, unrespelled. A
replacement is never a special token and, while any other token is acceptable, never a token of
whitespace only: both leave the rule where it was, so the model's refused choice (typically the end
of sequence on an unclosed rule) would only come back, and the row would pad itself into the
repetition stop instead of closing its rule.

Every valid rule is a sentence of the grammar (a format's contract, tested for the shipped ones), so the masks never
exclude a prefix of a valid rule: a rule the constraint never changed is exactly the model's
unconstrained greedy rule, and one it changed would have been invalid without it. One constrained
run gives both the constrained validity and the unconstrained one (``valid_unconstrained``: valid
and never changed).
"""

from __future__ import annotations

import weakref
from typing import Any, Callable, Sequence

from rulelens.data.rule_formats import RuleFormat, as_rule_format
from rulelens.data.rule_grammar import grammar_tokenizer, rule_matcher
from rulelens.evaluation.stopping import GenerationParams, clean_text, repetition_stop, row_stops


def ends_generation(ids: Sequence[int], text: str, params: GenerationParams) -> bool:
    """Whether a row whose new tokens are ``ids`` (decoded: ``text``) stops here, eos aside."""
    return len(ids) >= params.max_new_tokens or row_stops(ids, text, params)


def loops(ids: Sequence[int], params: GenerationParams) -> bool:
    """Whether the repetition stop ends a row with these new tokens."""
    return repetition_stop(ids, params.repetition_ngram, params.repetition_max_repeats) is not None


def keeps_rule_possible(
    new_ids: Sequence[int],
    candidate: int,
    decode: Callable[[Sequence[int]], str],
    eos_ids: frozenset[int],
    params: GenerationParams,
    grammar_allows: Callable[[int], bool],
    is_valid: Callable[[str], bool],
) -> bool:
    """True unless appending ``candidate`` to a running row makes its final rule invalid for sure.

    ``grammar_allows(token)``: whether the grammar's mask for the row's tokens so far lets it through;
    ``is_valid``: the format's validator, the exact check of a row's final text.
    """
    if candidate in eos_ids:
        return is_valid(clean_text(decode(new_ids), params))
    ids = [*new_ids, candidate]
    text = decode(ids)
    if ends_generation(ids, text, params):
        return is_valid(clean_text(text, params))
    return grammar_allows(candidate)


def whitespace_token_mask(tokenizer: Any, grammar: Any, vocabulary: int) -> Any:
    """Bool tensor of ``vocabulary`` entries: the tokens whose text is whitespace only.

    Read from llguidance's bytes of each token (``grammar``, the tokenizer's llguidance view:
    ``decode_bytes``, 25 ms for 49k tokens), built once per tokenizer and vocabulary width and freed
    with the tokenizer; ids beyond the tokenizer are False."""
    import torch

    masks = _WHITESPACE_MASKS.setdefault(tokenizer, {})
    if vocabulary not in masks:
        texts = [grammar.decode_bytes([t]).decode("utf-8", errors="replace") for t in range(grammar.vocab_size)]
        blank = [bool(text) and not text.strip() for text in texts[:vocabulary]]
        mask = torch.zeros(vocabulary, dtype=torch.bool)
        mask[: len(blank)] = torch.tensor(blank, dtype=torch.bool)
        masks[vocabulary] = mask
    return masks[vocabulary]


_WHITESPACE_MASKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # tokenizer -> {vocabulary: mask}


def mask_tensor(mask: bytes, vocabulary: int) -> Any:
    """llguidance's bitmask (one bit per token, little-endian) as a bool tensor of ``vocabulary`` entries."""
    import numpy as np
    import torch

    bits = np.unpackbits(np.frombuffer(mask, dtype=np.uint8), bitorder="little")[:vocabulary]
    allowed = torch.zeros(vocabulary, dtype=torch.bool)
    allowed[: len(bits)] = torch.from_numpy(bits.astype(bool))
    return allowed


class RowGrammar:
    """One row's grammar matcher, fed the row's tokens as decoding appends them."""

    def __init__(self, matcher: Any) -> None:
        self.matcher = matcher
        self.fed = 0

    def catch_up(self, new_ids: Sequence[int]) -> bool:
        """Feed the tokens appended since the last step; False if the grammar refuses one."""
        pending = list(new_ids[self.fed :])
        self.fed = len(new_ids)
        return not pending or bool(self.matcher.consume_tokens(pending)) and not self.matcher.is_error()

    def allows(self, token: int) -> bool:
        try:
            return self.matcher.validate_tokens([int(token)]) == 1
        except (ValueError, IndexError, RuntimeError):  # an id beyond the tokenizer's vocabulary
            return False

    def allowed(self, vocabulary: int) -> Any:
        return mask_tensor(self.matcher.compute_bitmask(), vocabulary)


def rule_constraint(
    tokenizer: Any,
    params: GenerationParams,
    eos_ids: frozenset[int],
    batch_size: int,
    rule_format: RuleFormat | str = "rulelens",
):
    """The constraint for one batch of ``batch_size`` rows, a ``choose`` hook of
    :func:`rulelens.evaluation.decoding.greedy_decode`; its ``changed_steps[row]`` counts interventions."""
    import torch

    def decode(ids: Sequence[int]) -> str:
        return tokenizer.decode(list(ids), skip_special_tokens=True)

    # special tokens other than eos decode to nothing: as a replacement they would only stall the row
    never_instead = frozenset(getattr(tokenizer, "all_special_ids", ())) - eos_ids
    grammar = grammar_tokenizer(tokenizer)
    rule_format = as_rule_format(rule_format)
    is_valid, grammar_text = rule_format.is_valid, rule_format.grammar_text

    class RuleConstraint:
        """Masks every token but the first acceptable one, in score order, where the arg-max is not."""

        def __init__(self) -> None:
            self.changed_steps = [0] * batch_size
            self.gave_up = [False] * batch_size
            self.rows = [RowGrammar(rule_matcher(grammar, rule_format.name, grammar_text)) for _ in range(batch_size)]

        def __call__(self, rows: Sequence[int], new_ids: Sequence[list[int]], scores):
            """Rewrite the scores of the running ``rows`` (batch indices; ``new_ids``: their tokens so far)."""
            best = scores.argmax(dim=-1).tolist()
            for slot, (row, new) in enumerate(zip(rows, new_ids)):
                if self.gave_up[row]:
                    continue
                state = self.rows[row]
                if not state.catch_up(new):
                    self.gave_up[row] = True  # cannot happen for a token this constraint let through
                    continue
                if loops([*new, best[slot]], params):
                    continue  # the model's own loop ends the row, as it would unconstrained
                if keeps_rule_possible(new, best[slot], decode, eos_ids, params, state.allows, is_valid):
                    continue  # the model's own choice: nothing to do
                chosen = self._best_acceptable(scores[slot], new, best[slot], state)
                if chosen is None:
                    self.gave_up[row] = True  # nothing acceptable: the row goes on unconstrained
                    continue
                self.changed_steps[row] += 1
                keep = scores[slot, chosen].clone()
                scores[slot] = torch.finfo(scores.dtype).min
                scores[slot, chosen] = keep
            return scores

        @staticmethod
        def _best_acceptable(row_scores, new: list[int], best: int, state: RowGrammar) -> int | None:
            """The highest-scoring token the grammar allows and that keeps the rule possible; a token
            that ends the row gets the exact check, at most ``constraint_top_k`` of them in score order."""
            allowed = state.allowed(row_scores.shape[-1]).to(row_scores.device)
            allowed[best] = False
            for token in never_instead:
                if token < allowed.shape[0]:
                    allowed[token] = False
            progressing = allowed & ~whitespace_token_mask(tokenizer, grammar, allowed.shape[0]).to(allowed.device)
            if bool(progressing.any()):
                allowed = progressing  # whitespace only where nothing else is acceptable
            count = int(allowed.sum())
            if count == 0:
                return None
            masked = row_scores.masked_fill(~allowed, float("-inf"))
            ranked = masked.topk(min(count, params.constraint_top_k)).indices.tolist()
            return next(
                (t for t in ranked if keeps_rule_possible(new, t, decode, eos_ids, params, lambda _: True, is_valid)),
                None,
            )

    return RuleConstraint()
