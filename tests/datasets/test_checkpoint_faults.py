"""Faults around checkpoints: interrupted swaps, saves killed mid-way, truncated weight files.

The kill test uses a real second process (SIGKILL at varying moments of repeated saves), not a
mock: whatever moment it dies, the next reader finds a complete checkpoint or none, never half.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from kedro.io import DatasetError

from rulelens.datasets import HFCheckpointDataset
from rulelens.datasets.checkpoint_folder import COMPLETE_MARKER
from rulelens.datasets.checkpoint_marker import CheckpointMarkerDataset
from rulelens.modeling.bundle import ModelBundle


@pytest.fixture
def saved(tiny_llama, smol_tokenizer, tmp_path):
    """A completed full-model checkpoint folder."""
    dataset = HFCheckpointDataset(path=str(tmp_path / "ckpt"))
    dataset.save(ModelBundle(tiny_llama(), smol_tokenizer, {"strategy": "fft"}))
    return tmp_path / "ckpt"


def test_a_truncated_weight_file_is_named_on_load(saved):
    weights = saved / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match=r"model\.safetensors has \d+ bytes"):
        HFCheckpointDataset(path=str(saved)).load()


def test_a_corrupt_weight_file_of_the_recorded_size_is_named_on_load(saved):
    weights = saved / "model.safetensors"
    size = weights.stat().st_size
    weights.write_bytes(b"\xff" * size)
    with pytest.raises(DatasetError, match=r"model\.safetensors cannot be read"):
        HFCheckpointDataset(path=str(saved)).load()


def test_a_swap_interrupted_between_its_renames_is_recovered(saved, tiny_llama, smol_tokenizer, tmp_path):
    # the state a save leaves when killed after "old aside" and before "new in place"
    new = tmp_path / ".ckpt.tmp-deadbeef"
    HFCheckpointDataset(path=str(new)).save(
        ModelBundle(tiny_llama(seed=5), smol_tokenizer, {"strategy": "fft", "v": 2})
    )
    os.rename(saved, tmp_path / ".ckpt.old-cafe0000")
    assert not saved.exists()
    marker = CheckpointMarkerDataset(path=str(saved)).load()  # what the training node reads first
    assert marker is not None and marker["metadata"]["v"] == 2  # the finished new checkpoint is in place
    assert HFCheckpointDataset(path=str(saved)).exists()
    assert not list(tmp_path.glob(".ckpt.old-*"))  # and the replaced one does not linger hidden


def test_only_the_old_checkpoint_left_is_restored(saved, tmp_path):
    os.rename(saved, tmp_path / ".ckpt.old-cafe0001")
    (tmp_path / ".ckpt.tmp-unfinished").mkdir()  # a save that died before its marker
    dataset = HFCheckpointDataset(path=str(saved))
    assert dataset.exists() and (saved / COMPLETE_MARKER).is_file()
    assert dataset.load().metadata["metadata"] == {"strategy": "fft"}


SAVER = textwrap.dedent("""
    import sys, torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    from rulelens.datasets import HFCheckpointDataset
    from rulelens.modeling.bundle import ModelBundle
    tokenizer = AutoTokenizer.from_pretrained(sys.argv[2])
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
    dataset = HFCheckpointDataset(path=sys.argv[1], overwrite=True)
    print("ready", flush=True)
    for i in range(1000):
        torch.manual_seed(i)
        dataset.save(ModelBundle(LlamaForCausalLM(config), tokenizer, {"save": i}))
""")


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.05, 0.2, 0.45])
def test_a_save_killed_at_any_moment_never_leaves_a_half_checkpoint(smol_tokenizer, tmp_path, delay):
    smol_tokenizer.save_pretrained(tmp_path / "tokenizer")
    target = tmp_path / "ckpt"
    process = subprocess.Popen(
        [sys.executable, "-c", SAVER, str(target), str(tmp_path / "tokenizer")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 60
        while not (target / COMPLETE_MARKER).exists() and time.monotonic() < deadline:
            time.sleep(0.01)  # at least one save finished; now die in the middle of a later one
        time.sleep(delay)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    dataset = HFCheckpointDataset(path=str(target))
    assert dataset.exists()  # a complete checkpoint is in place (recovered if the kill hit the swap)
    bundle = dataset.load()
    assert isinstance(bundle.metadata["metadata"]["save"], int)
    leftovers = [p.name for p in Path(tmp_path).glob(".ckpt.*")]
    HFCheckpointDataset(path=str(target), overwrite=True).save(bundle)  # the next save cleans up after the dead one
    assert not [p for p in Path(tmp_path).glob(".ckpt.tmp-*") if not (p / COMPLETE_MARKER).exists()], leftovers
