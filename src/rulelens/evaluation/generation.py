"""Batched greedy generation of rules, with the prompt that training used.

Evaluation must ask the model exactly what it was trained on, so the input ids are
``encode_prompt(build_prompt(tokenizer, clause, style))`` from :mod:`rulelens.prompts`.
Clauses are generated in left-padded batches (the new tokens then start at the same column
for every row) with ``model.generate``, which plain Hugging Face, peft-wrapped and
bitsandbytes 4-bit models all provide. Decoding is greedy, hence deterministic.

A row stops at the first of:

* an end-of-sequence token (the training target ends with one);
* the stop rule: the parentheses of the first ``rule(`` call balance (string literals are
  skipped), i.e. one complete rule has been written;
* a stop string (default: a newline after some non-blank output; rules are one line);
* the repetition stop: the new token ids end in an n-gram of ``repetition_ngram`` tokens that
  now occurs ``repetition_max_repeats`` times in the row's output (a decoding loop; real
  rules repeat short sequences such as ``', '`` but not long ones that often);
* ``max_new_tokens``.

The same pure functions decide the stop inside ``generate`` (to end a batch early) and
afterwards (to cut the text and count the tokens), so both always agree.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from rulelens.prompts import PromptStyle, build_prompt, encode_prompt

STOP_EOS = "eos"
STOP_RULE = "stop_rule"
STOP_LENGTH = "max_new_tokens"
STOP_REPETITION = "repetition"
STOP_REASONS = (STOP_EOS, STOP_RULE, STOP_REPETITION, STOP_LENGTH)


@dataclass(frozen=True)
class GenerationParams:
    """Decoding settings; comes from parameters so every variant is decoded the same way."""

    max_new_tokens: int = 128
    batch_size: int = 8
    balanced_call: str | None = "rule"  # stop once this call's parentheses balance; None: off
    stop_strings: tuple[str, ...] = ("\n",)  # stop at these (after leading whitespace); text cut before them
    sort_by_length: bool = True  # batch prompts of similar length together (less padding)
    repetition_ngram: int | None = 8  # repetition stop: n-gram length in tokens; None: off
    repetition_max_repeats: int | None = 5  # ... stop when the last n-gram occurs this often; None: off

    @classmethod
    def from_params(cls, params: dict[str, Any] | GenerationParams | None) -> GenerationParams:
        """Build from a parameters mapping (lists become tuples)."""
        if isinstance(params, GenerationParams):
            return params
        values = dict(params or {})
        if "stop_strings" in values:
            values["stop_strings"] = tuple(values["stop_strings"] or ())
        result = cls(**values)
        if result.max_new_tokens < 1 or result.batch_size < 1:
            raise ValueError("max_new_tokens and batch_size must be >= 1")
        if result.repetition_on and (result.repetition_ngram < 1 or result.repetition_max_repeats < 2):
            raise ValueError("repetition_ngram must be >= 1 and repetition_max_repeats >= 2 (or null: off)")
        return result

    @property
    def repetition_on(self) -> bool:
        return self.repetition_ngram is not None and self.repetition_max_repeats is not None


@dataclass(frozen=True)
class GeneratedRule:
    """One clause's output: cleaned text, the kept new token ids, and why decoding stopped."""

    text: str
    token_ids: tuple[int, ...]
    stop_reason: str

    @property
    def n_tokens(self) -> int:
        return len(self.token_ids)


@dataclass(frozen=True)
class Generations:
    """Outputs in input order plus the wall time of the whole generation (for throughput)."""

    items: list[GeneratedRule]
    seconds: float
    batch_size: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def texts(self) -> list[str]:
        return [item.text for item in self.items]

    @property
    def token_counts(self) -> list[int]:
        return [item.n_tokens for item in self.items]


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


# --------------------------------------------------------------------------- model side


def eos_token_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    """The tokenizer's eos (the training target's last token) plus the model's configured ones."""
    ids = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if configured is not None:
        ids.update(int(i) for i in (configured if isinstance(configured, (list, tuple)) else [configured]))
    if not ids:
        raise ValueError("neither the tokenizer nor the model defines an end-of-sequence token")
    return frozenset(ids)


def prompt_ids(tokenizer: Any, clauses: Sequence[str], style: PromptStyle) -> list[list[int]]:
    """The training prompt's token ids for every clause."""
    return [encode_prompt(tokenizer, build_prompt(tokenizer, clause, style)) for clause in clauses]


def left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[list[list[int]], list[list[int]]]:
    """Left-pad rows to one length: (ids, attention mask); new tokens then align at the end."""
    width = max(len(row) for row in rows)
    ids = [[pad_id] * (width - len(row)) + list(row) for row in rows]
    mask = [[0] * (width - len(row)) + [1] * len(row) for row in rows]
    return ids, mask


def batch_order(lengths: Sequence[int], sort_by_length: bool) -> list[int]:
    """Indices in generation order: longest prompts first when sorting (stable, deterministic)."""
    indices = list(range(len(lengths)))
    return sorted(indices, key=lambda i: -lengths[i]) if sort_by_length else indices


def model_device(model: Any) -> Any:
    """Where input tensors must go (first parameter's device; works for peft and 4-bit models)."""
    device = getattr(model, "device", None)
    return device if device is not None else next(model.parameters()).device


def _stopping_criteria(tokenizer: Any, params: GenerationParams, prompt_width: int):
    """A per-row stopping criterion for ``generate`` built on :func:`text_stop_position`."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    text_rules = bool(params.balanced_call or params.stop_strings)

    class RuleComplete(StoppingCriteria):
        """Ends a row once its new text satisfies the stop rule or it loops (rows stop independently)."""

        def __call__(self, input_ids, scores, **kwargs):
            done = []
            for row in input_ids:
                new = row[prompt_width:].tolist()
                stop = (
                    text_rules
                    and text_stop_position(tokenizer.decode(new, skip_special_tokens=True), params) is not None
                )
                if not stop and params.repetition_on:
                    stop = repetition_stop(new, params.repetition_ngram, params.repetition_max_repeats) is not None
                done.append(stop)
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    if not text_rules and not params.repetition_on:
        return StoppingCriteriaList()
    return StoppingCriteriaList([RuleComplete()])


def generate_batch(
    model: Any, tokenizer: Any, rows: Sequence[Sequence[int]], params: GenerationParams, eos_ids: frozenset[int]
) -> list[list[int]]:
    """New token ids (padding included) for one left-padded batch, greedy."""
    import torch
    from transformers import GenerationConfig

    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos_ids)
    ids, mask = left_pad(rows, pad_id)
    device = model_device(model)
    input_ids = torch.tensor(ids, dtype=torch.long, device=device)
    attention_mask = torch.tensor(mask, dtype=torch.long, device=device)
    config = GenerationConfig(
        max_new_tokens=params.max_new_tokens,
        do_sample=False,
        num_beams=1,
        pad_token_id=pad_id,
        eos_token_id=sorted(eos_ids),
        use_cache=True,
    )
    with torch.inference_mode():
        output = model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            generation_config=config,
            stopping_criteria=_stopping_criteria(tokenizer, params, input_ids.shape[1]),
        )
    return output[:, input_ids.shape[1] :].tolist()


def finish_row(
    new_ids: Sequence[int], tokenizer: Any, eos_ids: frozenset[int], params: GenerationParams
) -> GeneratedRule:
    """Cut one row at its stop, decode without special tokens, and clean the text."""

    def decode(ids: Sequence[int]) -> str:
        return tokenizer.decode(list(ids), skip_special_tokens=True)

    n, reason = stop_length(new_ids, decode, eos_ids, params)
    kept = tuple(int(t) for t in new_ids[:n])
    return GeneratedRule(text=clean_text(decode(kept), params), token_ids=kept, stop_reason=reason)


def generate_rules(
    model: Any,
    tokenizer: Any,
    clauses: Sequence[str],
    style: PromptStyle = PromptStyle(),
    params: GenerationParams | dict[str, Any] | None = None,
) -> Generations:
    """Greedy rules for ``clauses`` (in input order), generated in left-padded batches."""
    params = GenerationParams.from_params(params)
    eos_ids = eos_token_ids(model, tokenizer)
    rows = prompt_ids(tokenizer, clauses, style)
    order = batch_order([len(r) for r in rows], params.sort_by_length)
    results: list[GeneratedRule | None] = [None] * len(rows)
    was_training = getattr(model, "training", False)
    model.eval()
    start = time.perf_counter()
    try:
        for first in range(0, len(order), params.batch_size):
            chunk = order[first : first + params.batch_size]
            outputs = generate_batch(model, tokenizer, [rows[i] for i in chunk], params, eos_ids)
            for index, new_ids in zip(chunk, outputs):
                results[index] = finish_row(new_ids, tokenizer, eos_ids, params)
    finally:
        if was_training:
            model.train()
    seconds = time.perf_counter() - start
    return Generations(items=list(results), seconds=seconds, batch_size=params.batch_size)
