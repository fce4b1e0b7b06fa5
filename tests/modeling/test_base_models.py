"""Base-model specs: depth pruning, the once-only cache, parameter counts."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from rulelens.modeling.base_models import (
    PROVENANCE_FILE,
    BaseModelSpec,
    base_parameter_count,
    build_base_model,
    count_parameters,
    evenly_spaced_layers,
    load_base_model,
    materialize_base_model,
    prune_layers,
    select_layers,
)


@pytest.mark.parametrize(
    ("total", "keep", "expected"),
    [
        (30, 8, [0, 4, 8, 12, 17, 21, 25, 29]),
        (30, 2, [0, 29]),
        (5, 5, [0, 1, 2, 3, 4]),
        (4, 1, [0]),
        (6, 3, [0, 2, 5]),
    ],
)
def test_evenly_spaced_layers_keep_first_and_last(total, keep, expected):
    assert evenly_spaced_layers(total, keep) == expected


@pytest.mark.parametrize(
    ("keep", "selection", "expected"),
    [
        (8, "ends", [0, 1, 2, 3, 26, 27, 28, 29]),
        (3, "ends", [0, 1, 29]),
        ([5, 0, 5, 29], "even", [0, 5, 29]),
    ],
)
def test_select_layers_by_ends_or_explicit_list(keep, selection, expected):
    assert select_layers(30, keep, selection) == expected


def test_evenly_spaced_layers_rejects_impossible_counts():
    with pytest.raises(ValueError):
        evenly_spaced_layers(4, 5)


def test_spec_rejects_unknown_keys_and_bad_sources():
    with pytest.raises(ValueError, match="unknown"):
        BaseModelSpec.from_params({"size_name": "xs", "keep_layer": 8})
    with pytest.raises(ValueError, match="source"):
        BaseModelSpec.from_params({"size_name": "xs", "source": "ollama"})
    with pytest.raises(ValueError, match="name_or_path"):
        BaseModelSpec.from_params({"size_name": "xs", "source": "hf"})


def test_prune_keeps_requested_layers_and_model_still_generates(tiny_llama, smol_tokenizer):
    model = tiny_llama(num_hidden_layers=6)
    original = [layer.mlp.up_proj.weight.clone() for layer in model.model.layers]
    kept = prune_layers(model, 3)
    assert kept == [0, 2, 5]
    assert model.config.num_hidden_layers == 3 and len(model.model.layers) == 3
    assert [layer.self_attn.layer_idx for layer in model.model.layers] == [0, 1, 2]
    for new, old in enumerate(kept):
        assert torch.equal(model.model.layers[new].mlp.up_proj.weight, original[old])
    ids = torch.tensor([smol_tokenizer("Every stair shall have a handrail.")["input_ids"]])
    out = model.generate(ids, max_new_tokens=4, do_sample=False, use_cache=True)
    assert out.shape[1] == ids.shape[1] + 4
    with torch.no_grad():  # cached decoding agrees with a full forward pass
        full = model(out).logits[0, -1]
        prefix = model(out[:, :-1], use_cache=True)
        cache = getattr(prefix, "cache", None) or prefix.past_key_values
        step = model(out[:, -1:], cache=cache).logits[0, -1]
    assert torch.allclose(full, step, atol=1e-5)


def test_cache_converts_once_then_hits(tiny_spec, caplog):
    spec = BaseModelSpec.from_params(tiny_spec("xs", keep_layers=2, config={"num_hidden_layers": 4}))
    with caplog.at_level(logging.INFO, logger="rulelens.modeling.base_models"):
        folder = materialize_base_model(spec)
        again = materialize_base_model(spec)
    assert folder == again
    messages = [r.getMessage() for r in caplog.records]
    assert sum("converting" in m for m in messages) == 1 and sum("cache hit" in m for m in messages) == 1
    files = {p.name for p in (spec.cache_folder).iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", PROVENANCE_FILE} <= files
    provenance = json.loads((spec.cache_folder / PROVENANCE_FILE).read_text())
    assert provenance["kept_layers"] == [0, 3] and provenance["source_layers"] == 4

    model, tokenizer = load_base_model(spec)
    built, _ = build_base_model(spec)  # same seed, same pruning: same weights as the cache
    assert model.config.num_hidden_layers == 2
    assert provenance["parameter_count"] == count_parameters(model) == base_parameter_count(spec)
    ids = torch.tensor([tokenizer("The riser shall not exceed 190 mm.")["input_ids"]])
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, built(ids).logits, atol=1e-6)


def test_cache_refuses_a_different_spec_under_the_same_name(tiny_spec):
    materialize_base_model(tiny_spec("xs", seed=0))
    with pytest.raises(ValueError, match="different spec"):
        materialize_base_model(tiny_spec("xs", seed=1))


def test_tied_embeddings_count_once(tiny_llama):
    model = tiny_llama()
    by_hand = sum(p.numel() for name, p in model.named_parameters() if name != "lm_head.weight")
    assert count_parameters(model) == by_hand


@pytest.mark.slow
def test_real_smollm2_pruned_rung(tmp_path):
    """The offline default: de-quantise the packaged GGUF, keep 2 of 30 layers, cache, reload."""
    spec = BaseModelSpec(size_name="xxs", keep_layers=2, cache_dir=str(tmp_path))
    model, tokenizer = load_base_model(spec)
    provenance = json.loads((spec.cache_folder / PROVENANCE_FILE).read_text())
    assert provenance["kept_layers"] == [0, 29] and model.config.num_hidden_layers == 2
    assert provenance["parameter_count"] == count_parameters(model)
    assert 30_000_000 < provenance["parameter_count"] < 40_000_000  # embeddings (28.3M) + 2 layers
    ids = tokenizer("Every stair shall have a handrail.", return_tensors="pt")
    assert model.generate(**ids, max_new_tokens=3, do_sample=False).shape[1] == ids["input_ids"].shape[1] + 3
