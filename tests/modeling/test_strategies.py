"""Strategies: which weights train, and the 4-bit base of QLoRA."""

from __future__ import annotations

import pytest

from rulelens.modeling.base_models import count_parameters
from rulelens.modeling.strategies import (
    STRATEGIES,
    StrategySpec,
    lora_config,
    prepare_for_strategy,
    quantization_config,
    strategy_settings,
)
from tests.conf_settings import conf_settings

SMALL = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj", "up_proj"]}
FFT = conf_settings("fft")
LORA = conf_settings("lora", **SMALL)
QLORA = conf_settings("qlora", **SMALL)


def trainable_names(model):
    return [name for name, p in model.named_parameters() if p.requires_grad]


def test_fft_trains_every_weight(tiny_spec):
    prepared = prepare_for_strategy(tiny_spec(), "fft", FFT)
    assert prepared.trainable_params == prepared.total_params == prepared.base_params
    assert all(p.requires_grad for p in prepared.model.parameters())


@pytest.mark.parametrize(("strategy", "settings"), [("lora", LORA), ("qlora", QLORA)])
def test_adapters_are_the_only_trainable_weights(tiny_spec, strategy, settings):
    prepared = prepare_for_strategy(tiny_spec(), strategy, settings)
    names = trainable_names(prepared.model)
    assert names and all("lora_" in name for name in names)
    # r * (in + out) per adapted matrix: 2 layers x (q 64->64, v 64->32, up 64->128)
    assert prepared.trainable_params == 2 * 4 * ((64 + 64) + (64 + 32) + (64 + 128))
    assert prepared.total_params == prepared.base_params + prepared.trainable_params
    assert prepared.trainable_params == count_parameters(prepared.model, trainable_only=True)


def test_qlora_base_layers_are_4bit_nf4(tiny_spec):
    import bitsandbytes as bnb

    prepared = prepare_for_strategy(tiny_spec(), "qlora", QLORA)
    attention = prepared.model.base_model.model.model.layers[0].self_attn
    for module in (attention.q_proj.base_layer, attention.k_proj, attention.o_proj):
        assert isinstance(module, bnb.nn.Linear4bit)
        assert module.weight.quant_state.quant_type == "nf4"
        assert module.weight.quant_state.nested  # double quantisation
    assert prepared.model.rulelens_info["quantization"] == {
        "quant_type": "nf4",
        "double_quant": True,
        "compute_dtype": "float32",
    }
    fft = prepare_for_strategy(tiny_spec(), "fft", FFT)  # 4-bit weights are counted at full size
    assert prepared.base_params == fft.total_params


def test_strategy_params_are_validated():
    with pytest.raises(ValueError, match="unknown"):
        strategy_settings("lora", {**LORA, "rank": 8})
    with pytest.raises(ValueError, match="unknown"):
        strategy_settings("fft", {**FFT, "r": 8})
    with pytest.raises(ValueError, match="strategy"):
        strategy_settings("dora", {})
    without_bias = {k: v for k, v in LORA.items() if k != "bias"}
    with pytest.raises(ValueError, match=r"\['bias'\] not set"):  # no code default fills it in
        strategy_settings("lora", without_bias)


def test_the_registry_says_what_each_strategy_needs():
    assert {name: (s.adapters, s.quantised) for name, s in STRATEGIES.items()} == {
        "fft": (False, False),
        "lora": (True, False),
        "qlora": (True, True),
    }
    for name, spec in STRATEGIES.items():  # conf/base gives every key each strategy takes, no more
        assert sorted(conf_settings(name)) == sorted(spec.settings_keys), name
    with pytest.raises(ValueError, match="adapters"):
        StrategySpec("q_fft", adapters=False, quantised=True)


def test_conf_settings_build_the_published_lora_and_quantisation_configs():
    """conf/base gives the peft and bitsandbytes configs docs/models.md states (adapter dropout 0 on
    the CPU default, docs/performance.md)."""
    import torch
    from peft import LoraConfig
    from transformers import BitsAndBytesConfig

    llama = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    expected = LoraConfig(
        task_type="CAUSAL_LM", r=16, lora_alpha=32.0, lora_dropout=0.0, target_modules=llama, bias="none"
    )
    for name in ("lora", "qlora"):
        assert lora_config(strategy_settings(name, conf_settings(name))) == expected
    expected = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.float32,
    )
    assert quantization_config(conf_settings("qlora")).to_dict() == expected.to_dict()
    assert strategy_settings("fft", conf_settings("fft")) == {"seed": 0}


def test_a_new_adapter_strategy_is_one_registry_entry(tiny_spec, monkeypatch):
    """DoRA as an example: LoRA's settings plus a fixed adapter option, nothing else to edit."""
    monkeypatch.setitem(STRATEGIES, "dora", StrategySpec("dora", adapters=True, adapter_options={"use_dora": True}))
    prepared = prepare_for_strategy(tiny_spec(), "dora", LORA)
    assert prepared.model.peft_config["default"].use_dora
    names = [name for name, p in prepared.model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in name for name in names)
    assert prepared.model.rulelens_info["quantization"] is None


def test_qlora_gradients_flow_through_the_4bit_base_even_after_evaluation(tiny_spec, tokenizer_folder):
    """QLoRA = LoRA on the de-quantised weights: same logits and same adapter gradients.

    Regression test: bitsandbytes' CPU inference repacking (triggered by an eval pass) used to
    cut the gradient through 4-bit layers, so attention adapters never learned.
    """
    import bitsandbytes as bnb
    import torch

    qlora = prepare_for_strategy(tiny_spec(), "qlora", QLORA).model
    lora = prepare_for_strategy(tiny_spec(), "lora", LORA).model
    quantized = dict(qlora.named_modules())
    with torch.no_grad():
        for name, module in lora.named_modules():
            twin = quantized.get(name)
            if isinstance(twin, bnb.nn.Linear4bit):
                module.weight.copy_(bnb.functional.dequantize_4bit(twin.weight.data, twin.weight.quant_state))
        for (_, a), (_, b) in zip(qlora.named_parameters(), lora.named_parameters()):
            if a.requires_grad:
                b.copy_(a.normal_(0, 0.1))  # non-zero adapters, identical in both models
    ids = torch.arange(100, 124).view(2, 12)
    qlora.eval()
    lora.eval()
    with torch.no_grad():  # the pass that used to repack the 4-bit weights
        assert torch.allclose(qlora(ids).logits, lora(ids).logits, atol=1e-5)
    qlora.train()
    lora.train()
    qlora(input_ids=ids, labels=ids).loss.backward()
    lora(input_ids=ids, labels=ids).loss.backward()
    grads = [
        (n, a.grad, b.grad)
        for (n, a), (_, b) in zip(qlora.named_parameters(), lora.named_parameters())
        if a.requires_grad
    ]
    assert grads and all(g is not None for _, g, _ in grads)
    for name, got, expected in grads:
        assert torch.allclose(got, expected, atol=1e-5), name
