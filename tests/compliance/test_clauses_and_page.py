"""Where the checked clauses come from (with clear errors and rejected rows kept) and the page's content."""

import pandas as pd
import pytest
import yaml

from rulelens.compliance.clauses import compliance_clauses
from rulelens.compliance.settings import ComplianceSettings, ifc_stem, variant_folder
from rulelens.data.validation import DataValidationError
from rulelens.param_blocks import ParameterError
from tests.project_copy import PROJECT

DATA_PROCESSING = yaml.safe_load((PROJECT / "conf/base/parameters_data_processing.yml").read_text())["data_processing"]
DEFAULTS = yaml.safe_load((PROJECT / "conf/base/parameters_compliance.yml").read_text())["compliance"]


def settings(**changes):
    return ComplianceSettings.from_params({**DEFAULTS, "ifc_file": "house.ifc", "variant": "lora.m", **changes})


def test_settings_refuse_a_missing_model_a_bad_variant_and_an_unknown_key():
    with pytest.raises(ParameterError, match="compliance.ifc_file is not set"):
        settings(ifc_file="")
    with pytest.raises(ParameterError, match="<strategy>.<size>"):
        settings(variant="lora")
    with pytest.raises(ParameterError, match="unknown key compliance.varient"):
        ComplianceSettings.from_params({**DEFAULTS, "ifc_file": "x.ifc", "variant": "lora.m", "varient": "x"})
    assert variant_folder("qlora.s") == "qlora/s" and ifc_stem("/a/b/My House.ifc") == "My_House"
    assert ifc_stem("") == "no_model"


def test_clause_text_from_the_command_line_wins():
    clauses, rejected = compliance_clauses(settings(clause_text=["Risers: at most 190 mm."]), None, DATA_PROCESSING)
    assert list(clauses["clause_id"]) == ["cli-1"] and clauses["rule"].tolist() == [""] and rejected.empty
    with pytest.raises(DataValidationError, match="clause 1 is empty"):
        compliance_clauses(settings(clause_text=["  "]), None, DATA_PROCESSING)


def test_study_clauses_must_exist():
    with pytest.raises(DataValidationError, match="run `kedro run --pipelines data_processing` first"):
        compliance_clauses(settings(), None, DATA_PROCESSING)
    study = pd.DataFrame({"clause_id": [7], "clause": ["A clause."], "rule": ["rule(...)"], "split": ["test"]})
    clauses, _ = compliance_clauses(settings(), study, DATA_PROCESSING)
    assert clauses.to_dict(orient="records") == [{"clause_id": "7", "clause": "A clause.", "rule": "rule(...)"}]


def test_a_clause_csv_is_validated_and_its_bad_rows_are_kept_with_row_and_field(tmp_path):
    path = tmp_path / "clauses.csv"
    pd.DataFrame(
        {"clause_id": ["a", "b", "c"], "clause": ["Doors: 760 mm wide.", "", "Risers: 190 mm."], "agency": "x"}
    ).to_csv(path, index=False)
    clauses, rejected = compliance_clauses(settings(clauses=str(path)), None, DATA_PROCESSING)
    assert list(clauses["clause_id"]) == ["a", "c"] and set(clauses["rule"]) == {""}
    assert rejected[["source_file", "source_row", "field"]].to_dict(orient="records") == [
        {"source_file": str(path), "source_row": 2, "field": "clause"}
    ]
    with pytest.raises(DataValidationError, match="clause file not found"):
        compliance_clauses(settings(clauses=str(tmp_path / "none.csv")), None, DATA_PROCESSING)


def test_the_page_groups_by_clause_with_heatmap_rule_counts_failures_and_disagreements(tmp_path):
    from rulelens.attribution.result import ClauseAttribution, render_variants_fragment
    from rulelens.compliance.ifc_mapping import IfcMapping
    from rulelens.compliance.ifc_model import read_building_model
    from rulelens.compliance.page import render_compliance_page
    from rulelens.words import split_words
    from tests.compliance.ifc_builders import build_small_house

    from .test_check import verdicts

    mapping = IfcMapping.from_params(
        yaml.safe_load((PROJECT / "conf/base/parameters_ifc_mapping.yml").read_text())["ifc_mapping"]
    )
    model = read_building_model(build_small_house(tmp_path), mapping)
    clause = "Every door shall be at least 760 mm wide."
    variant_rule = 'rule("w", door, require=door.width_mm >= 650)'  # too lenient: D2 passes it
    reference_rule = 'rule("w", door, require=door.width_mm >= 760)'
    variant_rows, variant_status = verdicts(model, {"w": variant_rule}, source="variant")
    reference_rows, reference_status = verdicts(model, {"w": reference_rule}, source="reference")
    checks = pd.concat([variant_rows, reference_rows], ignore_index=True)
    statuses = pd.concat([variant_status, reference_status], ignore_index=True)
    words = tuple(split_words(clause))
    heatmap = render_variants_fragment(
        {
            "lora.m": ClauseAttribution(
                clause, words, tuple(0.1 * i for i in range(len(words))), -3.0, "delete", "variant rule", variant_rule
            )
        }
    )
    rules = pd.DataFrame(
        [
            {
                "clause_id": "w",
                "clause": clause,
                "reference_rule": reference_rule,
                "generated_rule": variant_rule,
                "valid": True,
                "stop_reason": "eos",
                "reused": False,
            }
        ]
    )
    info = {
        "file_name": "house.ifc",
        "schema": "IFC4",
        "sha256": "ab" * 32,
        "length_unit": "millimetre",
        "n_elements": len(model.elements),
    }
    page = render_compliance_page(info, rules, checks, statuses, {"w": heatmap}, "lora.m")
    assert "Clause w" in page and 'class="w"' in page  # the heatmap's word spans
    assert "door.width_mm &gt;= 650" in page and "door.width_mm &gt;= 760" in page
    assert "disagree (1)" in page and "pass vs fail" in page  # D2: the variant passes what the reference fails
    assert "missing on 1 element(s)" in page  # D3 has no width
    empty = render_compliance_page(
        {**info, "n_elements": 0}, rules.iloc[:0], checks.iloc[:0], statuses.iloc[:0], {}, "lora.m"
    )
    assert "No element of this model is mapped" in empty
