"""Supervised fine-tuning: label masking, padding, each strategy learns, resuming."""

from __future__ import annotations

import pytest
import torch

from rulelens.modeling.sft import train_sft
from rulelens.modeling.sft_examples import IGNORE_INDEX, drop_long, encode_example, encode_frame, padding_collator
from rulelens.modeling.strategies import prepare_for_strategy
from rulelens.modeling.trainer_settings import TrainerSettings
from rulelens.prompts import PromptStyle, build_prompt, encode, encode_prompt, target_text
from tests.conf_settings import conf_settings, conf_trainer

LORA = conf_settings("lora", r=4, alpha=8, dropout=0.0, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
# One batch holding the whole toy corpus, so every step sees the same data and the loss must fall;
# a plain linear schedule without early stopping (conf/base stops early and groups by length).
FAST = conf_trainer(
    max_length=160,
    batch_size=4,
    max_steps=6,
    logging_steps=1,
    eval_strategy="steps",
    eval_steps=3,
    save_strategy="no",
    seed=0,
    early_stopping_patience=None,
    lr_scheduler="linear",
    warmup_steps=0,
    group_by_length=False,
    eval_batch_size=None,
    max_eval_examples=None,
)


def test_labels_mask_the_prompt_and_keep_the_rule(smol_tokenizer):
    clause, rule = "Every stair shall have a handrail.", "rule(A.1.2, stair, require=has(handrail))"
    example = encode_example(smol_tokenizer, clause, rule)
    prompt = encode_prompt(smol_tokenizer, build_prompt(smol_tokenizer, clause, PromptStyle()))
    target = encode(smol_tokenizer, target_text(smol_tokenizer, rule))
    assert example["input_ids"] == prompt + target
    assert example["labels"][: len(prompt)] == [IGNORE_INDEX] * len(prompt)
    assert example["labels"][len(prompt) :] == target
    assert target[-1] == smol_tokenizer.eos_token_id


def test_overlong_examples_are_dropped_and_counted(smol_tokenizer, toy_frame):
    lengths = [len(encode_example(smol_tokenizer, c, r)["input_ids"]) for c, r in zip(toy_frame.clause, toy_frame.rule)]
    limit = sorted(lengths)[1]  # keeps the two shortest
    examples, dropped = drop_long(encode_frame(toy_frame, smol_tokenizer, PromptStyle()), limit, "training")
    assert dropped == sum(length > limit for length in lengths) and len(examples) == len(lengths) - dropped
    assert all(len(e["input_ids"]) <= limit for e in examples)


def test_collator_pads_right_and_masks_padding(smol_tokenizer):
    import copy

    tokenizer = copy.deepcopy(smol_tokenizer)
    tokenizer.padding_side = "left"  # as generation leaves it; training still pads on the right
    pad = tokenizer.pad_token_id
    batch = padding_collator(tokenizer)(
        [
            {"input_ids": [1, 2, 3], "labels": [-100, 2, 3]},
            {"input_ids": [4], "labels": [4]},
        ]
    )
    assert tokenizer.padding_side == "left"  # the run's tokenizer is left as it was
    assert batch["input_ids"].tolist() == [[1, 2, 3], [4, pad, pad]]
    assert batch["labels"].tolist() == [[-100, 2, 3], [4, -100, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_unknown_trainer_params_are_rejected():
    with pytest.raises(ValueError, match=r"unknown key training\.trainer\.lr\b"):
        TrainerSettings.from_params({**FAST, "lr": 1e-3})


def test_a_missing_trainer_key_is_named_with_its_conf_file():
    params = dict(FAST)
    del params["optim"]
    with pytest.raises(
        ValueError, match=r"missing key\(s\) training\.trainer\.optim\b.*conf/base/parameters_training\.yml"
    ):
        TrainerSettings.from_params(params)
    with pytest.raises(ValueError, match=r"training\.trainer must be a block of settings"):
        TrainerSettings.from_params(None)


@pytest.mark.slow
@pytest.mark.parametrize(("strategy", "params", "lr"), [("fft", {}, 3e-3), ("lora", LORA, 2e-2), ("qlora", LORA, 2e-2)])
def test_each_strategy_learns(tiny_spec, toy_frame, tmp_path, strategy, params, lr):
    prepared = prepare_for_strategy(tiny_spec(), strategy, conf_settings(strategy, **params))
    # 4-bit weights are repacked in place for CPU inference, so compare the full-precision frozen ones
    frozen_before = {
        n: p.detach().clone()
        for n, p in prepared.model.named_parameters()
        if not p.requires_grad and p.dtype != torch.uint8
    }
    model, metrics, history = train_sft(prepared, toy_frame, toy_frame, {**FAST, "learning_rate": lr}, tmp_path / "run")
    train = history[history.split == "train"].loss.tolist()
    val = history[history.split == "validation"]
    assert len(train) == 6 and train[-1] < train[0]
    assert val.step.tolist() == [0, 3, 6] and val.loss.iloc[-1] < val.loss.iloc[0]
    assert metrics["val_loss_last"] < metrics["val_loss_first"]
    assert metrics["trainable_params"] == prepared.trainable_params and metrics["dropped_train_examples"] == 0
    assert metrics["tokens_per_s"] > 0 and metrics["peak_rss_mb"] > 0 and metrics["global_step"] == 6
    for name, param in model.named_parameters():  # frozen weights stayed frozen and unchanged
        if name in frozen_before:
            assert torch.equal(param, frozen_before[name])


@pytest.mark.slow
def test_resume_continues_from_the_last_checkpoint(tiny_spec, toy_frame, tmp_path):
    # constant lr: a schedule would otherwise depend on the max_steps of the interrupted session
    settings = {
        **FAST,
        "learning_rate": 1e-2,
        "lr_scheduler": "constant",
        "save_strategy": "steps",
        "save_steps": 2,
        "save_total_limit": 2,
        "eval_strategy": "no",
        "batch_size": 2,
    }
    straight, _, _ = train_sft(
        prepare_for_strategy(tiny_spec(), "lora", LORA),
        toy_frame,
        None,
        {**settings, "max_steps": 4, "resume": False},
        tmp_path / "straight",
    )

    out = tmp_path / "resumed"
    _, first, _ = train_sft(
        prepare_for_strategy(tiny_spec(), "lora", LORA), toy_frame, None, {**settings, "max_steps": 2}, out
    )
    assert first["resumed_from"] == ""
    resumed, metrics, history = train_sft(
        prepare_for_strategy(tiny_spec(), "lora", LORA), toy_frame, None, {**settings, "max_steps": 4}, out
    )
    assert metrics["resumed_from"].endswith("checkpoint-2") and metrics["global_step"] == 4
    assert history[history.split == "train"].step.tolist() == [1, 2, 3, 4]  # history spans both sessions
    for (name, a), (_, b) in zip(straight.named_parameters(), resumed.named_parameters()):
        if a.requires_grad:  # same data order and optimizer state: the same weights as one straight run
            assert torch.allclose(a, b, atol=1e-6), name


@pytest.mark.parametrize("strategy", ["fft", "qlora"])
def test_gradient_checkpointing_flag_trains(tiny_spec, toy_frame, tmp_path, strategy):
    settings = conf_settings(strategy, **(LORA if strategy == "qlora" else {}))
    prepared = prepare_for_strategy(tiny_spec(), strategy, settings)
    params = {**FAST, "max_steps": 2, "eval_strategy": "no", "gradient_checkpointing": True, "learning_rate": 1e-2}
    model, metrics, history = train_sft(prepared, toy_frame, None, params, tmp_path / "gc")
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    assert base.is_activation_checkpointing
    assert metrics["global_step"] == 2 and history.loss.notna().all()


def test_a_trained_adapter_saves_as_a_checkpoint_that_names_its_strategy_and_size(
    tiny_spec, toy_frame, tmp_path, train_checkpoint_bundle
):
    from rulelens.datasets import HFCheckpointDataset

    trainer = {**FAST, "max_steps": 2, "learning_rate": 1e-2}
    bundle, result = train_checkpoint_bundle(
        tiny_spec("xs"), "lora", LORA, trainer, toy_frame, toy_frame, tmp_path / "run"
    )
    assert result.metrics["strategy"] == "lora" and not result.history.empty
    dataset = HFCheckpointDataset(path=str(tmp_path / "lora" / "xs"))
    dataset.save(bundle)
    marker = dataset.load().metadata
    assert marker["strategy"] == "lora" and marker["size_name"] == "xs"  # from the prepared model, not the test
    assert marker["metadata"]["trainer_params"]["max_steps"] == 2


# --------------------------------------------------------------------------- issue 17: stopping, batching, lengths


def test_covering_length_is_the_shortest_length_that_keeps_the_share():
    from rulelens.modeling.sft_examples import covering_length

    lengths = [10, 20, 30, 40]
    assert covering_length(lengths, 0.75) == 30  # 3 of 4 rows fit
    assert covering_length(lengths, 0.95) == 40  # 3.8 rows round up to all 4
    assert covering_length(lengths, 0.5) == 20 and covering_length(lengths, 1.0, cap=25) == 25


def test_auto_max_length_leaves_out_the_longest_rows_and_counts_them_per_split(smol_tokenizer, toy_frame):
    from rulelens.modeling.sft_examples import prepare_examples

    lengths = sorted(
        len(encode_example(smol_tokenizer, c, r)["input_ids"]) for c, r in zip(toy_frame.clause, toy_frame.rule)
    )
    settings = TrainerSettings.from_params(
        {**FAST, "max_length": "auto", "max_length_coverage": 0.75, "max_length_cap": None}
    )
    train, evaluation, counts = prepare_examples(toy_frame, toy_frame, smol_tokenizer, PromptStyle(), settings)
    assert counts["max_length"] == lengths[2]
    assert counts["train_rows"] == counts["validation_rows"] == 4
    assert (
        counts["dropped_train_examples"]
        == counts["dropped_validation_examples"]
        == sum(n > lengths[2] for n in lengths)
    )
    assert counts["dropped_train_share"] == pytest.approx(counts["dropped_train_examples"] / 4)
    assert len(train) + counts["dropped_train_examples"] == 4


@pytest.mark.parametrize("value", [0, "long", -3])
def test_bad_max_length_is_a_config_error(value):
    with pytest.raises(ValueError, match="trainer.max_length must be"):
        TrainerSettings.from_params({**FAST, "max_length": value})


def test_early_stopping_needs_a_step_cap_and_evaluations():
    with pytest.raises(ValueError, match="set trainer.max_steps > 0"):
        TrainerSettings.from_params(
            {**FAST, "early_stopping_patience": 2, "eval_strategy": "steps", "eval_steps": 1, "max_steps": -1}
        )
    with pytest.raises(ValueError, match="needs evaluations: set eval_strategy"):
        TrainerSettings.from_params({**FAST, "early_stopping_patience": 2, "eval_strategy": "no", "max_steps": 5})


def _batch(tokenizer, frame, batching):
    from rulelens.modeling.sft_examples import batch_collator

    examples = [encode_example(tokenizer, c, r) for c, r in zip(frame.clause, frame.rule)]
    return batch_collator(TrainerSettings.from_params({**FAST, "batching": batching}), tokenizer)(examples)


@pytest.mark.parametrize("batching", ["padded", "flattened"])
@pytest.mark.parametrize("rule_logits_only", [True, False])
def test_rule_token_loss_equals_the_models_own_loss(tiny_spec, toy_frame, batching, rule_logits_only):
    from rulelens.modeling.sft import rule_token_loss

    prepared = prepare_for_strategy(tiny_spec(), "fft", conf_settings("fft"))
    model, tokenizer = prepared.model.eval(), prepared.tokenizer
    with torch.no_grad():
        reference = model(**_batch(tokenizer, toy_frame, "padded"), use_cache=False).loss  # HF's own causal-LM loss
        loss, _ = rule_token_loss(model, _batch(tokenizer, toy_frame, batching), rule_logits_only=rule_logits_only)
    assert loss.item() == pytest.approx(reference.item(), rel=1e-5)


def test_flattened_batches_need_the_cache_off_to_mask_per_example(tiny_spec, toy_frame):
    """The guard behind ``use_cache=False``: with a cache the model would attend across examples."""
    prepared = prepare_for_strategy(tiny_spec(), "fft", conf_settings("fft"))
    flat = _batch(prepared.tokenizer, toy_frame, "flattened")
    padded = _batch(prepared.tokenizer, toy_frame, "padded")
    with torch.no_grad():
        right = prepared.model(**flat, use_cache=False).loss
        reference = prepared.model(**padded, use_cache=False).loss
        leaky = prepared.model(**flat, use_cache=True).loss
    assert right.item() == pytest.approx(reference.item(), rel=1e-5)
    assert leaky.item() != pytest.approx(reference.item(), rel=1e-4)


def test_length_grouped_batches_cover_every_row_once_in_a_seeded_shuffled_order():
    from rulelens.modeling.sft_examples import LengthGroupedBatches

    lengths = [5, 50, 6, 51, 7, 52, 8, 53, 9, 54, 10, 55]
    sampler = LengthGroupedBatches(lengths, batch_size=2, seed=3)
    first, second = list(sampler), list(sampler)
    assert sorted(first) == list(range(12)) and sorted(second) == list(range(12))
    assert first != second  # each epoch its own order
    batches = [first[i : i + 2] for i in range(0, 12, 2)]
    ordered = sorted(lengths)
    for batch in batches:  # every batch holds neighbours in length order
        ranks = sorted(ordered.index(lengths[i]) for i in batch)
        assert ranks[1] - ranks[0] == 1 and ranks[0] % 2 == 0
    spans = [lengths[b[0]] for b in batches]
    assert spans != sorted(spans) and spans != sorted(spans, reverse=True)  # not longest-first
    again = LengthGroupedBatches(lengths, batch_size=2, seed=3)
    assert list(again) == first  # same seed and epoch: same order (resume)
    again.set_epoch(0)
    assert list(again) == first


STOP = {**FAST, "max_steps": 20, "eval_steps": 1, "eval_on_start": False, "early_stopping_patience": 2, "batch_size": 4}


def test_early_stopping_stops_on_a_flat_validation_loss(tiny_spec, toy_frame, tmp_path):
    prepared = prepare_for_strategy(tiny_spec(), "lora", LORA)
    _, metrics, history = train_sft(prepared, toy_frame, toy_frame, {**STOP, "learning_rate": 0.0}, tmp_path / "flat")
    assert metrics["stopped_by"] == "early_stopping"
    assert metrics["global_step"] == 3  # step 1 sets the best; steps 2 and 3 do not beat it (patience 2)
    assert history[history.split == "validation"].step.tolist() == [1, 2, 3]
    assert metrics["val_loss_last_vs_best"] == pytest.approx(0.0, abs=1e-9)


def test_early_stopping_keeps_the_best_checkpoint_not_the_last(tiny_spec, toy_frame, tmp_path):
    prepared = prepare_for_strategy(tiny_spec(), "fft", conf_settings("fft"))
    initial = {n: p.detach().clone() for n, p in prepared.model.named_parameters()}
    # Warm-up from lr 0: step 1 leaves the weights as they were (the best model); steps 2-3 use a
    # learning rate so large that the validation loss can only get worse.
    params = {**STOP, "learning_rate": 5.0, "lr_scheduler": "constant_with_warmup", "warmup_steps": 3}
    model, metrics, history = train_sft(prepared, toy_frame, toy_frame, params, tmp_path / "best")
    validation = history[history.split == "validation"].set_index("step").loss
    assert metrics["stopped_by"] == "early_stopping" and metrics["global_step"] == 3
    assert metrics["best_step"] == 1 and validation[2] > validation[1] and validation[3] > validation[1]
    assert metrics["val_loss_last_vs_best"] > 0
    for name, param in model.named_parameters():  # the step-1 weights came back, not the step-3 ones
        assert torch.equal(param, initial[name]), name


def test_a_run_cut_by_the_step_cap_says_so(tiny_spec, toy_frame, tmp_path):
    prepared = prepare_for_strategy(tiny_spec(), "lora", LORA)
    params = {**STOP, "max_steps": 3, "learning_rate": 2e-2, "early_stopping_patience": 5}
    _, metrics, _ = train_sft(prepared, toy_frame, toy_frame, params, tmp_path / "cap")
    assert metrics["stopped_by"] == "step_cap" and metrics["global_step"] == 3 and metrics["max_steps"] == 3


def test_length_grouped_padding_free_training_learns(tiny_spec, toy_frame, tmp_path):
    prepared = prepare_for_strategy(tiny_spec(), "lora", LORA)
    params = {**FAST, "learning_rate": 2e-2, "batching": "flattened", "group_by_length": True, "batch_size": 2}
    _, metrics, history = train_sft(prepared, toy_frame, toy_frame, params, tmp_path / "flat")
    assert metrics["val_loss_last"] < metrics["val_loss_first"] and metrics["global_step"] == 6
