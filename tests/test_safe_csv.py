"""CSV outputs never hand a spreadsheet a formula (OWASP CSV injection), and read back unchanged."""

from __future__ import annotations

import pandas as pd

from rulelens.datasets.safe_csv import SafeCSVDataset, escape_cell


def test_formula_like_cells_are_escaped_on_disk_and_restored_on_load(tmp_path):
    frame = pd.DataFrame(
        {
            "clause": ['=HYPERLINK("http://x","click")', "+1+2", "-2 is cold", "@SUM(A1)", "'quoted", "plain"],
            "score": [-1.5, 2.0, -3.0, 0.0, 1.0, 2.0],
        }
    )
    dataset = SafeCSVDataset(filepath=str(tmp_path / "out.csv"), save_args={"index": False})
    dataset.save(frame)
    raw = pd.read_csv(tmp_path / "out.csv", dtype=str)
    assert not raw["clause"].str.match(r"^[=+\-@]").any()  # nothing a spreadsheet would evaluate
    assert raw["clause"].iloc[0].startswith("'=")
    assert raw["score"].iloc[0] == "-1.5"  # numbers stay numbers
    pd.testing.assert_frame_equal(dataset.load(), frame)


def test_escape_is_reversible_for_text_that_starts_with_an_apostrophe():
    assert escape_cell("'=x") == "''=x" and escape_cell("ok") == "ok" and escape_cell(3) == 3


def test_the_catalog_writes_every_csv_output_safely():
    import yaml

    from tests.project_copy import PROJECT

    catalog = yaml.safe_load((PROJECT / "conf/base/catalog.yml").read_text())
    plain = [n for n, entry in catalog.items() if isinstance(entry, dict) and entry.get("type") == "pandas.CSVDataset"]
    assert plain == ["raw_clauses"]  # only the user's own input file is read as it is
