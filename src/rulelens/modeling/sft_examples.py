"""Training examples (clause -> rule) and their batches, for the fine-tuning Trainer (:mod:`rulelens.modeling.sft`).

Examples are tokenized with exactly the prompt functions that evaluation and attribution use
(:mod:`rulelens.prompts`): ``input_ids = prompt ids + rule ids (+ eos)`` and the loss is taken
on the rule tokens only. Over-long examples are dropped and counted, never truncated, because
a cut rule would teach the model to stop early without anyone noticing.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from rulelens.modeling.trainer_settings import TrainerSettings
from rulelens.prompts import PromptStyle, build_prompt, encode, encode_prompt, target_text

logger = logging.getLogger(__name__)


IGNORE_INDEX = -100


def encode_example(tokenizer: Any, clause: str, rule: str, style: PromptStyle = PromptStyle()) -> dict[str, list[int]]:
    """One training example: prompt + rule ids, labels masked (-100) over the prompt."""
    prompt_ids = encode_prompt(tokenizer, build_prompt(tokenizer, clause, style))
    rule_ids = encode(tokenizer, target_text(tokenizer, rule))
    return {"input_ids": prompt_ids + rule_ids, "labels": [IGNORE_INDEX] * len(prompt_ids) + rule_ids}


def encode_frame(
    frame: Any, tokenizer: Any, style: PromptStyle, clause_column: str = "clause", rule_column: str = "rule"
) -> list[dict[str, list[int]]]:
    """Every row as a training example (prompt + rule ids), in row order."""
    missing = {clause_column, rule_column} - set(frame.columns)
    if missing:
        raise ValueError(f"training frame lacks column(s) {sorted(missing)}; has {list(frame.columns)}")
    return [
        encode_example(tokenizer, str(clause), str(rule), style)
        for clause, rule in zip(frame[clause_column], frame[rule_column])
    ]


def covering_length(lengths: list[int], coverage: float, cap: int | None = None) -> int:
    """The shortest length that keeps at least ``coverage`` of the rows, at most ``cap``."""
    if not lengths:
        raise ValueError("no training rows to size max_length from")
    ordered = sorted(lengths)
    covered = ordered[max(math.ceil(coverage * len(ordered)), 1) - 1]
    return min(covered, cap) if cap else covered


def drop_long(examples: list[dict], max_length: int, split: str) -> tuple[list[dict], int]:
    """Examples up to ``max_length`` tokens and how many longer ones were left out (never cut)."""
    kept = [e for e in examples if len(e["input_ids"]) <= max_length]
    dropped = len(examples) - len(kept)
    if dropped:
        logger.warning(
            "Left out %d of %d %s rows longer than max_length=%d tokens (%.1f%%)",
            dropped,
            len(examples),
            split,
            max_length,
            100 * dropped / len(examples),
        )
    return kept, dropped


def batch_collator(settings: TrainerSettings, tokenizer: Any):
    """The collator for ``trainer.batching``: right-padded rows (transformers' ``DataCollatorForSeq2Seq``:
    pad id for inputs, -100 for labels, 0 in the attention mask), or one padding-free sequence whose
    position ids restart at every example (the model then masks attention per example)."""
    if settings.batching == "flattened":
        from transformers import DataCollatorWithFlattening

        return DataCollatorWithFlattening(return_position_ids=True, separator_id=IGNORE_INDEX)
    return padding_collator(tokenizer)


def padding_collator(tokenizer: Any):
    """``DataCollatorForSeq2Seq`` on a copy of ``tokenizer`` that pads on the right with :func:`pad_token_id`.

    A copy, because generation pads the run's tokenizer on the left; the loss must see the same
    positions as an unpadded row, so training pads on the right.
    """
    import copy

    from transformers import DataCollatorForSeq2Seq

    padder = copy.deepcopy(tokenizer)
    padder.padding_side = "right"
    if padder.pad_token_id is None:
        padder.pad_token = padder.convert_ids_to_tokens(pad_token_id(tokenizer))
    return DataCollatorForSeq2Seq(padder, padding=True, label_pad_token_id=IGNORE_INDEX, return_tensors="pt")


class LengthGroupedBatches:
    """A sampler whose batches hold examples of similar token length, in a seeded random order.

    Sorting by length (ties broken at random) and cutting into batches removes most padding; the
    batches are then shuffled, so an epoch does not run from the longest rows to the shortest (as
    a single sorted mega-batch would on a small dataset). ``set_epoch`` reseeds (the Trainer calls
    it), so a resumed run sees the same order.
    """

    def __init__(self, lengths: list[int], batch_size: int, seed: int):
        self.lengths, self.batch_size, self.seed, self.epoch = list(lengths), int(batch_size), int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):
        import numpy as np

        rng = np.random.default_rng([self.seed, self.epoch])
        order = np.lexsort((rng.random(len(self.lengths)), np.asarray(self.lengths)))
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        self.epoch += 1  # a Trainer that does not call set_epoch still gets a new order each epoch
        return iter([int(i) for b in rng.permutation(len(batches)) for i in batches[b]])


def pad_token_id(tokenizer: Any) -> int:
    """Pad id for batching; the eos id when the tokenizer has no pad token (masked anyway)."""
    value = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if value is None:
        raise ValueError("tokenizer has neither a pad nor an eos token to pad batches with")
    return int(value)


def _limit(examples: list[dict], count: int | None) -> list[dict]:
    return examples if count is None else examples[: int(count)]


def prepare_examples(
    train_frame: Any, validation_frame: Any, tokenizer: Any, style: PromptStyle, settings: TrainerSettings
) -> tuple[list[dict], list[dict], dict[str, Any]]:
    """Tokenized train and validation examples, over-long ones left out, and the counts.

    ``max_length: auto`` is sized on the training rows' token lengths (``max_length_coverage``,
    at most ``max_length_cap``); the rows still too long are counted per split, never cut.
    """
    columns = dict(clause_column=settings.clause_column, rule_column=settings.rule_column)
    train_all = encode_frame(train_frame, tokenizer, style, **columns)
    eval_all = [] if validation_frame is None else encode_frame(validation_frame, tokenizer, style, **columns)
    if settings.max_length == "auto":
        max_length = covering_length(
            [len(e["input_ids"]) for e in train_all], settings.max_length_coverage, settings.max_length_cap
        )
    else:
        max_length = int(settings.max_length)
    train, dropped_train = drop_long(train_all, max_length, "training")
    evaluation, dropped_eval = drop_long(eval_all, max_length, "validation")
    if not train:
        raise ValueError(
            f"no training examples left after leaving out rows longer than max_length={max_length}; "
            "raise trainer.max_length (or max_length_cap)"
        )
    train, evaluation = _limit(train, settings.max_train_examples), _limit(evaluation, settings.max_eval_examples)
    counts = {
        "train_examples": len(train),
        "validation_examples": len(evaluation),
        "train_rows": len(train_all),
        "validation_rows": len(eval_all),
        "max_length": max_length,
        "dropped_train_examples": dropped_train,
        "dropped_validation_examples": dropped_eval,
        "dropped_train_share": dropped_train / len(train_all) if train_all else 0.0,
    }
    return train, evaluation, counts
