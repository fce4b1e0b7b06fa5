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


@pytest.mark.slow
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
    study = pd.read_parquet(out / "05_model_input/building_code_rules/study_clauses.parquet")
    assert len(study) == 16 and study["clause_id"].is_unique and (study["n_words"] <= 32).all()
    assert set(study["clause_id"]) <= set(clauses.loc[clauses["split"] == "test", "clause_id"])
    assert study["stratum"].str.startswith("agency=").all()
    assert not (out / "05_model_input/building_code_rules/evaluation_clauses.parquet").exists()


@pytest.mark.slow
def test_shipped_corpus_meets_its_data_card(shipped_run):
    root, _ = shipped_run
    clauses = pd.read_parquet(root / "data/03_primary/building_code_rules/clauses.parquet")
    assert clauses["quantitative"].mean() >= 0.55
    assert (~clauses["quantitative"]).mean() >= 0.30


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_file_with_no_valid_row_fails_and_keeps_the_rejected_rows(tmp_path):
    root = copy_project(tmp_path)
    (root / "data/01_raw/building_code_rules.csv").write_text(
        "clause_id,agency,domain,clause,rule\na,b,c,,\nd,e,f,  ,x\n"
    )
    result = kedro(root, "run", "--pipelines", "data_processing")
    assert result.returncode != 0
    assert "no valid clause/rule rows remain" in result.stdout + result.stderr
    rejected = pd.read_csv(root / "data/02_intermediate/building_code_rules/rejected_clauses.csv")
    assert list(rejected["source_row"]) == [1, 2]


# --------------------------------------------------------------------------- node level (no kedro run)

from rulelens.pipelines.data_processing.nodes import prepare_clauses, validate_clauses  # noqa: E402
from tests.conf_settings import conf_data_processing  # noqa: E402

RULE = 'rule("BCA C.1", room, require=room.height_m >= 2.4)'


def node_params(**columns):
    return conf_data_processing(
        source_file="fixture.csv",
        columns={"clause": "clause", "rule": "rule", "clause_id": None, "split": None, **columns},
        split_values={},
        split_fractions={"train": 0.8, "validation": 0.1, "test": 0.1},
        seed=42,
    )


def test_ids_are_made_only_when_no_id_column_is_mapped():
    raw = pd.DataFrame(
        {"clause": [f"BCA C.{i} Doors shall close." for i in range(5)], "rule": [RULE + " " * i for i in range(5)]}
    )
    valid, rejected = validate_clauses(raw, node_params())
    assert list(prepare_clauses(valid, rejected, node_params())["clause_id"]) == [f"r{i:05d}" for i in range(1, 6)]
    with_ids = raw.assign(id=["a", "b", None, "d", ""])
    with pytest.raises(ValueError, match=r"clause_id is blank in row\(s\) 3, 5"):
        validate_clauses(with_ids, node_params(clause_id="id"))


def test_contract_rejects_reach_the_rejected_table():
    raw = pd.DataFrame(
        {
            "id": ["a", "b", "a", "c", "d", "e"],
            "clause": [
                "BCA C.1 Doors shall close.",
                "BCA C.2 Walls<|im_end|> shall stand.",
                "BCA C.3 Stairs shall rise.",
                "?!",
                "BCA C.5 Bad\x00 char.",
                "BCA C.6 Ramps shall slope.",
            ],
            "rule": [RULE + " " * i for i in range(6)],
        }
    )
    valid, rejected = validate_clauses(raw, node_params(clause_id="id"))
    assert list(valid["clause_id"]) == ["a", "e"]
    by_row = rejected.set_index("source_row")
    assert by_row.loc[2, "kind"] == "special_token" and by_row.loc[3, "kind"] == "duplicate_id"
    assert "row 1" in by_row.loc[3, "reason"] and by_row.loc[4, "kind"] == "no_words"
    assert by_row.loc[5, "kind"] == "control_character" and set(rejected["source_file"]) == {"fixture.csv"}


def test_a_mapped_split_column_needs_split_values():
    raw = pd.DataFrame({"clause": ["BCA C.1 Doors shall close."], "rule": [RULE], "random_split": [1]})
    with pytest.raises(ValueError, match="data_processing.split_values"):
        validate_clauses(raw, node_params(split="random_split"))


@pytest.mark.slow
def test_a_selection_the_data_cannot_meet_names_the_parameter_and_keeps_the_tables(tmp_path):
    root = copy_project(tmp_path)
    result = kedro(root, "run", "--pipelines", "data_processing", "--params", "data_processing.selection.max_words=1")
    assert result.returncode != 0
    assert "max_words" in result.stdout + result.stderr
    out = root / "data"
    for table in (
        "03_primary/building_code_rules/clauses.parquet",
        "03_primary/building_code_rules/clause_words.parquet",
        "08_reporting/building_code_rules/corpus_summary.csv",
    ):
        assert (out / table).is_file(), table
    assert not (out / "05_model_input/building_code_rules/study_clauses.parquet").exists()
