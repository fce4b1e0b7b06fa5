"""The engine is fast *and* exact: it must equal the one-at-a-time reference and captum."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from rulelens.attribution import (
    attribute_clause,
    attribute_clauses,
    attributions_frame,
    captum_attribution,
    reference_attribution,
)
from rulelens.attribution.engine import common_prefix_length, estimate_sequence_bytes, score_prompts
from rulelens.attribution.plan import plan_clause, reference_target
from rulelens.prompts import PromptStyle

TOLERANCE = 1e-3  # nats per word, fp32
PLAIN = PromptStyle(use_chat_template=False)


def assert_same(*results):
    first = results[0]
    for other in results[1:]:
        assert [w.text for w in other.words] == [w.text for w in first.words]
        assert other.target_ids == first.target_ids
        np.testing.assert_allclose(other.scores, first.scores, atol=TOLERANCE, rtol=0)
        assert other.full_score == pytest.approx(first.full_score, abs=TOLERANCE)


@pytest.mark.parametrize("kind", ["plain", "lora", "nf4"])
@pytest.mark.parametrize("operator", ["delete", "mask"])
@pytest.mark.parametrize("target_mode", ["reference", "greedy"])
def test_engine_equals_reference_and_captum(request, kind, operator, target_mode, smol_tokenizer, clause, rule):
    model = request.getfixturevalue({"plain": "tiny_model", "lora": "lora_model", "nf4": "nf4_model"}[kind])
    options = dict(operator=operator, target_mode=target_mode, max_new_tokens=12)
    engine = attribute_clause(model, smol_tokenizer, clause, rule, **options)
    reference = reference_attribution(model, smol_tokenizer, clause, rule, **options)
    captum = captum_attribution(model, smol_tokenizer, clause, rule, forward_in_tokens=False, **options)
    assert_same(engine, reference, captum)
    assert engine.target_mode == target_mode and engine.operator == operator
    assert np.abs(engine.scores).max() > 1e-3  # random models do react to the clause


def test_lora_adapters_are_active(tiny_llama, lora_model, smol_tokenizer, clause, rule):
    base = attribute_clause(tiny_llama(seed=2), smol_tokenizer, clause, rule)
    adapted = attribute_clause(lora_model, smol_tokenizer, clause, rule)
    assert abs(base.full_score - adapted.full_score) > 1e-3


@pytest.mark.parametrize("tokenizer_kind", ["plain_style", "no_template"])
def test_prompts_without_chat_template(tokenizer_kind, tiny_model, smol_tokenizer, clause, rule):
    tokenizer = smol_tokenizer
    if tokenizer_kind == "no_template":
        tokenizer = copy.deepcopy(smol_tokenizer)
        tokenizer.chat_template = None
    plan = plan_clause(tokenizer, clause, style=PLAIN)
    assert plan.parts.prefix == PLAIN.instruction
    if tokenizer_kind == "no_template":
        assert plan.prompt_ids[0][0] == tokenizer.bos_token_id  # encode_prompt's BOS reaches every path
    results = [
        f(tiny_model, tokenizer, clause, rule, style=PLAIN)
        for f in (attribute_clause, reference_attribution, captum_attribution)
    ]
    assert_same(*results)


def test_prefix_reuse_and_batch_size_change_nothing(tiny_model, smol_tokenizer, clause, rule):
    plan = plan_clause(smol_tokenizer, clause)
    target = reference_target(smol_tokenizer, rule).ids
    baseline, plain = score_prompts(tiny_model, plan.prompt_ids, target, reuse_prefix=False, batch_size=1)
    assert plain["prefix_tokens"] == 0 and plain["batches"] == [1] * len(plan.prompt_ids)
    work = {}
    for mode in ("none", "shared", "per_sequence"):
        for size in (1, 2, None):
            rows, stats = score_prompts(
                tiny_model, plan.prompt_ids, target, reuse_prefix=mode, batch_size=size, max_batch_tokens=10**9
            )
            np.testing.assert_allclose(rows, baseline, atol=1e-5, rtol=0)
            assert max(stats["batches"]) == (size or len(plan.prompt_ids) - (mode == "per_sequence"))
            work[mode] = stats["tokens_processed"]
    assert work["per_sequence"] < work["shared"] < work["none"]  # reuse really skips tokens


def test_per_sequence_reuse_cuts_each_perturbation_at_its_word(smol_tokenizer, clause):
    from rulelens.attribution.engine import prefix_cuts

    plan = plan_clause(smol_tokenizer, clause)
    cuts = prefix_cuts(plan.prompt_ids, "per_sequence")
    assert cuts[0] == 0 and cuts[1:] == sorted(cuts[1:])  # later words share more with the original
    for prompt, cut in zip(plan.prompt_ids[1:], cuts[1:]):
        assert prompt[:cut] == plan.prompt_ids[0][:cut] and cut < len(prompt)
    assert set(prefix_cuts(plan.prompt_ids, "shared")) == {cuts[1]}


def test_cached_prefix_is_the_template_and_words_before_the_first_perturbation(smol_tokenizer, clause):
    plan = plan_clause(smol_tokenizer, "Rooms shall be high.")
    shared = common_prefix_length(plan.prompt_ids)
    prefix_ids = smol_tokenizer(plan.parts.prefix, add_special_tokens=False)["input_ids"]
    # word 0 is perturbed, so only the template is shared (less a trailing space that BPE merges)
    assert len(prefix_ids) - 1 <= shared <= len(prefix_ids)
    assert plan.parts.prefix.startswith(smol_tokenizer.decode(plan.prompt_ids[0][:shared]))
    assert common_prefix_length([[1, 2, 3], [1, 2, 4], [1, 2]]) == 2


def test_a_word_that_cannot_matter_scores_zero(tiny_llama, smol_tokenizer, clause, rule):
    """With every attention output projection zeroed, a position sees only its own token.

    RoPE then has no effect either, so the target logits cannot depend on any clause word (or
    on how far deletion shifted the target): every attribution is exactly zero.
    """
    import torch

    model = tiny_llama(seed=4)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
    for operator in ("delete", "mask"):
        result = attribute_clause(model, smol_tokenizer, clause, rule, operator=operator)
        assert np.abs(result.scores).max() < 1e-5
        assert result.full_score < 0


def test_out_of_memory_halves_the_batch(monkeypatch, tiny_model, smol_tokenizer, clause, rule):
    from rulelens.attribution import engine

    expected = attribute_clause(tiny_model, smol_tokenizer, clause, rule)
    real = engine.score_batch

    def limited(parts, prompts, *args, **kwargs):
        if len(prompts) > 3:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(parts, prompts, *args, **kwargs)

    monkeypatch.setattr(engine, "score_batch", limited)
    result = attribute_clause(tiny_model, smol_tokenizer, clause, rule)
    assert max(result.stats["batches"]) <= 3
    np.testing.assert_allclose(result.scores, expected.scores, atol=1e-5)


def test_memory_cap_sets_the_batch_size(tiny_model, smol_tokenizer, clause, rule):
    per_sequence = estimate_sequence_bytes(tiny_model.config, 50, 40, 20)
    assert estimate_sequence_bytes(tiny_model.config, 50, 80, 20) > per_sequence > 0
    tight = attribute_clause(tiny_model, smol_tokenizer, clause, rule, memory_cap_bytes=1)
    assert set(tight.stats["batches"]) == {1}
    roomy = attribute_clause(tiny_model, smol_tokenizer, clause, rule, memory_cap_bytes=1 << 34, max_batch_tokens=10**9)
    assert roomy.stats["batches"] == [roomy.stats["sequences"] - 1]  # the original runs alone first
    budget = attribute_clause(tiny_model, smol_tokenizer, clause, rule, memory_cap_bytes=1 << 34, max_batch_tokens=200)
    assert max(budget.stats["batches"]) < roomy.stats["batches"][0]


def test_bfloat16_is_checked_against_float32(tiny_model, smol_tokenizer, clause, rule):
    fp32 = attribute_clause(tiny_model, smol_tokenizer, clause, rule)
    with pytest.warns(UserWarning, match="recomputing in float32"):
        fallback = attribute_clause(tiny_model, smol_tokenizer, clause, rule, dtype="bfloat16", bf16_tolerance=0.0)
    assert fallback.stats["dtype"] == "float32" and fallback.stats["fell_back"]
    np.testing.assert_allclose(fallback.scores, fp32.scores, atol=1e-5)
    reduced = attribute_clause(tiny_model, smol_tokenizer, clause, rule, dtype="bfloat16", bf16_tolerance=1e9)
    assert reduced.stats["dtype"] == "bfloat16"
    assert reduced.full_score == pytest.approx(fp32.full_score, abs=0.05 * abs(fp32.full_score))


def test_mean_reduction_divides_by_target_length(tiny_model, smol_tokenizer, clause, rule):
    total = attribute_clause(tiny_model, smol_tokenizer, clause, rule)
    mean = attribute_clause(tiny_model, smol_tokenizer, clause, rule, reduction="mean")
    captum_mean = captum_attribution(tiny_model, smol_tokenizer, clause, rule, reduction="mean")
    n = len(total.target_ids)
    np.testing.assert_allclose(np.array(mean.scores) * n, total.scores, atol=1e-4)
    np.testing.assert_allclose(captum_mean.scores, mean.scores, atol=TOLERANCE / n)


def test_greedy_target_is_the_models_greedy_generation(tiny_model, smol_tokenizer, clause):
    import torch

    result = attribute_clause(tiny_model, smol_tokenizer, clause, target_mode="greedy", max_new_tokens=10)
    prompt = torch.tensor([plan_clause(smol_tokenizer, clause).prompt_ids[0]])
    generated = tiny_model.generate(
        prompt,
        attention_mask=torch.ones_like(prompt),
        do_sample=False,
        max_new_tokens=10,
        eos_token_id=smol_tokenizer.eos_token_id,
        pad_token_id=smol_tokenizer.pad_token_id,
    )
    assert list(result.target_ids) == generated[0, prompt.shape[1] :].tolist()


def test_many_clauses_give_one_table(tiny_model, smol_tokenizer, clause, rule):
    clauses = [clause, "Y.2 Every stair shall have a handrail."]
    results = attribute_clauses(
        tiny_model, smol_tokenizer, clauses, [rule, "rule('Y.2', stair)"], clause_ids=["a", "b"], progress=False
    )
    frame = attributions_frame(results)
    assert list(frame["clause_id"].unique()) == ["a", "b"]
    assert frame.groupby("clause_id")["share"].sum().round(6).tolist() == [1.0, 1.0]


def test_captum_token_by_token_mode_runs_through_the_adapter(tiny_model, smol_tokenizer):
    """captum's default mode is offered for comparison only (see docs/attribution.md)."""
    result = captum_attribution(
        tiny_model, smol_tokenizer, "Rooms shall be high.", "rule(room)", forward_in_tokens=True
    )
    assert result.method == "captum-tokens" and len(result.scores) == 4
    assert np.isfinite(result.scores).all()


def _split_cost(widths, sizes, per_pass):
    cost, start = 0.0, 0
    for size in sizes:
        cost += per_pass + size * widths[start]
        start += size
    return cost


def _within_bounds(split, widths, max_rows, max_tokens):
    start = 0
    for size in split:
        if size > 1 and (size > max_rows or size * widths[start] > max_tokens):
            return False
        start += size
    return True


def _compositions(n):
    if n == 0:
        yield []
        return
    for first in range(1, n + 1):
        for rest in _compositions(n - first):
            yield [first, *rest]


def test_planned_batches_are_the_cheapest_split_within_the_bounds():
    from rulelens.attribution.engine import plan_batches

    rng = np.random.default_rng(0)
    for _ in range(40):
        widths = sorted(rng.integers(1, 60, size=int(rng.integers(1, 9))).tolist(), reverse=True)
        max_rows, max_tokens = int(rng.integers(1, 6)), int(rng.integers(40, 400))
        sizes = plan_batches(widths, max_rows, max_tokens)
        assert sum(sizes) == len(widths)

        bounds = (widths, max_rows, max_tokens)
        splits = [s for s in _compositions(len(widths)) if _within_bounds(s, *bounds)]
        best = min(_split_cost(widths, s, max_tokens / 64) for s in splits)
        assert _within_bounds(sizes, *bounds) and _split_cost(widths, sizes, max_tokens / 64) == pytest.approx(best)


def test_batches_split_where_padding_costs_more_than_a_pass():
    from rulelens.attribution.engine import plan_batches

    assert plan_batches([100, 100, 10, 10], 8, 6400) == [2, 2]  # one pass would pad two rows by 90
    assert plan_batches([100, 99, 98, 97], 8, 6400) == [4]  # padding of 6 slots is cheaper than a pass
    assert plan_batches([50] * 5, 8, 100) == [2, 2, 1]  # the token budget
    assert plan_batches([500, 50], 8, 100) == [1, 1]  # a row wider than the budget goes alone
    assert plan_batches([9, 5, 1, 1, 1], 2, None) == [2, 2, 1]  # no budget: fixed row count
