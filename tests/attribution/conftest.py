"""Fixtures for attribution tests: an invented clause/rule pair and tiny model variants."""

from __future__ import annotations

import pytest

CLAUSE = "X.1.2 The headroom of every room shall not be less than 2.0 m, except (a) lofts."
RULE = "rule('X.1.2', room, require=headroom >= 2.0)"


@pytest.fixture
def clause():
    return CLAUSE


@pytest.fixture
def rule():
    return RULE


@pytest.fixture
def tiny_model(tiny_llama):
    """A tiny random Llama with SmolLM2's vocabulary (fp32, eval mode)."""
    return tiny_llama(seed=1)


@pytest.fixture
def lora_model(tiny_llama):
    """The tiny model wrapped with non-zero LoRA adapters on q_proj and v_proj."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    return get_peft_model(tiny_llama(seed=2), config).eval()


@pytest.fixture
def nf4_model(tiny_llama, tmp_path):
    """The tiny model saved as safetensors and loaded back 4-bit NF4-quantised by bitsandbytes."""
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    tiny_llama(seed=3, hidden_size=64, intermediate_size=128).save_pretrained(tmp_path / "tiny")
    quantisation = BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.float32
    )
    model = AutoModelForCausalLM.from_pretrained(
        tmp_path / "tiny", quantization_config=quantisation, dtype=torch.float32
    )
    return model.eval()
