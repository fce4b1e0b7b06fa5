"""Device/dtype decisions and the one inference loader, on the CPU without mocking torch.

With ``device=cpu`` forced, every kind of model (full checkpoint, LoRA adapter, QLoRA 4-bit
adapter, zero-shot base) reaches the attribution engine on the configured dtype.
"""

from __future__ import annotations

import pytest
import torch

from rulelens.modeling.placement import (
    Placement,
    PlacementError,
    is_main_process,
    model_placement,
    resolve_device,
    resolve_dtype,
    resolve_placement,
)
from tests.conf_settings import conf_settings, conf_trainer


def test_auto_device_and_dtype_decisions():
    assert resolve_device("auto", cuda=True) == "cuda:0"
    assert resolve_device("auto", cuda=False) == "cpu"
    assert resolve_device("cuda:1", cuda=True) == "cuda:1"
    assert resolve_device("cpu", cuda=True) == "cpu"
    assert resolve_dtype("auto", "cuda:0", bf16=True) == "bfloat16"
    assert resolve_dtype("auto", "cuda:0", bf16=False) == "float16"
    assert resolve_dtype("auto", "cpu") == "float32"
    assert resolve_dtype("bfloat16", "cpu") == "bfloat16"
    assert resolve_placement({"device": "cpu", "device_map": "auto"}, cuda=True).device_map is None  # one CPU


def test_adapters_are_merged_for_inference_on_the_cpu_only_by_default():
    assert resolve_placement({"device": "cpu"}).merge_adapters is True
    assert resolve_placement({"device": "auto"}, cuda=True, bf16=True).merge_adapters is False
    assert resolve_placement({"device": "auto", "merge_adapters": True}, cuda=True, bf16=True).merge_adapters
    assert resolve_placement({"device": "cpu", "merge_adapters": False}).merge_adapters is False
    with pytest.raises(ValueError, match="merge_adapters"):
        resolve_placement({"merge_adapters": "yes"})


def test_a_cuda_request_without_cuda_fails_fast_with_the_way_out():
    with pytest.raises(PlacementError, match="placement.device=cpu"):
        resolve_device("cuda", cuda=False)
    with pytest.raises(ValueError, match="unknown placement"):
        resolve_placement({"devcie": "cpu"})


def test_only_rank_zero_is_main(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("ACCELERATE_PROCESS_INDEX", raising=False)
    assert is_main_process()
    monkeypatch.setenv("RANK", "1")
    assert not is_main_process()


@pytest.fixture
def trained(tiny_spec, toy_frame, tmp_path, train_checkpoint_bundle):
    """One-step FFT, LoRA and QLoRA checkpoints of a tiny model, saved by the checkpoint dataset."""
    from rulelens.datasets import HFCheckpointDataset

    trainer = conf_trainer(
        max_length=128,
        max_steps=1,
        batch_size=2,
        eval_strategy="no",
        save_strategy="no",
        eval_on_start=False,
        early_stopping_patience=None,  # no evaluations: nothing to stop on
        lr_scheduler="linear",
        warmup_steps=0,
        group_by_length=False,
    )
    lora = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}
    folders = {}
    spec = tiny_spec()
    for strategy, settings in (("fft", {}), ("lora", lora), ("qlora", {**lora, "compute_dtype": "float32"})):
        settings = conf_settings(strategy, **settings)
        bundle, _ = train_checkpoint_bundle(
            spec, strategy, settings, trainer, toy_frame, None, tmp_path / "work" / strategy
        )
        folders[strategy] = tmp_path / strategy
        HFCheckpointDataset(str(folders[strategy])).save(bundle)
    return spec, folders


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_every_model_reaches_the_engine_on_the_configured_dtype(
    trained, dtype, clause_text="A.1.1 Every stair shall have a handrail."
):
    from rulelens.attribution.engine import attribute_clause
    from rulelens.attribution.scoring import lm_parts
    from rulelens.datasets import HFCheckpointDataset
    from rulelens.modeling import placement
    from rulelens.modeling.placement import load_base_for_inference

    spec, folders = trained
    placement.configure_run({"device": "cpu", "dtype": dtype})
    try:
        models = {name: HFCheckpointDataset(str(folder)).load() for name, folder in folders.items()}
        base_model, base_tokenizer = load_base_for_inference(spec)
        loaded = {**{k: (b.model, b.tokenizer) for k, b in models.items()}, "zero_shot": (base_model, base_tokenizer)}
        for name, (model, tokenizer) in loaded.items():
            where = model_placement(model)
            assert where == {"device": "cpu", "dtype": dtype}, name
            parts = lm_parts(model)
            assert parts.device == torch.device("cpu")
            assert parts.lm.get_input_embeddings().weight.dtype == getattr(torch, dtype), name
            # merged (dequantized) weights too: everything floating is on the configured dtype
            assert {p.dtype for p in parts.body.parameters() if p.is_floating_point()} <= {
                getattr(torch, dtype),
                torch.float32,
            }
            result = attribute_clause(model, tokenizer, clause_text, "rule(A.1.1, stair, require=has(handrail))")
            assert len(result.scores) == len(result.words) and all(s == s for s in result.scores), name
        # on the CPU the adapters are merged for inference; the 4-bit base was dequantized first
        assert models["qlora"].model.rulelens_merged_adapter["dequantized_4bit_base"] is True
        assert "Linear4bit" not in {type(m).__name__ for m in models["qlora"].model.modules()}
    finally:
        placement.reset_run_placement()


@pytest.mark.slow
def test_explicit_dataset_load_args_override_the_run(trained):
    from rulelens.datasets import HFCheckpointDataset
    from rulelens.modeling import placement

    _, folders = trained
    placement.configure_run({"device": "cpu", "dtype": "bfloat16"})
    try:
        model = HFCheckpointDataset(str(folders["fft"]), load_args={"dtype": "float32"}).load().model
        assert model_placement(model) == {"device": "cpu", "dtype": "float32"}
        assert Placement().describe() == {"device": "cpu", "dtype": "float32"}
    finally:
        placement.reset_run_placement()
