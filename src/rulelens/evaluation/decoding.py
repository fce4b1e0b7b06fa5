"""Greedy decoding over a shrinking batch: a finished row leaves the batch, and its KV cache with it.

``model.generate`` runs every row of a batch until the last one stops: a row that ended at token
30 of a batch whose longest row runs to 192 is computed (and padded) 162 more times. Rules vary a
lot in length and a looping row runs longest, so those idle rows were about half of the token
positions decoded on the NZBC checkpoints (docs/performance.md, "Decoding over a shrinking batch";
the time falls less, to 0.7-1.0x, since every step also reads every weight once). This loop
is the same greedy decoding that ``generate`` does for these models (prefill with the left-padded
prompts, position ids counted from the attention mask, one token per step through the KV cache),
except that after each step the rows that ended are dropped from the inputs, the attention mask and
the cache (``Cache.batch_select_indices``). Every row's tokens are the ones ``generate`` would give,
up to the floating-point rounding of a smaller batch (a test compares the two on tiny models).

It works for every model ``generate`` does here: plain Hugging Face causal LMs, peft-wrapped
ones and bitsandbytes 4-bit models (all take ``input_ids``, ``attention_mask``, ``position_ids``
and ``cache``).
"""

from __future__ import annotations

from typing import Any, Callable

RowEnds = Callable[[list[int]], bool]
"""Whether a row with these new tokens has stopped (besides end of sequence and the length limit)."""

Choose = Callable[[list[int], list[list[int]], Any], Any]
"""``(rows, their new tokens so far, their scores) -> scores``: a hook that may rewrite the running
rows' next-token scores (constrained decoding); ``rows`` are the rows' indices in the batch."""


def prompt_positions(attention_mask: Any) -> Any:
    """Position ids of left-padded prompts: counted from each row's first real token (padding: 0)."""
    positions = attention_mask.long().cumsum(-1) - 1
    return positions.masked_fill(attention_mask == 0, 0)


def greedy_decode(
    model: Any,
    input_ids: Any,
    attention_mask: Any,
    *,
    max_new_tokens: int,
    eos_ids: frozenset[int],
    pad_id: int,
    row_ends: RowEnds | None = None,
    choose: Choose | None = None,
) -> list[list[int]]:
    """New token ids of every row of a left-padded batch, each padded with ``pad_id`` to the longest.

    A row ends at its first end-of-sequence token (kept), when ``row_ends`` says so, or after
    ``max_new_tokens``; from then on it is no longer computed. Call under ``torch.inference_mode()``.
    """
    import torch

    batch = int(input_ids.shape[0])
    new: list[list[int]] = [[] for _ in range(batch)]
    running = list(range(batch))
    mask = attention_mask
    positions = prompt_positions(attention_mask)
    output = model(input_ids=input_ids, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1)
    cache = output.cache
    last_position = positions[:, -1:]
    for _ in range(max_new_tokens):
        scores = output.logits[:, -1].to(dtype=torch.float32)
        if choose is not None:
            scores = choose(running, [new[row] for row in running], scores)
        tokens = scores.argmax(dim=-1).tolist()
        still = []
        for slot, (row, token) in enumerate(zip(running, tokens)):
            new[row].append(int(token))
            ended = token in eos_ids or len(new[row]) >= max_new_tokens
            if not ended and not (row_ends is not None and row_ends(new[row])):
                still.append(slot)
        if not still:
            break
        if len(still) < len(running):
            keep = torch.tensor(still, dtype=torch.long, device=mask.device)
            cache.batch_select_indices(keep)
            mask, last_position = mask[keep], last_position[keep]
            running = [running[slot] for slot in still]
        step_ids = torch.tensor([[new[row][-1]] for row in running], dtype=torch.long, device=mask.device)
        mask = torch.cat([mask, mask.new_ones((len(running), 1))], dim=-1)
        last_position = last_position + 1
        output = model(input_ids=step_ids, attention_mask=mask, position_ids=last_position, cache=cache, use_cache=True)
    width = max(len(ids) for ids in new)
    return [ids + [pad_id] * (width - len(ids)) for ids in new]
