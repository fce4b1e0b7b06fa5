"""Shared fixtures: the real SmolLM2 tokenizer (loaded once) and tiny random models built from a config."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Under pytest-xdist (CI runs `pytest -n 2`) the workers share the machine's cores: each worker,
# and the kedro runs it starts, gets its share of threads instead of every process spinning up one
# thread per core (oversubscribed BLAS threads make every worker slower than running alone).
if os.environ.get("PYTEST_XDIST_WORKER"):
    _workers = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    _threads = str(max(1, (os.cpu_count() or 1) // _workers))
    for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(_name, _threads)


@pytest.fixture(scope="session")
def smol_tokenizer(tmp_path_factory):
    """SmolLM2's real tokenizer and chat template, read from the packaged GGUF once per session."""
    from transformers import AutoTokenizer

    from rulelens.offline_weights import load_gguf_tokenizer

    folder = tmp_path_factory.mktemp("smol_tokenizer")
    load_gguf_tokenizer().save_pretrained(folder)
    return AutoTokenizer.from_pretrained(folder)


@pytest.fixture
def tiny_llama(smol_tokenizer):
    """Factory for a tiny random Llama (SmolLM2's architecture and vocabulary), seeded."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    def build(seed: int = 0, **overrides):
        torch.manual_seed(seed)
        settings = dict(
            vocab_size=len(smol_tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=512,
            tie_word_embeddings=True,
            bos_token_id=smol_tokenizer.bos_token_id,
            eos_token_id=smol_tokenizer.eos_token_id,
            pad_token_id=smol_tokenizer.pad_token_id,
        )
        settings.update(overrides)
        return LlamaForCausalLM(LlamaConfig(**settings)).eval()

    return build
