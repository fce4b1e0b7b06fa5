"""Fixtures for modeling tests: tiny base-model specs (random Llama, SmolLM2 tokenizer) and a toy corpus.

Hidden sizes are multiples of 64 because bitsandbytes' CPU inference path repacks 4-bit weights
in blocks of 64 input features (QLoRA evaluation fails on smaller matrices).
"""

from __future__ import annotations

import pytest

TINY_CONFIG = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=512,
    tie_word_embeddings=True,
)


@pytest.fixture(scope="session")
def tokenizer_folder(smol_tokenizer, tmp_path_factory):
    """SmolLM2's tokenizer saved as a plain folder, so tiny specs load it without the GGUF file."""
    folder = tmp_path_factory.mktemp("tokenizer")
    smol_tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture
def tiny_spec(tokenizer_folder, tmp_path):
    """Factory for a tiny ``source: tiny`` spec dict cached under this test's tmp folder."""

    def make(size_name: str = "tiny", **overrides):
        config = {**TINY_CONFIG, **overrides.pop("config", {})}
        return {
            "size_name": size_name,
            "source": "tiny",
            "config": config,
            "tokenizer": tokenizer_folder,
            "cache_dir": str(tmp_path / "base"),
            **overrides,
        }

    return make


@pytest.fixture
def toy_frame():
    """Invented clause/rule pairs (not from any corpus) in the training frame format."""
    import pandas as pd

    rows = [
        ("A.1.1 The headroom of every room shall not be less than 2.1 m.", "rule(A.1.1, room, require=headroom>=2.1m)"),
        ("A.1.2 Every stair shall have a handrail on one side.", "rule(A.1.2, stair, require=has(handrail))"),
        ("A.1.3 The riser of a step shall not exceed 190 mm.", "rule(A.1.3, step, require=riser<=190mm)"),
        ("A.1.4 Every exit door shall open outwards.", "rule(A.1.4, exit_door, require=opens_outwards)"),
    ]
    return pd.DataFrame(rows, columns=["clause", "rule"])


@pytest.fixture
def train_checkpoint_bundle():
    """Train one strategy on a spec with the parts the training node uses (``prepare_for_strategy``,
    ``train_sft``) and wrap the result as the checkpoint dataset receives it: (ModelBundle, SFTResult)."""

    def train(spec, strategy, strategy_settings, trainer, train_frame, validation_frame, work_dir):
        from rulelens.modeling.bundle import ModelBundle
        from rulelens.modeling.sft import train_sft
        from rulelens.modeling.strategies import prepare_for_strategy

        prepared = prepare_for_strategy(spec, strategy, strategy_settings)
        result = train_sft(prepared, train_frame, validation_frame, trainer, work_dir)
        metadata = {"strategy": strategy, "size_name": spec["size_name"], "trainer_params": dict(trainer)}
        return ModelBundle(result.model, prepared.tokenizer, metadata), result

    return train
