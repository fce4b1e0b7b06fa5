"""Checkpoint fingerprints and the Trainer folder: what a rerun may reuse or resume."""

from __future__ import annotations

import pandas as pd

from rulelens.modeling.fingerprint import changed_fields, digest, rows_hash, training_inputs
from rulelens.modeling.workdir import FINGERPRINT_FILE, prepare_work_dir, remove_work_dir, work_dir_fingerprint

CLAUSES = pd.DataFrame(
    {
        "clause_id": ["a", "b", "c", "d"],
        "clause": ["A 1.", "B 2.", "C 3.", "D 4."],
        "rule": ["ra", "rb", "rc", "rd"],
        "split": ["train", "train", "validation", "test"],
    }
)


def inputs(clauses=CLAUSES, lr=1e-4, seed=42, libraries=None):
    return training_inputs(
        clauses,
        split_seed=seed,
        prompt={"system": "s"},
        trainer={"learning_rate": lr},
        strategy="lora",
        strategy_settings={"r": 4},
        base_model={"source": "tiny", "cache_dir": "x"},
        libraries=libraries or {"torch": "2.13.0"},
    )


def test_row_hash_ignores_row_order_but_not_content():
    assert rows_hash(CLAUSES) == rows_hash(CLAUSES.iloc[::-1])
    edited = CLAUSES.copy()
    edited.loc[0, "rule"] = "changed"
    assert rows_hash(edited) != rows_hash(CLAUSES)


def test_same_inputs_same_fingerprint_and_the_cache_folder_does_not_count():
    assert digest(inputs()) == digest(inputs())
    moved = training_inputs(
        CLAUSES,
        split_seed=42,
        prompt={"system": "s"},
        trainer={"learning_rate": 1e-4},
        strategy="lora",
        strategy_settings={"r": 4},
        base_model={"source": "tiny", "cache_dir": "elsewhere"},
        libraries={"torch": "2.13.0"},
    )
    assert digest(moved) == digest(inputs())


def test_changed_fields_name_each_difference():
    test_only = CLAUSES.copy()
    test_only.loc[3, "rule"] = "a test rule edit"  # the test split does not train the model
    assert changed_fields(inputs(), inputs(test_only)) == []
    edited = CLAUSES.copy()
    edited.loc[0, "clause"] = "A 1 edited."
    changes = changed_fields(inputs(), inputs(edited, lr=2e-4, libraries={"torch": "2.14.0"}))
    assert "trainer.learning_rate: 0.0001 -> 0.0002" in changes
    assert "train_rows: the train split's rows changed" in changes
    assert 'libraries.torch: "2.13.0" -> "2.14.0"' in changes
    assert len(changes) == 3
    assert "predates fingerprints" in changed_fields(None, inputs())[0]


def test_work_dir_is_resumable_only_by_the_same_fingerprint(tmp_path):
    work = tmp_path / "trainer" / "lora" / "s"
    assert prepare_work_dir(work, "f1") is False  # nothing to resume
    (work / "checkpoint-2").mkdir()
    assert prepare_work_dir(work, "f1") is True and (work / "checkpoint-2").is_dir()  # same inputs: resume
    assert prepare_work_dir(work, "f2") is False and not (work / "checkpoint-2").exists()  # other inputs: wiped
    assert work_dir_fingerprint(work) == "f2"
    (work / "checkpoint-4").mkdir()
    assert prepare_work_dir(work, "f2", fresh=True) is False and not (work / "checkpoint-4").exists()  # retrain
    remove_work_dir(work)
    assert not work.exists()


def test_a_foreign_folder_is_never_removed(tmp_path):
    (tmp_path / "mine").mkdir()
    remove_work_dir(tmp_path / "mine")  # no fingerprint file: not a Trainer folder of ours
    assert (tmp_path / "mine").is_dir() and not (tmp_path / "mine" / FINGERPRINT_FILE).exists()


def test_resume_skips_a_trainer_checkpoint_cut_short_while_saving(tmp_path):
    from rulelens.modeling.sft import TRAINER_STATE, last_checkpoint

    for step in (4, 8):
        (tmp_path / f"checkpoint-{step}").mkdir()
    (tmp_path / "checkpoint-4" / TRAINER_STATE).write_text("{}")
    (tmp_path / "checkpoint-12").mkdir()  # killed before its state file was written
    assert last_checkpoint(tmp_path) == str(tmp_path / "checkpoint-4")
    assert not (tmp_path / "checkpoint-12").exists() and not (tmp_path / "checkpoint-8").exists()
    assert last_checkpoint(tmp_path / "absent") is None
