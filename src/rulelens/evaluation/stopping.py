"""When a generated row stops, and the decoding settings that say so (pure; no torch import).

Generation (:mod:`.generation`) and constrained decoding (:mod:`.constrained`) both decide here
whether a row has ended and what text it keeps, so the two always agree. Every stop is monotone
in the text or token ids: once it fires for a prefix it fires, at the same place, for every
extension.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Callable, Sequence

from rulelens.param_blocks import ParameterError, check_block

STOP_EOS = "eos"
STOP_RULE = "stop_rule"
STOP_LENGTH = "max_new_tokens"
STOP_REPETITION = "repetition"
STOP_REASONS = (STOP_EOS, STOP_RULE, STOP_REPETITION, STOP_LENGTH)
GENERATION_BLOCK = "evaluation.generation"
GENERATION_SOURCE = "conf/base/parameters_evaluation.yml"  # declares every key of evaluation.generation


@dataclass(frozen=True)
class GenerationParams:
    """Decoding settings: every key of ``evaluation.generation`` (``conf/base/parameters_evaluation.yml``).

    The values live in conf/ only, so every variant is decoded the same way: a missing or unknown key
    stops the run naming it (:mod:`rulelens.param_blocks`).
    """

    max_new_tokens: int
    batch_size: int
    balanced_call: str | None  # stop once this call's parentheses balance; None: off
    stop_strings: tuple[str, ...]  # stop at these (after leading whitespace); text cut before them
    sort_by_length: bool  # batch prompts of similar length together (less padding)
    repetition_ngram: int | None  # repetition stop: n-gram length in tokens; None: off
    repetition_max_repeats: int | None  # ... stop when the last n-gram occurs this often; None: off
    constrain: bool  # constrained decoding to the rule format's grammar and validator (docs/evaluation.md)
    constraint_top_k: int  # ending tokens tried, in score order, among the grammar's allowed ones
    regenerate_unconstrained: bool  # constrained: generate the changed rules again without it, to score both

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | GenerationParams) -> GenerationParams:
        """Build from a complete ``evaluation.generation`` block (lists become tuples)."""
        if isinstance(params, GenerationParams):
            return params
        check_block(params, GENERATION_BLOCK, [f.name for f in fields(cls)], GENERATION_SOURCE)
        values = dict(params)
        values["stop_strings"] = tuple(values["stop_strings"] or ())
        result = cls(**values)
        where = GENERATION_BLOCK
        if result.max_new_tokens < 1 or result.batch_size < 1:
            raise ParameterError(f"{where}.max_new_tokens and {where}.batch_size must be >= 1")
        if result.repetition_on and (result.repetition_ngram < 1 or result.repetition_max_repeats < 2):
            raise ParameterError(
                f"{where}.repetition_ngram must be >= 1 and {where}.repetition_max_repeats >= 2 (or null: off)"
            )
        if result.constraint_top_k < 2:
            raise ParameterError(f"{where}.constraint_top_k must be >= 2")
        return result

    @property
    def repetition_on(self) -> bool:
        return self.repetition_ngram is not None and self.repetition_max_repeats is not None


# --------------------------------------------------------------------------- stop rule (pure)


def balanced_call_end(text: str, name: str = "rule") -> int | None:
    """Index just after the ``)`` that closes the first ``name(`` call, or None if still open.

    Parentheses inside quoted strings (with backslash escapes) do not count, so a clause
    identifier such as ``"2.3.12(b)"`` cannot end the rule early.
    """
    match = re.search(rf"(?<![\w.]){re.escape(name)}\s*\(", text)
    if match is None:
        return None
    depth, quote, escaped = 0, None, False
    for index in range(match.end() - 1, len(text)):
        char = text[index]
        if quote is not None:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return index + 1
    return None


def stop_string_start(text: str, stop_strings: Sequence[str]) -> int | None:
    """Index of the first stop string after the text's leading whitespace, or None."""
    start = len(text) - len(text.lstrip())
    found = [pos for s in stop_strings if s and (pos := text.find(s, start)) >= 0]
    return min(found) if found else None


def text_stop_position(text: str, params: GenerationParams) -> int | None:
    """Where the stop rule ends ``text`` (characters kept), or None when it has not fired.

    Monotone in the text: once it fires for a prefix it fires, at the same place, for every
    extension; this lets :func:`stop_length` binary-search over token prefixes.
    """
    candidates = []
    if params.balanced_call:
        end = balanced_call_end(text, params.balanced_call)
        if end is not None:
            candidates.append(end)
    stop = stop_string_start(text, params.stop_strings)
    if stop is not None:
        candidates.append(stop)
    return min(candidates) if candidates else None


def repetition_stop(token_ids: Sequence[int], ngram: int | None, max_repeats: int | None) -> int | None:
    """Length of the shortest prefix that ends in an n-gram occurring ``max_repeats`` times, or None.

    The ``ngram``-token windows of the prefix are counted (overlapping); the stop fires at the
    first token whose window brings its count to ``max_repeats``: a row caught in a loop of any
    period stops after about ``max_repeats`` periods. Monotone like the stop rule: once it fires
    for a prefix it fires at the same place for every extension. None when either setting is None.
    """
    if ngram is None or max_repeats is None:
        return None
    ids = list(token_ids)
    counts: dict[tuple[int, ...], int] = {}
    for end in range(ngram, len(ids) + 1):
        window = tuple(ids[end - ngram : end])
        counts[window] = counts.get(window, 0) + 1
        if counts[window] >= max_repeats:
            return end
    return None


def row_stops(token_ids: Sequence[int], text: str, params: GenerationParams) -> bool:
    """Whether a row with these new tokens (decoded: ``text``) has met the stop rule or the repetition stop."""
    if text_stop_position(text, params) is not None:
        return True
    return repetition_stop(token_ids, params.repetition_ngram, params.repetition_max_repeats) is not None


def stop_length(
    token_ids: Sequence[int],
    decode: Callable[[Sequence[int]], str],
    eos_ids: set[int] | frozenset[int],
    params: GenerationParams,
) -> tuple[int, str]:
    """(number of new tokens the row really produced, stop reason) for one generated row.

    The eos token counts as produced. Tokens after the stop (batch padding) are excluded. When
    the stop rule and the repetition stop both fire, the earlier wins (the stop rule on a tie).
    """
    ids = list(token_ids)
    limit = next((i + 1 for i, t in enumerate(ids) if t in eos_ids), None)
    search = ids[: limit - 1] if limit is not None else ids
    stops: list[tuple[int, int, str]] = []
    if search and text_stop_position(decode(search), params) is not None:
        low, high = 1, len(search)  # smallest prefix for which the stop rule fires
        while low < high:
            mid = (low + high) // 2
            if text_stop_position(decode(search[:mid]), params) is not None:
                high = mid
            else:
                low = mid + 1
        stops.append((low, 0, STOP_RULE))
    repeated = repetition_stop(search, params.repetition_ngram, params.repetition_max_repeats)
    if repeated is not None:
        stops.append((repeated, 1, STOP_REPETITION))
    if stops:
        length, _, reason = min(stops)
        return length, reason
    if limit is not None:
        return limit, STOP_EOS
    return len(ids), STOP_LENGTH


def clean_text(text: str, params: GenerationParams) -> str:
    """The generated text cut at the stop rule and stripped of surrounding whitespace."""
    position = text_stop_position(text, params)
    return (text if position is None else text[:position]).strip()
