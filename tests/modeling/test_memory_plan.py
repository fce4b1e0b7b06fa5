"""The memory plan equals the hand calculation in docs/configuration.md ("Running at the published scale")."""

from __future__ import annotations

import pytest

from rulelens.modeling.memory_plan import (
    MemoryPlanError,
    MemoryPlanSettings,
    ModelShape,
    TrainingSetup,
    check_variant,
    optimizer_bytes,
    plan,
    plan_components,
)
from rulelens.param_blocks import ParameterError
from tests.conf_settings import conf_memory_plan

# a 7B Llama-style model: 7.0e9 parameters, hidden 4096, 32 layers, 32 heads, vocabulary 32000
SEVEN_B = ModelShape(
    n_params=7_000_000_000, hidden_size=4096, num_layers=32, num_heads=32, vocab_size=32000, intermediate_size=11008
)
FFT_BF16 = TrainingSetup(
    strategy="fft", weights_dtype="bfloat16", mixed_precision=True, optim="adamw_torch", max_length=512, batch_size=8
)


def test_seven_b_full_fine_tuning_is_sixteen_bytes_per_parameter():
    components, trainable, _ = plan_components(SEVEN_B, FFT_BF16)
    assert trainable == 7_000_000_000
    assert components["weights"] == 14e9  # 2 bytes (bf16)
    assert components["gradients"] == 14e9  # 2 bytes
    assert components["master_copy"] == 28e9  # fp32 copy, 4 bytes
    assert components["optimizer"] == 56e9  # AdamW: two fp32 moments, 8 bytes
    assert sum(v for k, v in components.items() if k != "activations") == 112e9


def test_activations_match_the_hand_calculation():
    per_layer = 512 * 8 * 4096 * (34 + 5 * 32 * 512 / 4096)  # 905,969,664 bytes
    assert per_layer == 905_969_664
    logits = 2 * 4 * 512 * 8 * 32000  # 1,048,576,000 bytes
    full = plan_components(SEVEN_B, FFT_BF16)[0]["activations"]
    assert full == 32 * per_layer + logits == 30_039_605_248
    checkpointed = plan_components(SEVEN_B, TrainingSetup(**{**FFT_BF16.__dict__, "gradient_checkpointing": True}))[0]
    assert checkpointed["activations"] == 32 * 2 * 512 * 8 * 4096 + per_layer + logits == 3_028_287_488


def test_an_80_gb_gpu_names_the_options_that_make_it_fit():
    result = plan(SEVEN_B, FFT_BF16, 80e9, "1 x H100 80GB", n_devices=1, headroom=0.9)
    assert result.peak_bytes == pytest.approx(142.04e9, rel=1e-4) and not result.fits
    text = " ".join(result.fixes)
    assert "sharding over 2 GPUs" in text and "CPU offload" in text and "QLoRA" in text
    assert "8-bit" not in text  # 10 bytes/param = 70 GB + 3 GB activations > 72 GB usable


def test_optimizer_and_qlora_bytes():
    assert optimizer_bytes("adamw_torch") == 8 and optimizer_bytes("paged_adamw_8bit") == 2
    qlora = TrainingSetup(
        strategy="qlora",
        weights_dtype="bfloat16",
        mixed_precision=True,
        lora_r=16,
        max_length=512,
        batch_size=8,
        gradient_checkpointing=True,
    )
    components, trainable, _ = plan_components(SEVEN_B, qlora)
    assert trainable == 32 * 16 * (4096 * 4 * 2 + 3 * (4096 + 11008))  # r(in+out) on q,k,v,o,gate,up,down
    linear = SEVEN_B.linear_params
    rest = SEVEN_B.n_params - linear
    assert components["weights"] == pytest.approx(linear * (0.5 + 0.127 / 8) + rest * 4 + trainable * 4)


def test_a_variant_that_cannot_fit_stops_before_training():
    with pytest.raises(MemoryPlanError, match="will not fit.*Options that make it fit"):
        check_variant("fft.q7b", SEVEN_B, FFT_BF16, device="cpu", headroom=0.9, available_bytes=80e9)
    tiny = ModelShape(n_params=1_000_000, hidden_size=64, num_layers=2, num_heads=4, vocab_size=49152)
    assert check_variant("fft.tiny", tiny, TrainingSetup(), device="cpu", headroom=0.9).fits


def test_auto_max_length_is_planned_at_its_cap():
    import pytest

    from rulelens.modeling.memory_plan import planned_length

    assert planned_length({"max_length": "auto", "max_length_cap": 320}) == 320
    assert planned_length({"max_length": 192}) == 192
    with pytest.raises(ValueError, match="max_length_cap"):
        planned_length({"max_length": "auto"})


def test_the_memory_plan_settings_are_the_conf_block():
    """``training.memory_plan`` is read strictly: its keys and defaults live in conf/base/parameters_training.yml."""
    settings = MemoryPlanSettings.from_params(conf_memory_plan())
    assert settings == MemoryPlanSettings(check=True, headroom=0.9, available_gb=None)
    assert settings.available_bytes is None
    assert MemoryPlanSettings.from_params(conf_memory_plan(available_gb=80)).available_bytes == 80e9
    block = conf_memory_plan()
    del block["headroom"]
    with pytest.raises(
        ParameterError, match=r"missing key\(s\) training\.memory_plan\.headroom\b.*conf/base/parameters_training\.yml"
    ):
        MemoryPlanSettings.from_params(block)
