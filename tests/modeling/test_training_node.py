"""The training node against completed checkpoints: reuse on a matching fingerprint, a clear stop
on a changed one, and a retrain that really starts from the base model in a clean Trainer folder."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from rulelens.datasets import HFCheckpointDataset
from rulelens.datasets.checkpoint_marker import CheckpointMarkerDataset, KeepCompletedCheckpoint
from rulelens.pipelines.training.nodes import CheckpointMismatchError, train_variant
from rulelens.variant_grid import Variant
from tests.conf_settings import conf_memory_plan, conf_prompt, conf_trainer

VARIANT = Variant("fft", "tiny")
ROWS = [
    (
        "A.1.%d The riser of step %d shall not exceed %d mm." % (i, i, 150 + i),
        "rule('A.1.%d', step, require=riser <= %d mm)" % (i, 150 + i),
    )
    for i in range(12)
]


@pytest.fixture
def clauses():
    frame = pd.DataFrame(ROWS, columns=["clause", "rule"])
    frame["clause_id"] = [f"c{i:02d}" for i in range(len(frame))]
    frame["split"] = ["train"] * 8 + ["validation"] * 2 + ["test"] * 2
    return frame


@pytest.fixture
def training(tiny_spec, tmp_path):
    spec = tiny_spec()
    spec.pop("size_name")
    return {
        "retrain": False,
        "keep_mismatched": False,
        "memory_plan": conf_memory_plan(),
        "work_dir": str(tmp_path / "trainer"),
        "sizes": {"tiny": {"base_model": spec}},
        "strategies": {"fft": {"settings": {"seed": 0}, "trainer": {"learning_rate": 1e-3}}},
        "trainer": conf_trainer(
            max_length=128,
            max_steps=4,
            batch_size=2,
            logging_steps=1,
            seed=0,
            save_strategy="steps",
            save_steps=2,
            eval_strategy="no",
            eval_on_start=False,
            early_stopping_patience=None,  # no evaluations: nothing to stop on
            lr_scheduler="linear",
            warmup_steps=0,
            group_by_length=False,
        ),
    }


def run(training, clauses, checkpoint_dir, **overrides):
    """One training node call as Kedro makes it, then the checkpoint dataset's save."""
    params = {**training, **overrides}
    completed = CheckpointMarkerDataset(path=str(checkpoint_dir)).load()
    bundle, metrics, _ = train_variant(
        {"n_params": 1}, clauses, params, conf_prompt(), {"seed": 42}, completed, variant=VARIANT
    )
    HFCheckpointDataset(path=str(checkpoint_dir)).save(bundle)
    return bundle, metrics


def weights(checkpoint_dir):
    model = HFCheckpointDataset(path=str(checkpoint_dir)).load().model
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_matching_fingerprint_reuses_and_a_changed_one_stops_naming_the_field(training, clauses, tmp_path):
    folder = tmp_path / "ckpt"
    _, metrics = run(training, clauses, folder)
    assert metrics["global_step"] == 4 and len(metrics["fingerprint"]) == 64
    assert not (tmp_path / "trainer" / "fft" / "tiny").exists()  # finished training removes its Trainer folder
    bundle, again = run(training, clauses, folder)
    assert isinstance(bundle, KeepCompletedCheckpoint) and again["fingerprint"] == metrics["fingerprint"]

    changed = {**training, "strategies": {"fft": {"settings": {"seed": 0}, "trainer": {"learning_rate": 5e-3}}}}
    with pytest.raises(CheckpointMismatchError) as error:
        run(changed, clauses, folder)
    message = str(error.value)
    assert "fft.tiny" in message and "trainer.learning_rate: 0.001 -> 0.005" in message
    assert "training.retrain=true" in message and "training.keep_mismatched=true" in message
    edited = clauses.copy()
    edited.loc[0, "rule"] = "rule('A.1.0', step, require=riser <= 1 mm)"
    with pytest.raises(CheckpointMismatchError, match="train_rows"):
        run(training, edited, folder)
    kept, _ = run(changed, clauses, folder, keep_mismatched=True)
    assert isinstance(kept, KeepCompletedCheckpoint)


@pytest.mark.slow
def test_retrain_starts_from_the_base_model_in_a_clean_trainer_folder(training, clauses, tmp_path):
    folder = tmp_path / "ckpt"
    run(training, clauses, folder)
    first = weights(folder)
    # an interrupted run of other settings left Trainer checkpoints behind (the old bug resumed from them)
    stale = tmp_path / "stale"
    stale_training = {**training, "work_dir": str(stale), "trainer": {**training["trainer"], "max_steps": 6}}
    run(stale_training, clauses, tmp_path / "other")
    (tmp_path / "trainer" / "fft" / "tiny").mkdir(parents=True)
    resumed_state = tmp_path / "trainer" / "fft" / "tiny" / "checkpoint-6"
    resumed_state.mkdir()
    changed = {
        **training,
        "retrain": True,
        "strategies": {"fft": {"settings": {"seed": 0}, "trainer": {"learning_rate": 5e-3}}},
    }
    _, metrics = run(changed, clauses, folder)
    assert metrics["global_step"] == changed["trainer"]["max_steps"] and metrics["resumed_from"] == ""
    assert not torch.equal(first, weights(folder))
    assert HFCheckpointDataset(path=str(folder)).load().metadata["metadata"]["fingerprint"] == metrics["fingerprint"]
