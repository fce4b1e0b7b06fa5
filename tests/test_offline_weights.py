"""The GGUF tokenizer cache: the cached folder behaves exactly as the tokenizer read from the GGUF."""

from __future__ import annotations

import pandas as pd
import pytest

from rulelens import offline_weights
from tests.project_copy import PROJECT


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(offline_weights.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def _corpus_texts() -> list[str]:
    frames = [pd.read_csv(path) for path in sorted((PROJECT / "data" / "01_raw").glob("*.csv"))]
    texts = []
    for frame in frames:
        for column in ("clause", "rule"):
            if column in frame:
                texts += [str(value) for value in frame[column].dropna()]
    assert len(texts) > 100
    return texts


@pytest.mark.slow
def test_the_cached_tokenizer_equals_the_gguf_one_on_the_corpus(cache_dir, monkeypatch):
    first = offline_weights.load_gguf_tokenizer()  # read from the GGUF, saved to the cache
    folder, name = offline_weights.gguf_location()
    cached = offline_weights.cached_tokenizer_folder(folder / name)
    assert (cached / offline_weights.CACHE_KEY_FILE).is_file()
    second = offline_weights.load_gguf_tokenizer()  # read from the cache folder
    assert str(cached) in str(second.name_or_path)
    monkeypatch.setenv(offline_weights.CACHE_ENV, "off")
    assert offline_weights.cached_tokenizer_folder(folder / name) is None

    texts = _corpus_texts()
    assert first(texts).input_ids == second(texts).input_ids
    ids = first(texts[:50]).input_ids
    assert first.batch_decode(ids) == second.batch_decode(ids)
    messages = [{"role": "user", "content": texts[0]}]
    assert first.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) == (
        second.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    )
    for attribute in ("bos_token_id", "eos_token_id", "pad_token_id", "padding_side", "all_special_ids"):
        assert getattr(first, attribute) == getattr(second, attribute), attribute
    assert len(first) == len(second)


def test_a_changed_gguf_file_gets_a_new_cache_folder(cache_dir, tmp_path):
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"x" * 10)
    before = offline_weights.cached_tokenizer_folder(gguf)
    gguf.write_bytes(b"y" * 11)
    assert offline_weights.cached_tokenizer_folder(gguf) != before
    assert before.parent == cache_dir / "gguf-tokenizers"


@pytest.mark.slow
def test_an_unwritable_cache_is_skipped(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(offline_weights.CACHE_ENV, str(blocker / "cache"))
    tokenizer = offline_weights.load_gguf_tokenizer()  # cannot save under a file: read from the GGUF
    assert len(tokenizer) > 1000
