"""Rules run on the elements of test models built in code: the planted violations are found.

The unit of every check is one element x one rule; the models are tests/compliance/ifc_builders.py's
small house (IFC4 in millimetres, the same house in IFC2X3) and a model with wrongly typed properties.
"""

import json

import pandas as pd
import pytest
import yaml

from rulelens.compliance.check import check_rules, missing_counts
from rulelens.compliance.ifc_mapping import IfcMapping
from rulelens.compliance.ifc_model import read_building_model
from tests.compliance.ifc_builders import PLANTED, build_small_house, build_wrong_type_model
from tests.project_copy import PROJECT

RULES = {
    "door-width": 'rule("door-width", door, require=door.width_mm >= 760)',
    "riser": 'rule("riser", flight, require=flight.riser_height_mm <= 190)',
    "headroom": 'rule("headroom", room, require=room.ceiling_height_m >= 2.3)',
    "handrail": 'rule("handrail", handrail, require=handrail.height_mm >= 1000)',
    "ramp": 'rule("ramp", ramp, require=ramp.gradient_ratio <= 0.084)',
    "fire-door": 'rule("fire-door", door, when=door.is_external, require=door.fire_resistance_min >= 60)',
}


@pytest.fixture(scope="module")
def mapping():
    params = yaml.safe_load((PROJECT / "conf/base/parameters_ifc_mapping.yml").read_text())
    return IfcMapping.from_params(params["ifc_mapping"])


@pytest.fixture(scope="module")
def houses(tmp_path_factory, mapping):
    folder = tmp_path_factory.mktemp("houses")
    return {
        schema: read_building_model(build_small_house(folder / schema, schema=schema), mapping)
        for schema in ("IFC4", "IFC2X3")
    }


def verdicts(model, rules=RULES, source="reference"):
    rows, statuses = check_rules([(cid, source, text) for cid, text in rules.items()], model)
    return pd.DataFrame(rows), pd.DataFrame(statuses)


def by_name(rows, clause_id):
    return dict(
        zip(rows.loc[rows["clause_id"] == clause_id, "name"], rows.loc[rows["clause_id"] == clause_id, "verdict"])
    )


@pytest.mark.parametrize("schema", ["IFC4", "IFC2X3"])
def test_the_planted_violations_fail_and_the_others_pass(houses, schema):
    rows, _ = verdicts(houses[schema])
    assert by_name(rows, "door-width") == {"D1": "pass", "D2": "fail", "D3": "unknown"}
    assert by_name(rows, "riser") == {"F1": "pass", "F2": "fail"}
    assert by_name(rows, "headroom") == {"Living": "pass", "Store": "fail"}
    assert by_name(rows, "handrail") == {"H1": "fail"}
    ramps = by_name(rows, "ramp")
    assert ramps["RF1"] == "pass" and ramps["RF2"] == "fail"
    failing = set(rows.loc[rows["verdict"] == "fail", "name"])
    assert failing == set(PLANTED)


def test_a_condition_decides_applicability_and_a_missing_fact_is_unknown(houses):
    rows, _ = verdicts(houses["IFC4"], {"fire-door": RULES["fire-door"]})
    assert by_name(rows, "fire-door") == {"D1": "pass", "D2": "not_applicable", "D3": "unknown"}
    d3 = rows[rows["name"] == "D3"].iloc[0]
    assert json.loads(d3["missing"]) == ["door.is_external", "door.fire_resistance_min"]


def test_rows_say_where_the_element_is_and_which_values_were_used(houses):
    rows, _ = verdicts(houses["IFC4"], {"door-width": RULES["door-width"]})
    d2 = rows[rows["name"] == "D2"].iloc[0]
    assert d2["ifc_class"] == "IfcDoor" and d2["storey"] and len(d2["global_id"]) == 22
    assert json.loads(d2["values"]) == {"door.width_mm": 700.0}  # the rule's unit, from the file's millimetres
    assert missing_counts(rows.to_dict(orient="records")) == {"door.width_mm": 1}


def test_an_unparsable_rule_is_marked_and_the_others_are_still_checked(houses):
    rules = {"broken": "rule(door, require=", "absent": 'rule("x", lift, require=lift.car_width_mm >= 1100)', **RULES}
    rows, statuses = verdicts(houses["IFC4"], rules, source="variant")
    status = statuses.set_index("clause_id")["status"]
    assert status["broken"].startswith("unparsable")
    assert status["absent"].startswith("no elements")
    assert (status.drop(["broken", "absent"]) == "checked").all()
    assert set(rows["clause_id"]) == set(RULES)


def test_a_property_of_the_wrong_type_is_unknown_and_named(tmp_path, mapping):
    model = read_building_model(build_wrong_type_model(tmp_path), mapping)
    rows, _ = verdicts(model, {"fire": 'rule("fire", door, require=door.fire_resistance_min >= 30)'})
    assert set(rows["verdict"]) == {"unknown"}
    problems = json.loads(rows.iloc[0]["problems"])
    assert "FireRating" in problems["fire_resistance"] and "sixty" in problems["fire_resistance"]
