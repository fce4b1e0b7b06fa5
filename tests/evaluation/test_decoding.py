"""Greedy decoding over a shrinking batch gives ``generate``'s tokens, row by row, while the batch shrinks."""

from __future__ import annotations

import pytest

from rulelens.evaluation.decoding import greedy_decode, prompt_positions
from rulelens.evaluation.generation import left_pad
from tests.evaluation.tiny_models import four_bit_model, peft_model, plain_model, qwen2_model, qwen2_sliding_model

PROMPTS = [
    "Rooms shall be 2.4 m high.",
    "Every stair serving more than three storeys shall have handrails on both sides.",
    "Doors shall be self-closing.",
    "The gradient of an accessible ramp shall not be steeper than 1:12.",
]
STEPS = 10
ROW_LENGTHS = [3, STEPS, 5, 7]  # where each row is told to stop: rows leave the batch at different steps


def batch(tokenizer):
    import torch

    rows = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in PROMPTS]
    ids, mask = left_pad(rows, tokenizer.pad_token_id)
    return torch.tensor(ids), torch.tensor(mask)


def test_prompt_positions_count_from_each_rows_first_token():
    import torch

    mask = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    assert prompt_positions(mask).tolist() == [[0, 0, 0, 1], [0, 1, 2, 3]]


@pytest.mark.parametrize(
    "build",
    [plain_model, peft_model, four_bit_model, qwen2_model, qwen2_sliding_model],
    ids=["plain", "peft", "4-bit", "qwen2", "qwen2-sliding-window"],
)
def test_every_row_gets_generates_tokens_while_finished_rows_leave_the_batch(
    build, tiny_llama, smol_tokenizer, tmp_path
):
    """Unit: one batch of 4 left-padded prompts of different lengths; each row stops at its own length."""
    import torch

    model = build(tiny_llama, tmp_path)
    input_ids, mask = batch(smol_tokenizer)
    width = input_ids.shape[1]
    never = frozenset({len(smol_tokenizer) + 7})  # no end of sequence: rows end by ``row_ends`` only
    with torch.inference_mode():
        reference = model.generate(
            input_ids=input_ids,
            attention_mask=mask,
            max_new_tokens=STEPS,
            do_sample=False,
            eos_token_id=None,
            pad_token_id=smol_tokenizer.pad_token_id,
            return_dict_in_generate=True,
            output_logits=True,
        )
    tokens = reference.sequences[:, width:].tolist()
    assert len({tuple(row[:3]) for row in tokens}) == len(PROMPTS)  # ``row_ends`` below can tell rows apart
    targets = [row[:length] for row, length in zip(tokens, ROW_LENGTHS)]
    batch_sizes, logits = [], {}
    model.register_forward_pre_hook(lambda m, a, k: batch_sizes.append(k["input_ids"].shape[0]), with_kwargs=True)

    def record(rows, new_ids, scores):
        for slot, (row, ids) in enumerate(zip(rows, new_ids)):
            logits[row, len(ids)] = scores[slot].clone()
        return scores

    with torch.inference_mode():
        decoded = greedy_decode(
            model,
            input_ids,
            mask,
            max_new_tokens=STEPS,
            eos_ids=never,
            pad_id=smol_tokenizer.pad_token_id,
            row_ends=lambda ids: ids in targets,
            choose=record,
        )
    for (row, step), scores in logits.items():  # the same scores, not just the same arg-max
        torch.testing.assert_close(scores, reference.logits[step][row].float(), rtol=1e-4, atol=1e-4)
    assert sorted(logits) == [(row, step) for row, length in enumerate(ROW_LENGTHS) for step in range(length)]
    pad = smol_tokenizer.pad_token_id
    assert decoded == [target + [pad] * (STEPS - len(target)) for target in targets]
    assert batch_sizes[0] == 4 and batch_sizes[-1] == 1 and sorted(batch_sizes, reverse=True) == batch_sizes
    assert sum(batch_sizes) == sum(ROW_LENGTHS)  # each row is computed for exactly its own tokens


def test_a_row_ends_at_its_end_of_sequence_token_and_the_hook_sees_only_running_rows(tiny_llama, smol_tokenizer):
    """Unit: one batch; the ``choose`` hook forces an eos into row 0 at its third step."""
    import torch

    model = tiny_llama(seed=0, tie_word_embeddings=False)
    input_ids, mask = batch(smol_tokenizer)
    eos = smol_tokenizer.eos_token_id
    seen = []

    def choose(rows, new_ids, scores):
        seen.append(list(rows))
        assert [len(ids) for ids in new_ids] == [len(new_ids[0])] * len(rows)  # all running rows are in step
        if 0 in rows and len(new_ids[0]) == 2:
            scores[rows.index(0), eos] = scores.max() + 1
        return scores

    with torch.inference_mode():
        decoded = greedy_decode(
            model, input_ids, mask, max_new_tokens=6, eos_ids=frozenset({eos}), pad_id=-1, choose=choose
        )
    assert decoded[0][2] == eos and decoded[0][3:] == [-1, -1, -1]
    assert all(-1 not in row for row in decoded[1:]) and all(len(row) == 6 for row in decoded)
    assert seen[:3] == [[0, 1, 2, 3]] * 3 and seen[3:] == [[1, 2, 3]] * 3
