"""Batched greedy generation of rules, with the prompt that training used.

Evaluation must ask the model exactly what it was trained on, so the input ids are
``encode_prompt(build_prompt(tokenizer, clause, style))`` from :mod:`rulelens.prompts`.
Clauses are generated in left-padded batches (the new tokens then start at the same column
for every row) by greedy decoding over a shrinking batch (:mod:`.decoding`: ``generate``'s
greedy decoding, except that a finished row leaves the batch), which works for plain Hugging
Face, peft-wrapped and bitsandbytes 4-bit models alike. Decoding is greedy, hence deterministic.

A row stops at the first of:

* an end-of-sequence token (the training target ends with one);
* the stop rule: the parentheses of the first ``rule(`` call balance (string literals are
  skipped), i.e. one complete rule has been written;
* a stop string (conf/base: a newline after some non-blank output; rules are one line);
* the repetition stop: the new token ids end in an n-gram of ``repetition_ngram`` tokens that
  now occurs ``repetition_max_repeats`` times in the row's output (a decoding loop; real
  rules repeat short sequences such as ``', '`` but not long ones that often);
* ``max_new_tokens``.

With ``constrain: true`` (under the rule format's grammar and validator) the constraint keeps each row's
greedy token unless that token makes a valid rule impossible by the format's grammar, and then
takes the best token that does not (:mod:`rulelens.evaluation.constrained`); each rule records
how many of its tokens the constraint changed (``constrained_steps``, 0: the model's own greedy rule).
:func:`unconstrained_rules` gives the rules the model writes without it, for scoring both.

The same pure functions (:mod:`.stopping`, re-exported here) decide the stop inside
decoding (to end a row early), in constrained decoding, and afterwards (to cut the text
and count the tokens), so all three always agree.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from rulelens.data.rule_formats import RuleFormat
from rulelens.evaluation.constrained import rule_constraint
from rulelens.evaluation.decoding import greedy_decode
from rulelens.evaluation.stopping import (  # noqa: F401 - re-exported: generation's public names
    STOP_EOS,
    STOP_LENGTH,
    STOP_REASONS,
    STOP_REPETITION,
    STOP_RULE,
    GenerationParams,
    balanced_call_end,
    clean_text,
    repetition_stop,
    row_stops,
    stop_length,
    stop_string_start,
    text_stop_position,
)
from rulelens.prompts import PromptStyle, build_prompt, encode_prompt

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GeneratedRule:
    """One clause's output: cleaned text, the kept new token ids, and why decoding stopped."""

    text: str
    token_ids: tuple[int, ...]
    stop_reason: str
    constrained_steps: int = 0  # tokens the constraint changed; 0 is the model's own greedy rule

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


def generate_batch(
    model: Any,
    tokenizer: Any,
    rows: Sequence[Sequence[int]],
    params: GenerationParams,
    eos_ids: frozenset[int],
    rule_format: RuleFormat | str = "rulelens",
) -> tuple[list[list[int]], list[int]]:
    """(new token ids, padding included; tokens the constraint changed) per row of one left-padded batch.

    Greedy decoding over a shrinking batch (:func:`rulelens.evaluation.decoding.greedy_decode`): a row
    stops at end of sequence, at :func:`row_stops` or at ``max_new_tokens``, and is computed no further.
    ``rule_format``: the format whose grammar and validator constrain decoding (``params.constrain``)."""
    import torch

    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos_ids)
    ids, mask = left_pad(rows, pad_id)
    device = model_device(model)
    constraint = rule_constraint(tokenizer, params, eos_ids, len(rows), rule_format) if params.constrain else None

    def row_ends(new_ids: list[int]) -> bool:
        return row_stops(new_ids, tokenizer.decode(new_ids, skip_special_tokens=True), params)

    stops_early = bool(params.balanced_call or params.stop_strings or params.repetition_on)
    with torch.inference_mode():
        output = greedy_decode(
            model,
            torch.tensor(ids, dtype=torch.long, device=device),
            torch.tensor(mask, dtype=torch.long, device=device),
            max_new_tokens=params.max_new_tokens,
            eos_ids=eos_ids,
            pad_id=pad_id,
            row_ends=row_ends if stops_early else None,
            choose=constraint,
        )
    if constraint is None:
        return output, [0] * len(rows)
    if any(constraint.gave_up):
        logger.info(
            "constrained decoding: no acceptable token for %d row(s); they went on unconstrained",
            sum(constraint.gave_up),
        )
    return output, list(constraint.changed_steps)


def finish_row(
    new_ids: Sequence[int],
    tokenizer: Any,
    eos_ids: frozenset[int],
    params: GenerationParams,
    constrained_steps: int = 0,
) -> GeneratedRule:
    """Cut one row at its stop, decode without special tokens, and clean the text."""

    def decode(ids: Sequence[int]) -> str:
        return tokenizer.decode(list(ids), skip_special_tokens=True)

    n, reason = stop_length(new_ids, decode, eos_ids, params)
    kept = tuple(int(t) for t in new_ids[:n])
    text = clean_text(decode(kept), params)
    return GeneratedRule(text=text, token_ids=kept, stop_reason=reason, constrained_steps=constrained_steps)


def generate_rules(
    model: Any,
    tokenizer: Any,
    clauses: Sequence[str],
    style: PromptStyle = PromptStyle(),
    params: GenerationParams | Mapping[str, Any] | None = None,
    *,
    progress: Any = None,
    rule_format: RuleFormat | str = "rulelens",
) -> Generations:
    """Greedy rules for ``clauses`` (in input order), generated in left-padded batches.

    ``params`` is required: :class:`GenerationParams` or the complete ``evaluation.generation``
    block of the parameters (None fails naming the block and ``conf/base/parameters_evaluation.yml``).
    ``rule_format`` (a declared :class:`rulelens.data.rule_formats.RuleFormat` or a shipped
    format's name) is the grammar and validator that ``params.constrain`` decodes under.

    With ``progress`` (a :class:`rulelens.stage_store.StageStore` opened for this model and these
    settings) every finished batch is kept under a key made of its prompts' token ids, and a
    resumed run reads it back instead of generating it again: the same batches in the same order,
    so the same rules.
    """
    params = GenerationParams.from_params(params)
    eos_ids = eos_token_ids(model, tokenizer)
    rows = prompt_ids(tokenizer, clauses, style)
    order = batch_order([len(r) for r in rows], params.sort_by_length)
    results: list[GeneratedRule | None] = [None] * len(rows)
    was_training = getattr(model, "training", False)
    model.eval()
    start = time.perf_counter()
    decode_slots = 0  # token positions the decoder computed after the prompts: each row's own length
    try:
        for first in range(0, len(order), params.batch_size):
            chunk = order[first : first + params.batch_size]
            batch_rows = [rows[i] for i in chunk]
            outputs, changed = _batch(model, tokenizer, batch_rows, params, eos_ids, progress, rule_format)
            for index, new_ids, steps in zip(chunk, outputs, changed):
                results[index] = finish_row(new_ids, tokenizer, eos_ids, params, steps)
                decode_slots += results[index].n_tokens  # a finished row leaves the batch
    finally:
        if was_training:
            model.train()
    seconds = time.perf_counter() - start
    cost = {"prompt_tokens": sum(len(r) for r in rows), "decode_token_slots": decode_slots}
    return Generations(items=list(results), seconds=seconds, batch_size=params.batch_size, extra=cost)


def unconstrained_rules(
    model: Any,
    tokenizer: Any,
    clauses: Sequence[str],
    style: PromptStyle,
    params: GenerationParams | Mapping[str, Any],
    constrained: Generations,
    *,
    rule_format: RuleFormat | str = "rulelens",
) -> Generations:
    """The rules the model writes for ``clauses`` without the constraint, from a constrained run of them.

    A rule the constraint never changed (``constrained_steps`` 0) is already the model's own greedy
    rule (docs/evaluation.md, "Constrained decoding"); only the changed ones are generated again, the
    constraint off, in batches of their own. ``seconds`` is that second pass; ``extra["regenerated"]``
    how many rules it wrote.
    """
    params = GenerationParams.from_params(params)
    items = list(constrained.items)
    changed = [index for index, item in enumerate(items) if item.constrained_steps > 0]
    if not changed:
        return Generations(items=items, seconds=0.0, batch_size=params.batch_size, extra={"regenerated": 0})
    again = generate_rules(
        model,
        tokenizer,
        [clauses[index] for index in changed],
        style,
        replace(params, constrain=False),
        rule_format=rule_format,
    )
    for index, item in zip(changed, again.items):
        items[index] = item
    extra = {"regenerated": len(changed)}
    return Generations(items=items, seconds=again.seconds, batch_size=params.batch_size, extra=extra)


def _batch(
    model: Any,
    tokenizer: Any,
    batch_rows: list,
    params: GenerationParams,
    eos_ids: Any,
    progress: Any,
    rule_format: RuleFormat | str,
):
    """One batch's (new ids, constrained steps), generated or read back from ``progress``."""
    if progress is None:
        return generate_batch(model, tokenizer, batch_rows, params, eos_ids, rule_format)
    from rulelens.modeling.fingerprint import digest

    key = "batch:" + digest([list(map(int, row)) for row in batch_rows])
    done = progress.get(key)
    if done is None:
        done = generate_batch(model, tokenizer, batch_rows, params, eos_ids, rule_format)
        progress.put(key, done)
    return done
