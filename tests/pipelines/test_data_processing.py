"""``kedro run --pipelines data_processing`` on the shipped corpus and, via --env nzbc, on NZBC."""

import pandas as pd
import pytest

from rulelens.words import CATEGORIES
from tests.project_copy import NZBC_CSV, copy_project, kedro


@pytest.fixture(scope="module")
def shipped_run(tmp_path_factory):
    root = copy_project(tmp_path_factory.mktemp("dp"))
    result = kedro(root, "run", "--pipelines", "data_processing")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return root, result


def test_shipped_corpus_produces_every_table(shipped_run):
    root, result = shipped_run
    out = root / "data"
    clauses = pd.read_parquet(out / "03_primary/building_code_rules/clauses.parquet")
    words = pd.read_parquet(out / "03_primary/building_code_rules/clause_words.parquet")
    summary = pd.read_csv(out / "08_reporting/building_code_rules/corpus_summary.csv")
    assert len(clauses) >= 400
    assert set(clauses["split"]) == {"train", "validation", "test"}
    assert clauses["clause_id"].is_unique
    assert set(words["clause_id"]) == set(clauses["clause_id"])
    assert set(words["category"]) <= set(CATEGORIES)
    assert (words.groupby("clause_id")["word_index"].min() == 0).all()
    assert {"rows", "split", "agency", "domain", "kind", "category_share"} <= set(summary["section"])
    assert "rows read" in result.stdout + result.stderr


def test_shipped_corpus_meets_its_data_card(shipped_run):
    root, _ = shipped_run
    clauses = pd.read_parquet(root / "data/03_primary/building_code_rules/clauses.parquet")
    assert clauses["quantitative"].mean() >= 0.55
    assert (~clauses["quantitative"]).mean() >= 0.30


@pytest.mark.skipif(not NZBC_CSV.exists(), reason=f"NZBC dataset not present at {NZBC_CSV} (../shared is absent)")
def test_nzbc_dataset_runs_through_the_nzbc_environment(tmp_path):
    root = copy_project(tmp_path)
    result = kedro(root, "run", "--env", "nzbc", "--pipelines", "data_processing")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    clauses = pd.read_parquet(root / "data/03_primary/nzbc_lrml/clauses.parquet")
    source = pd.read_csv(NZBC_CSV)
    assert len(clauses) == len(source)
    expected = source["random_split"].map({1: "train", 2: "validation", 3: "test"}).value_counts().to_dict()
    assert clauses["split"].value_counts().to_dict() == expected


def test_a_file_with_no_valid_row_fails_and_keeps_the_rejected_rows(tmp_path):
    root = copy_project(tmp_path)
    (root / "data/01_raw/building_code_rules.csv").write_text("clause_id,agency,domain,clause,rule\na,b,c,,\nd,e,f,  ,x\n")
    result = kedro(root, "run", "--pipelines", "data_processing")
    assert result.returncode != 0
    assert "no valid clause/rule rows remain" in result.stdout + result.stderr
    rejected = pd.read_csv(root / "data/02_intermediate/building_code_rules/rejected_clauses.csv")
    assert list(rejected["source_row"]) == [1, 2]
