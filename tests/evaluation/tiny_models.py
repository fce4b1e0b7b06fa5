"""Tiny models for the generation tests: every kind of model rulelens decodes (plain, peft-wrapped,
4-bit, Qwen2 with and without a sliding window), and a helper for models steered row by row.

Each builder takes the ``tiny_llama`` fixture and a folder (the 4-bit one saves and reloads)."""

from __future__ import annotations

import pytest

QWEN2_FROM_LLAMA = (
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "max_position_embeddings",
    "tie_word_embeddings",
    "bos_token_id",
    "eos_token_id",
    "pad_token_id",
)


def plain_model(tiny_llama, tmp_path):
    return tiny_llama(seed=0, tie_word_embeddings=False)


def peft_model(tiny_llama, tmp_path):
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    return get_peft_model(tiny_llama(seed=2, tie_word_embeddings=False), config).eval()


def four_bit_model(tiny_llama, tmp_path):
    pytest.importorskip("bitsandbytes")
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    tiny_llama(seed=3, hidden_size=64, intermediate_size=128, tie_word_embeddings=False).save_pretrained(tmp_path)
    quantisation = BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.float32
    )
    return AutoModelForCausalLM.from_pretrained(tmp_path, quantization_config=quantisation, dtype=torch.float32)


def qwen2_model(tiny_llama, tmp_path, **window):
    """A tiny Qwen2 (the GPU profiles' architecture), random, from the same vocabulary."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    llama = tiny_llama(seed=4, tie_word_embeddings=False).config  # the shared tiny shape and special tokens
    torch.manual_seed(4)
    config = Qwen2Config(**{key: getattr(llama, key) for key in QWEN2_FROM_LLAMA}, **window)
    return Qwen2ForCausalLM(config).eval()


def qwen2_sliding_model(tiny_llama, tmp_path):
    """Qwen2 whose second layer attends to a window of 6 tokens, shorter than every prompt: the
    sliding-window cache layer must shrink with the batch too."""
    return qwen2_model(tiny_llama, tmp_path, use_sliding_window=True, sliding_window=6, max_window_layers=1)


def follow_the_batch(cache, state):
    """Keep ``state["rows"]`` (one script per batch row) in step with the decoder dropping finished rows:
    it drops them from the KV cache with ``batch_select_indices``, so the steered model sees the same."""
    select = cache.batch_select_indices

    def select_and_follow(indices):
        state["rows"] = [state["rows"][i] for i in indices.tolist()]
        return select(indices)

    cache.batch_select_indices = select_and_follow
