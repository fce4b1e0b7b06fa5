"""HFCheckpointDataset: full models and adapters round-trip; completed checkpoints are protected."""

from __future__ import annotations

import json

import pytest
import torch
from kedro.io import DataCatalog, DatasetError

from rulelens.datasets import HFCheckpointDataset
from rulelens.datasets.checkpoint_folder import COMPLETE_MARKER
from rulelens.modeling.bundle import ModelBundle
from rulelens.modeling.strategies import prepare_for_strategy
from tests.conf_settings import conf_settings

LORA = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj", "down_proj"]}


@pytest.fixture
def tiny_spec(smol_tokenizer, tmp_path):
    folder = tmp_path / "tokenizer"
    smol_tokenizer.save_pretrained(folder)
    config = dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    return {
        "size_name": "tiny",
        "source": "tiny",
        "config": config,
        "tokenizer": str(folder),
        "cache_dir": str(tmp_path / "base"),
    }


@pytest.fixture
def ids(smol_tokenizer):
    return torch.tensor([smol_tokenizer("The riser of a step shall not exceed 190 mm.")["input_ids"]])


def logits(model, ids):
    model.eval()
    with torch.no_grad():
        return model(ids).logits


def adapted(spec, strategy):
    """A prepared adapter model whose adapters are non-zero (fresh LoRA B matrices are zero)."""
    prepared = prepare_for_strategy(spec, strategy, conf_settings(strategy, **LORA))
    torch.manual_seed(1)
    with torch.no_grad():
        for name, param in prepared.model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    return prepared


def test_full_model_round_trip(tiny_llama, smol_tokenizer, ids, tmp_path):
    model = tiny_llama()
    dataset = HFCheckpointDataset(path=str(tmp_path / "ckpt"))
    assert not dataset.exists()
    dataset.save(ModelBundle(model, smol_tokenizer, {"strategy": "fft", "size": "tiny"}))
    assert dataset.exists()
    files = {p.name for p in (tmp_path / "ckpt").iterdir()}
    assert {"model.safetensors", "tokenizer.json", COMPLETE_MARKER} <= files
    loaded = dataset.load()
    assert loaded.metadata["kind"] == "full" and loaded.metadata["metadata"]["size"] == "tiny"
    assert torch.equal(logits(loaded.model, ids), logits(model, ids))
    assert loaded.tokenizer("x")["input_ids"] == smol_tokenizer("x")["input_ids"]


@pytest.mark.parametrize("strategy", ["lora", "qlora"])
def test_adapter_round_trip(tiny_spec, ids, tmp_path, strategy):
    prepared = adapted(tiny_spec, strategy)
    expected = logits(prepared.model, ids)
    dataset = HFCheckpointDataset(path=str(tmp_path / strategy), load_args={"merge_adapter": False})
    dataset.save(prepared)
    files = {p.name for p in (tmp_path / strategy).iterdir()}
    assert {"adapter_model.safetensors", "adapter_config.json"} <= files and "model.safetensors" not in files
    loaded = dataset.load()
    marker = loaded.metadata
    assert marker["kind"] == "adapter" and marker["strategy"] == strategy
    assert marker["base_model_path"] == prepared.base_location
    assert (marker["quantization"] is not None) == (strategy == "qlora")
    assert type(loaded.model).__name__.startswith("PeftModel")
    if strategy == "qlora":
        import bitsandbytes as bnb

        q_proj = loaded.model.base_model.model.model.layers[0].self_attn.q_proj
        assert isinstance(q_proj.base_layer, bnb.nn.Linear4bit)
    assert torch.allclose(logits(loaded.model, ids), expected, atol=1e-6)


@pytest.mark.parametrize("strategy", ["lora", "qlora"])
def test_a_merged_adapter_is_the_trained_function(tiny_spec, ids, tmp_path, strategy):
    """Merged for inference (the CPU default), a QLoRA adapter on its dequantized 4-bit base included:
    a plain model without adapter or 4-bit layers whose log-probabilities equal the unmerged ones."""
    prepared = adapted(tiny_spec, strategy)
    for name, param in prepared.model.named_parameters():
        if "lora_B" in name:  # a fresh adapter is the identity; make it change the function
            torch.nn.init.normal_(param, std=0.05)
    expected = torch.log_softmax(logits(prepared.model, ids), -1)
    with prepared.model.disable_adapter():
        base_only = torch.log_softmax(logits(prepared.model, ids), -1)
    assert (expected - base_only).abs().max().item() > 1e-3  # the adapter changes the function
    HFCheckpointDataset(path=str(tmp_path / strategy)).save(prepared)
    merged = HFCheckpointDataset(path=str(tmp_path / strategy), load_args={"merge_adapter": True}).load().model
    kinds = {type(m).__name__ for m in merged.modules()}
    assert not type(merged).__name__.startswith("PeftModel") and "Linear4bit" not in kinds
    assert not any("lora" in name for name, _ in merged.named_parameters())
    assert merged.rulelens_merged_adapter["dequantized_4bit_base"] == (strategy == "qlora")
    got = torch.log_softmax(logits(merged, ids), -1)
    assert (got - expected).abs().max().item() < 1e-4


def test_saving_over_a_completed_checkpoint_needs_overwrite(tiny_llama, smol_tokenizer, ids, tmp_path):
    path = str(tmp_path / "ckpt")
    HFCheckpointDataset(path=path).save(ModelBundle(tiny_llama(seed=0), smol_tokenizer))
    with pytest.raises(DatasetError, match="overwrite"):
        HFCheckpointDataset(path=path).save(ModelBundle(tiny_llama(seed=1), smol_tokenizer))
    assert torch.equal(logits(HFCheckpointDataset(path=path).load().model, ids), logits(tiny_llama(seed=0), ids))
    HFCheckpointDataset(path=path, overwrite=True).save(ModelBundle(tiny_llama(seed=1), smol_tokenizer))
    assert torch.equal(logits(HFCheckpointDataset(path=path).load().model, ids), logits(tiny_llama(seed=1), ids))
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]  # no temporary folders left behind


def test_an_explicit_retrain_reason_replaces_a_completed_checkpoint(tiny_llama, smol_tokenizer, ids, tmp_path, caplog):
    path = str(tmp_path / "ckpt")
    HFCheckpointDataset(path=path).save(ModelBundle(tiny_llama(seed=0), smol_tokenizer))
    retrained = ModelBundle(tiny_llama(seed=1), smol_tokenizer, {"overwrite_reason": "training.retrain=true"})
    HFCheckpointDataset(path=path).save(retrained)
    assert torch.equal(logits(HFCheckpointDataset(path=path).load().model, ids), logits(tiny_llama(seed=1), ids))
    assert "Replacing completed checkpoint" in caplog.text and "training.retrain=true" in caplog.text


def test_incomplete_folder_is_not_a_checkpoint(tiny_llama, smol_tokenizer, tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text("{}")  # what a crash mid-save could leave
    dataset = HFCheckpointDataset(path=str(folder))
    assert not dataset.exists()
    with pytest.raises(DatasetError, match="not a completed checkpoint"):
        dataset.load()
    dataset.save(ModelBundle(tiny_llama(), smol_tokenizer))  # replaced without overwrite=True
    assert dataset.exists() and json.loads((folder / COMPLETE_MARKER).read_text())["kind"] == "full"


def test_declared_in_a_catalog(tiny_llama, smol_tokenizer, tmp_path):
    catalog = DataCatalog.from_config(
        {
            "lora.xs.adapter": {
                "type": "rulelens.datasets.HFCheckpointDataset",
                "path": str(tmp_path / "c"),
                "load_args": {"dtype": "float32"},
            }
        }
    )
    catalog.save("lora.xs.adapter", {"model": tiny_llama(), "tokenizer": smol_tokenizer})
    assert catalog.exists("lora.xs.adapter")
    with pytest.raises(DatasetError):
        HFCheckpointDataset(path=str(tmp_path / "c"), load_args={"dtpye": "float32"})


def test_keep_completed_checkpoint_leaves_the_folder_alone(tiny_llama, smol_tokenizer, tmp_path):
    from rulelens.datasets.checkpoint_marker import KeepCompletedCheckpoint

    dataset = HFCheckpointDataset(path=str(tmp_path / "ckpt"))
    with pytest.raises(DatasetError, match="not complete"):
        dataset.save(KeepCompletedCheckpoint({}))
    dataset.save(ModelBundle(tiny_llama(), smol_tokenizer))
    marker = (tmp_path / "ckpt" / COMPLETE_MARKER).read_text()
    dataset.save(KeepCompletedCheckpoint(json.loads(marker)))  # no overwrite error, nothing rewritten
    assert (tmp_path / "ckpt" / COMPLETE_MARKER).read_text() == marker
