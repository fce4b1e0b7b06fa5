"""scripts/compare_runs.py: the no-behaviour-change check finds a changed cell and ignores timings."""

from __future__ import annotations

import importlib.util
import json

import pandas as pd

from tests.project_copy import PROJECT

spec = importlib.util.spec_from_file_location("compare_runs", PROJECT / "scripts" / "compare_runs.py")
compare_runs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare_runs)


def write_run(root, ci_low, seconds, text="rule(a)", peft_order=("q_proj", "v_proj")):
    (root / "08_reporting").mkdir(parents=True)
    pd.DataFrame({"ci_low": [ci_low, 0.5], "seconds": [seconds, 1.0], "text": [text, "b"]}).to_csv(
        root / "08_reporting" / "t.csv", index=False
    )
    pd.DataFrame({"x": [1, 2]}).to_parquet(root / "08_reporting" / "p.parquet")
    record = {"target_modules": list(peft_order), "saved_at": str(seconds), "nested": {"tokens_per_s": seconds}}
    (root / "08_reporting" / "r.json").write_text(json.dumps(record))
    (root / "01_raw").mkdir()
    (root / "01_raw" / f"input_{seconds}.csv").write_text("a\n1\n")


def test_timings_peft_order_inputs_and_the_last_bit_are_not_differences(tmp_path, capsys):
    write_run(tmp_path / "a", 0.10798065803428585, 3.0)
    write_run(tmp_path / "b", 0.10798065803428583, 4.5, peft_order=("v_proj", "q_proj"))
    assert compare_runs.main([str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    assert "3 files equal (2 tables, 1 of them bit-identical; 1 JSON records), 0 differ" in capsys.readouterr().out


def test_a_changed_cell_or_a_missing_table_is_named(tmp_path, capsys):
    write_run(tmp_path / "a", 0.25, 3.0)
    write_run(tmp_path / "b", 0.2500001, 3.0, text="rule(c)")
    (tmp_path / "b" / "08_reporting" / "p.parquet").unlink()
    assert compare_runs.main([str(tmp_path / "a"), str(tmp_path / "b")]) == 1
    out = capsys.readouterr().out
    assert "differs: 08_reporting/t.csv: column 'ci_low' row 0: " in out
    assert "only in before: 08_reporting/p.parquet" in out
