"""Supervised fine-tuning: label masking, padding, each strategy learns, resuming."""

from __future__ import annotations

import pytest
import torch

from rulelens.modeling.sft import (
    IGNORE_INDEX, PaddingCollator, TrainerSettings, encode_example, tokenize_frame, train_sft,
)
from rulelens.modeling.strategies import prepare_for_strategy
from rulelens.prompts import PromptStyle, build_prompt, encode, encode_prompt, target_text
from tests.conf_settings import conf_settings

LORA = conf_settings("lora", r=4, alpha=8, dropout=0.0, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
# One batch holding the whole toy corpus, so every step sees the same data and the loss must fall.
FAST = {"max_length": 160, "batch_size": 4, "max_steps": 6, "logging_steps": 1, "eval_strategy": "steps",
        "eval_steps": 3, "save_strategy": "no", "seed": 0}


def test_labels_mask_the_prompt_and_keep_the_rule(smol_tokenizer):
    clause, rule = "Every stair shall have a handrail.", "rule(A.1.2, stair, require=has(handrail))"
    example = encode_example(smol_tokenizer, clause, rule)
    prompt = encode_prompt(smol_tokenizer, build_prompt(smol_tokenizer, clause, PromptStyle()))
    target = encode(smol_tokenizer, target_text(smol_tokenizer, rule))
    assert example["input_ids"] == prompt + target
    assert example["labels"][: len(prompt)] == [IGNORE_INDEX] * len(prompt)
    assert example["labels"][len(prompt):] == target
    assert target[-1] == smol_tokenizer.eos_token_id


def test_overlong_examples_are_dropped_and_counted(smol_tokenizer, toy_frame):
    lengths = [len(encode_example(smol_tokenizer, c, r)["input_ids"]) for c, r in zip(toy_frame.clause, toy_frame.rule)]
    limit = sorted(lengths)[1]  # keeps the two shortest
    examples, dropped = tokenize_frame(toy_frame, smol_tokenizer, PromptStyle(), limit)
    assert dropped == sum(length > limit for length in lengths) and len(examples) == len(lengths) - dropped
    assert all(len(e["input_ids"]) <= limit for e in examples)


def test_collator_pads_right_and_masks_padding():
    batch = PaddingCollator(pad_token_id=7)([
        {"input_ids": [1, 2, 3], "labels": [-100, 2, 3]}, {"input_ids": [4], "labels": [4]},
    ])
    assert batch["input_ids"].tolist() == [[1, 2, 3], [4, 7, 7]]
    assert batch["labels"].tolist() == [[-100, 2, 3], [4, -100, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_unknown_trainer_params_are_rejected():
    with pytest.raises(ValueError, match="unknown"):
        TrainerSettings.from_params({"lr": 1e-3})


@pytest.mark.parametrize(("strategy", "params", "lr"), [("fft", {}, 3e-3), ("lora", LORA, 2e-2), ("qlora", LORA, 2e-2)])
def test_each_strategy_learns(tiny_spec, toy_frame, tmp_path, strategy, params, lr):
    prepared = prepare_for_strategy(tiny_spec(), strategy, conf_settings(strategy, **params))
    # 4-bit weights are repacked in place for CPU inference, so compare the full-precision frozen ones
    frozen_before = {n: p.detach().clone() for n, p in prepared.model.named_parameters()
                     if not p.requires_grad and p.dtype != torch.uint8}
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


def test_resume_continues_from_the_last_checkpoint(tiny_spec, toy_frame, tmp_path):
    # constant lr: a schedule would otherwise depend on the max_steps of the interrupted session
    settings = {**FAST, "learning_rate": 1e-2, "lr_scheduler": "constant", "save_strategy": "steps",
                "save_steps": 2, "save_total_limit": 2, "eval_strategy": "no", "batch_size": 2}
    straight, _, _ = train_sft(prepare_for_strategy(tiny_spec(), "lora", LORA), toy_frame, None,
                               {**settings, "max_steps": 4, "resume": False}, tmp_path / "straight")

    out = tmp_path / "resumed"
    _, first, _ = train_sft(prepare_for_strategy(tiny_spec(), "lora", LORA), toy_frame, None,
                            {**settings, "max_steps": 2}, out)
    assert first["resumed_from"] == ""
    resumed, metrics, history = train_sft(prepare_for_strategy(tiny_spec(), "lora", LORA), toy_frame, None,
                                          {**settings, "max_steps": 4}, out)
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


def test_fine_tune_variant_returns_a_bundle_for_the_checkpoint_dataset(tiny_spec, toy_frame, tmp_path):
    from rulelens.datasets import HFCheckpointDataset
    from rulelens.modeling.sft import fine_tune_variant

    bundle, metrics, history = fine_tune_variant(
        tiny_spec("xs"), "lora", LORA, {**FAST, "max_steps": 2, "learning_rate": 1e-2}, toy_frame, toy_frame,
        tmp_path / "run")
    assert metrics["size_name"] == "xs" and metrics["strategy"] == "lora" and not history.empty
    dataset = HFCheckpointDataset(path=str(tmp_path / "lora" / "xs"))
    dataset.save(bundle)
    marker = dataset.load().metadata
    assert marker["strategy"] == "lora" and marker["size_name"] == "xs"
    assert marker["metadata"]["trainer_params"]["max_steps"] == 2
