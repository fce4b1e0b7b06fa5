"""Row validation: each kind of bad row is rejected with its row number, field and reason."""

from pathlib import Path

import pandas as pd
import pytest
import yaml
from kedro_datasets.pandas import CSVDataset

from rulelens.data.validation import (
    DataValidationError,
    ValidationSettings,
    rejection_summary,
    require_valid_rows,
    validate_rows,
)
from tests.conf_settings import conf_data_processing

PROJECT = Path(__file__).resolve().parents[1]
GOOD_RULE = 'rule("BCA C.3.2.1", room, require=room.headroom_m >= 2.0)'


def catalog_load_args():
    """The load arguments users get from conf/base/catalog.yml, so tests read files the same way."""
    catalog = yaml.safe_load((PROJECT / "conf/base/catalog.yml").read_text())
    return catalog["raw_clauses"]["load_args"]


def settings(source="fixture.csv", **overrides):
    params = {
        "source_file": source,
        "columns": {"clause": "clause", "rule": "rule", "clause_id": None, "split": None},
        "max_clause_chars": 120,
    }
    params.update(overrides)
    return ValidationSettings.from_params(conf_data_processing(**params))


@pytest.fixture
def bad_rows_file(tmp_path):
    """A CSV with one valid row and one row of each kind of problem (row numbers in comments)."""
    lines = [
        b"clause,rule",
        b'"BCA C.3.2.1 Headroom shall be 2.0 m.","' + GOOD_RULE.replace('"', '""').encode() + b'"',  # 1 valid
        b',"rule(""X 1.1"", room, require=True)"',  # 2 missing clause
        b'"   ","rule(""X 1.1"", room, require=True)"',  # 3 empty clause
        b'"BCA C.3.2.2 Doors shall close.",',  # 4 missing rule
        b'"BCA C.3.2.3 Bad \xff\xfe bytes here.","rule(""BCA C.3.2.3"", room, require=True)"',  # 5 undecodable
        b'"BCA C.3.2.4 ' + b"very " * 40 + b'long.","rule(""BCA C.3.2.4"", room, require=True)"',  # 6 too long
        b'"BCA C.3.2.1 Headroom shall be 2.0 m.","' + GOOD_RULE.replace('"', '""').encode() + b'"',  # 7 exact dup of 1
        b'"BCA  C.3.2.1 Headroom shall be   2.0 m. ","' + GOOD_RULE.replace('"', '""').encode() + b'"',  # 8 ws dup of 1
        b'"IBC 1011.5 Risers shall be even.","rule(""IBC 1011.5"", stair, require=stair.has_even_risers)"',  # 9 valid
    ]
    path = tmp_path / "fixture.csv"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_each_bad_row_is_rejected_with_row_field_and_reason(bad_rows_file):
    raw = CSVDataset(filepath=str(bad_rows_file), load_args=catalog_load_args()).load()
    valid, rejected = validate_rows(raw, settings(str(bad_rows_file)))

    assert list(valid["source_row"]) == [1, 9]
    by_row = rejected.set_index("source_row")
    assert list(by_row.index) == [2, 3, 4, 5, 6, 7, 8]
    assert by_row.loc[2, "field"] == "clause" and by_row.loc[2, "kind"] == "missing"
    assert by_row.loc[3, "kind"] == "empty"
    assert by_row.loc[4, "field"] == "rule" and by_row.loc[4, "kind"] == "missing"
    assert by_row.loc[5, "kind"] == "undecodable" and "UTF-8" in by_row.loc[5, "reason"]
    assert by_row.loc[6, "kind"] == "too_long" and "120" in by_row.loc[6, "reason"]
    assert by_row.loc[7, "kind"] == "duplicate" and "row 1" in by_row.loc[7, "reason"]
    assert by_row.loc[8, "kind"] == "duplicate_whitespace" and "row 1" in by_row.loc[8, "reason"]
    assert set(rejected["source_file"]) == {str(bad_rows_file)}
    # nothing is lost: the undecodable bytes are kept, escaped, in the rejected row
    assert "\\xff\\xfe" in by_row.loc[5, "clause"]
    assert rejection_summary(rejected)["missing"] == 2


def test_rejected_rows_round_trip_through_csv(bad_rows_file, tmp_path):
    raw = CSVDataset(filepath=str(bad_rows_file), load_args=catalog_load_args()).load()
    _, rejected = validate_rows(raw, settings())
    out = CSVDataset(filepath=str(tmp_path / "rejected.csv"), save_args={"index": False})
    out.save(rejected)
    assert len(out.load()) == len(rejected)


def test_wrong_types_are_rejected():
    raw = pd.DataFrame(
        {"clause": ["BCA C.1 Doors shall close.", 42, ["a list"]], "rule": [GOOD_RULE, GOOD_RULE, GOOD_RULE]}
    )
    valid, rejected = validate_rows(raw, settings())
    assert len(valid) == 1
    assert list(rejected["kind"]) == ["wrong_type", "wrong_type"]
    assert "int" in rejected["reason"].iloc[0]


def test_missing_column_names_the_file_and_column():
    raw = pd.DataFrame({"text": ["x"], "rule": ["y"]})
    with pytest.raises(DataValidationError, match=r"data/mine.csv.*clause \(column 'clause'\)"):
        validate_rows(raw, settings("data/mine.csv"))


def test_unknown_split_values_are_rejected():
    raw = pd.DataFrame(
        {"clause": ["BCA C.1 a.", "BCA C.2 b."], "rule": [GOOD_RULE, GOOD_RULE + " "], "random_split": ["1", "7"]}
    )
    params = {"columns": {"clause": "clause", "rule": "rule", "split": "random_split"}, "split_values": {1: "train"}}
    valid, rejected = validate_rows(raw, settings(**params))
    assert len(valid) == 1
    assert rejected["field"].iloc[0] == "split"


def test_no_valid_rows_fails_clearly():
    with pytest.raises(DataValidationError, match="no valid clause/rule rows remain.*2 rejected"):
        require_valid_rows(pd.DataFrame(), pd.DataFrame({"x": [1, 2]}), "data/01_raw/x.csv")


# --------------------------------------------------------------------------- data contract


@pytest.mark.parametrize(
    "token",
    [
        "<|im_end|>",
        "<|endoftext|>",
        "<s>",
        "</s>",
        "<unk>",
        "<pad>",
        "<mask>",
        "<bos>",
        "<eos>",
        "[INST]",
        "[/INST]",
        "<<SYS>>",
        "<start_of_turn>",
        "<end_of_turn>",
        "[CLS]",
        "[SEP]",
        "[MASK]",
    ],
)
def test_special_token_strings_are_rejected_in_clause_and_rule(token):
    raw = pd.DataFrame(
        {
            "clause": [
                f"BCA C.1 Doors shall close {token} quickly.",
                "BCA C.2 Walls shall stand.",
                "BCA C.3 Stairs < 2 m shall <b>have</b> rails.",
            ],
            "rule": [GOOD_RULE, GOOD_RULE.replace("room,", f"room{token},"), GOOD_RULE + " "],
        }
    )
    valid, rejected = validate_rows(raw, settings())
    assert list(valid["source_row"]) == [3]  # comparison signs and other tags are fine
    assert list(rejected["kind"]) == ["special_token", "special_token"]
    assert list(rejected["field"]) == ["clause", "rule"]
    assert token in rejected["reason"].iloc[0] and list(rejected["source_row"]) == [1, 2]


def test_control_characters_are_rejected_but_tab_and_newline_pass():
    raw = pd.DataFrame(
        {
            "clause": [
                "BCA C.1 Doors\x00 shall close.",
                "BCA C.2 Walls\tshall\nstand.",
                "BCA C.3 Bell\x07 rings.",
                "BCA C.4 ok.",
            ],
            "rule": [GOOD_RULE, GOOD_RULE + " ", GOOD_RULE + "  ", GOOD_RULE + "\x1b"],
        }
    )
    valid, rejected = validate_rows(raw, settings())
    assert list(valid["source_row"]) == [2]
    assert list(rejected["kind"]) == ["control_character"] * 3
    assert list(rejected["field"]) == ["clause", "clause", "rule"]
    assert "U+0000" in rejected["reason"].iloc[0] and "U+0007" in rejected["reason"].iloc[1]


def test_clauses_without_words_are_rejected():
    raw = pd.DataFrame(
        {
            "clause": ["...", "-- ; !", "BCA C.1 Doors shall close."],
            "rule": [GOOD_RULE, GOOD_RULE + " ", GOOD_RULE + "  "],
        }
    )
    valid, rejected = validate_rows(raw, settings())
    assert list(valid["source_row"]) == [3]
    assert list(rejected["kind"]) == ["no_words", "no_words"] and set(rejected["field"]) == {"clause"}


def id_settings(**overrides):
    return settings(columns={"clause": "clause", "rule": "rule", "clause_id": "clause_id", "split": None}, **overrides)


def test_duplicate_clause_ids_name_the_first_row():
    raw = pd.DataFrame(
        {
            "clause_id": ["a", "b", "a", "a"],
            "clause": ["BCA C.1 one.", "BCA C.2 two.", "BCA C.3 three.", "BCA C.4 four."],
            "rule": [GOOD_RULE, GOOD_RULE + " ", GOOD_RULE + "  ", GOOD_RULE + "   "],
        }
    )
    valid, rejected = validate_rows(raw, id_settings())
    assert list(valid["clause_id"]) == ["a", "b"]
    assert list(rejected["source_row"]) == [3, 4]
    assert set(rejected["kind"]) == {"duplicate_id"} and set(rejected["field"]) == {"clause_id"}
    assert all("first used by row 1" in reason for reason in rejected["reason"])


def test_partly_blank_ids_are_an_error_naming_the_rows():
    raw = pd.DataFrame({"clause_id": ["a", None, "c", "  "], "clause": ["BCA C.1 one."] * 4, "rule": [GOOD_RULE] * 4})
    with pytest.raises(ValueError, match=r"clause_id is blank in row\(s\) 2, 4"):
        validate_rows(raw, id_settings())


def test_numeric_ids_become_text_and_an_all_blank_id_column_counts_as_absent():
    raw = pd.DataFrame(
        {"clause_id": [7.0, 8.0], "clause": ["BCA C.1 one.", "BCA C.2 two."], "rule": [GOOD_RULE, GOOD_RULE + " "]}
    )
    valid, _ = validate_rows(raw, id_settings())
    assert list(valid["clause_id"]) == ["7", "8"]
    valid, _ = validate_rows(raw.assign(clause_id=[None, None]), id_settings())
    assert "clause_id" not in valid


def test_a_split_column_without_split_values_is_a_configuration_error():
    params = {"columns": {"clause": "clause", "rule": "rule", "split": "random_split"}, "split_values": {}}
    with pytest.raises(DataValidationError, match=r"data_processing.split_values"):
        settings(**params)


def test_a_missing_validation_key_is_named_with_its_conf_file():
    params = conf_data_processing(source_file="fixture.csv")
    del params["max_rule_chars"]
    with pytest.raises(
        ValueError, match=r"missing key\(s\) data_processing\.max_rule_chars\b.*conf/base/parameters_data_processing"
    ):
        ValidationSettings.from_params(params)
