"""The stage store: units kept per record; a changed record empties it and says which field changed."""

from __future__ import annotations

import pandas as pd
import pytest

from rulelens.stage_store import StageStore, checkpoint_identity, stage_record

CLAUSES = pd.DataFrame({"clause_id": ["a", "b"], "clause": ["x", "y"], "rule": ["r1", "r2"]})


def _record(**settings):
    return stage_record("attribution", model={"fingerprint": "f1"}, clauses=CLAUSES, settings=settings)


def test_units_survive_a_reopen_with_the_same_record(tmp_path):
    store = StageStore(tmp_path / "s").open(_record(n=1))
    store.put("clause:a", {"scores": [1.0, 2.0]})
    again = StageStore(tmp_path / "s").open(_record(n=1))
    assert again.get("clause:a") == {"scores": [1.0, 2.0]} and again.reused == 1
    assert again.get("clause:b") is None and again.outputs() is None
    assert again.finish(("table", 3)) == ("table", 3)
    assert StageStore(tmp_path / "s").open(_record(n=1)).outputs() == ("table", 3)


def test_a_changed_setting_or_clause_row_empties_the_store_and_names_the_change(tmp_path, caplog):
    StageStore(tmp_path / "s").open(_record(n=1)).put("clause:a", 1)
    with caplog.at_level("INFO", logger="rulelens.stage_store"):
        store = StageStore(tmp_path / "s", "fft.m attribution").open(_record(n=2))
    assert store.get("clause:a") is None
    assert "fft.m attribution: inputs changed" in caplog.text and "settings.n: 1 -> 2" in caplog.text
    store.put("clause:a", 1)
    changed = CLAUSES.assign(rule=["r1", "r2 changed"])
    record = stage_record("attribution", model={"fingerprint": "f1"}, clauses=changed, settings={"n": 2})
    assert StageStore(tmp_path / "s").open(record).get("clause:a") is None


def test_recompute_empties_a_matching_store(tmp_path):
    StageStore(tmp_path / "s").open(_record(n=1)).finish("done")
    assert StageStore(tmp_path / "s").open(_record(n=1), recompute=True).outputs() is None


def test_a_store_must_be_opened_before_use(tmp_path):
    with pytest.raises(RuntimeError, match="open the store"):
        StageStore(tmp_path / "s").get("x")


def test_checkpoint_identity_changes_with_a_retrain():
    first = {
        "saved_at": "2026-12-06T10:00:00+00:00",
        "weight_files": {"a.safetensors": 10},
        "metadata": {"fingerprint": "f"},
    }
    second = {**first, "saved_at": "2026-12-06T11:00:00+00:00"}
    assert checkpoint_identity(first)["fingerprint"] == "f"
    assert checkpoint_identity(first) != checkpoint_identity(second)


def test_a_partial_unit_of_a_killed_write_is_not_counted_and_is_removed(tmp_path):
    store = StageStore(tmp_path / "s").open(_record(n=1))
    store.put("clause:a", 1)
    partial = tmp_path / "s" / "units" / ".partial-0000-abc.pkl"
    partial.write_bytes(b"half a pick")
    assert store.keys_done() == 1
    reopened = StageStore(tmp_path / "s").open(_record(n=1))
    assert not partial.exists() and reopened.keys_done() == 1 and reopened.get("clause:a") == 1
