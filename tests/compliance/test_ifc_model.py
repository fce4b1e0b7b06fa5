"""Reading IFC models into the interpreter's facts: SI values from the file's own units, the same facts from
IFC2X3 and IFC4, storeys, entities by predefined type, named problems, clear errors, and a strict mapping."""

from __future__ import annotations

import copy
import hashlib
import math
import time
from pathlib import Path

import pytest
import yaml

from rulelens.compliance.ifc_mapping import IfcMapping
from rulelens.compliance.ifc_model import BuildingModel, Element, IfcModelError, read_building_model
from rulelens.data.rule_format import ENTITIES
from rulelens.data.rule_interpreter import rule_verdict
from tests.compliance import ifc_builders as build
from tests.project_copy import PROJECT

MAPPING_FILE = PROJECT / "conf" / "base" / "parameters_ifc_mapping.yml"


def _shipped_block() -> dict:
    return yaml.safe_load(MAPPING_FILE.read_text(encoding="utf-8"))["ifc_mapping"]


@pytest.fixture(scope="module")
def mapping() -> IfcMapping:
    return IfcMapping.from_params(_shipped_block())


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("ifc_models")


@pytest.fixture(scope="module")
def house_file(folder):
    return build.build_small_house(folder)


@pytest.fixture(scope="module")
def house(house_file, mapping) -> BuildingModel:
    return read_building_model(house_file, mapping)


@pytest.fixture(scope="module")
def wrong_types(folder, mapping) -> BuildingModel:
    return read_building_model(build.build_wrong_type_model(folder), mapping)


def by_name(model: BuildingModel) -> dict[str, Element]:
    return {e.name: e for e in model.elements}


def test_values_are_stored_in_si_from_a_millimetre_model(house):
    elements = by_name(house)
    for name, expected in build.EXPECTED.items():
        assert elements[name].values == pytest.approx(expected, rel=1e-12), name
    assert elements["D1"].values["width"] == 0.9  # exactly: 900 mm is the double nearest 0.9 m
    assert elements["D1"].sources["width"] == "IfcDoor.OverallWidth"
    assert house.schema == "IFC4" and house.length_unit == "millimetre"
    assert house.sha256 == hashlib.sha256(Path(house.path).read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("schema", "length_unit", "angle_unit"),
    [("IFC4", "METRE", "RADIAN"), ("IFC4", "FOOT", "DEGREE"), ("IFC2X3", "MILLIMETRE", "DEGREE")],
)
def test_other_units_and_ifc2x3_give_the_same_facts(house, folder, mapping, schema, length_unit, angle_unit):
    other = read_building_model(build.build_small_house(folder, schema, length_unit, angle_unit), mapping)
    reference, elements = by_name(house), by_name(other)
    assert sorted(elements) == sorted(reference)
    for name, element in elements.items():
        assert element.values == pytest.approx(reference[name].values, rel=1e-12), name
        assert element.entities == reference[name].entities and element.storey == reference[name].storey, name
        assert not element.problems, name
    assert other.schema == schema and other.length_unit == length_unit.lower()
    if schema == "IFC2X3":  # riser height, going and riser count are entity attributes in IFC2X3
        assert elements["F1"].sources["riser_height"] == "IfcStairFlight.RiserHeight"
        assert elements["F1"].sources["riser"] == "IfcStairFlight.NumberOfRiser"
        assert elements["W1"].ifc_class == "IfcWallStandardCase"
        assert reference["F1"].sources["riser_height"] == "Pset_StairFlightCommon.RiserHeight"
    elif length_unit == "METRE":
        assert elements["D2"].values["width"] == 0.7


def test_every_element_knows_its_storey_through_spaces_and_stairs(house):
    elements = by_name(house)
    storey = elements["Ground floor"]
    for name in ("Living", "D1", "F1", "RF2", "H1", "B1", "W1", "SL1"):  # H1, B1 stand in a space; F1 in a stair
        assert (elements[name].storey, elements[name].storey_id) == ("Ground floor", storey.global_id), name
    assert (elements["House"].storey, storey.storey) == ("", "")


def test_entities_follow_classes_and_predefined_types(house):
    elements = by_name(house)
    assert elements["H1"].entities == ("handrail",)
    assert elements["B1"].entities == ("balustrade", "barrier")
    assert elements["F1"].entities == ("flight", "stair") and elements["S1"].entities == ("stair",)
    assert elements["SL1"].entities == ("floor", "slab") and elements["Living"].entities == ("room", "space")
    assert [e.name for e in house.elements_of("door")] == ["D1", "D2", "D3"]
    assert [e.name for e in house.elements_of("handrail")] == ["H1"]


def test_text_fire_ratings_and_ramp_slopes_become_seconds_and_gradients(house):
    elements = by_name(house)
    assert elements["D1"].values["fire_resistance"] == 3600.0  # FireRating "60": minutes
    assert elements["W1"].values["fire_resistance"] == 3600.0  # "REI 60": the pattern's first number
    assert elements["W1"].sources["fire_resistance"] == "Pset_WallCommon.FireRating"
    assert elements["RF1"].values["gradient"] == pytest.approx(1 / 12)  # Slope atan(1/12) degrees
    assert elements["RF2"].values["gradient"] == pytest.approx(1 / 8)


def test_a_missing_value_is_unknown_without_a_problem(house):
    door = by_name(house)["D3"]
    assert "width" not in door.values and not door.problems


def test_values_of_the_wrong_type_are_named_and_leave_the_attribute_unknown(wrong_types):
    elements = by_name(wrong_types)
    door = elements["DX"]
    assert door.values == {"width": 0.9}
    assert door.problems["fire_resistance"] == (
        "Pset_DoorCommon.FireRating is 'sixty' (text with no number; time expected)"
    )
    assert "IfcLogical" in door.problems["is_external"]
    assert "height" not in elements["RX"].values
    assert elements["RX"].problems["height"].startswith("Pset_RailingCommon.Height is True (an IfcBoolean")
    assert (
        elements["RY"].problems["height"]
        == "Pset_RailingCommon.Height is 'tall' (text with no number; length expected)"
    )
    assert "IfcQuantityLength" in elements["SX"].problems["floor_area"]
    assert "area expected" in elements["SX"].problems["floor_area"] and "floor_area" not in elements["SX"].values


def test_a_property_that_names_its_own_unit_is_read_in_it(wrong_types):
    assert by_name(wrong_types)["RZ"].values == {"height": 1.05}  # 1.05 metre in a millimetre project


def test_the_scene_runs_the_rules_and_finds_the_planted_violations(house):
    scene = house.scene()
    assert [i["_global_id"] for i in scene["door"]] == [e.global_id for e in house.elements_of("door")]
    assert rule_verdict('rule("X", door, require=door.width_mm >= 760)', scene) == ["pass", "fail", "unknown"]
    assert rule_verdict('rule("X", flight, require=flight.riser_height_mm <= 190)', scene) == ["pass", "fail"]
    assert rule_verdict('rule("X", flight, require=flight.riser_count >= 3)', scene) == ["pass", "pass"]
    assert rule_verdict('rule("X", room, require=room.headroom_m >= 2.3)', scene) == ["pass", "fail"]
    assert rule_verdict('rule("X", handrail, require=handrail.height_mm >= 1000)', scene) == ["fail"]
    assert rule_verdict('rule("X", door, require=door.fire_resistance_min >= 60)', scene) == ["pass", "fail", "unknown"]
    ramps = rule_verdict('rule("X", ramp, require=ramp.gradient_ratio <= 0.0834)', scene)
    assert ramps == ["unknown", "pass", "fail"]  # the ramp itself, RF1 (1:12), RF2 (1:8)
    assert set(build.PLANTED) <= {e.name for e in house.elements}


def test_a_model_with_no_mapped_element_reads_as_empty(folder, mapping):
    model = read_building_model(build.build_unmapped_model(folder), mapping)
    assert model.elements == () and model.scene() == {}


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda folder, house: folder / "missing.ifc", "no such IFC file"),
        (lambda folder, house: folder, "not a file"),
        (lambda folder, house: build.write_not_ifc(folder), "not an IFC model"),
        (lambda folder, house: build.write_empty(folder), "empty"),
        (lambda folder, house: build.write_truncated_copy(house, folder), "truncated"),
        (lambda folder, house: build.write_corrupt_copy(house, folder), "corrupt"),
        (lambda folder, house: build.write_unknown_schema_copy(house, folder), "cannot read this schema"),
    ],
    ids=["missing", "directory", "csv", "empty", "truncated", "corrupt", "IFC9"],
)
def test_an_unreadable_file_is_a_clear_error_naming_it(folder, house_file, mapping, make, reason):
    path = make(folder, house_file)
    with pytest.raises(IfcModelError, match=reason) as raised:
        read_building_model(path, mapping)
    assert path.name in str(raised.value)


def test_the_shipped_mapping_names_vocabulary_entities(mapping):
    names = set(mapping.entity_names)
    assert names <= ENTITIES
    assert {"stair", "flight", "door", "room", "space", "storey", "building", "handrail", "balustrade"} <= names
    assert {"barrier", "window", "wall", "ramp", "slab", "floor", "roof", "column", "beam", "opening"} <= names


def _bad(path: list, value) -> dict:
    """The shipped block with the value at ``path`` replaced (or the key added)."""
    block = copy.deepcopy(_shipped_block())
    target = block
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return block


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (
            _bad(
                ["attributes", "riser_height", "sources", 1], {"source": "IfcStairFlight.RiserHeight", "unit": "inch"}
            ),
            r"^ifc_mapping\.attributes\.riser_height\.sources\[1\]\.unit: 'inch' is not a unit suffix \(one of ",
        ),
        (_bad(["attributes", "width", "dimension"], "lenght"), r"attributes\.width\.dimension: 'lenght' is not a dim"),
        (_bad(["entities", "stairs"], {"classes": ["IfcStair"]}), r"entities\.stairs: .*did you mean 'stair'"),
        (_bad(["entities", "door", "clases"], ["IfcDoor"]), r"entities\.door\.clases: unknown key"),
        (_bad(["entities", "door", "classes"], ["IfcDor"]), r"entities\.door\.classes\[0\]: 'IfcDor' is not an IFC"),
        (_bad(["attributes", "width", "sources", 0], "IfcDoor.OverallWidht"), r"sources\[0\]: .*OverallWidth\?"),
        (_bad(["attributes", "width", "sources", 2], "FireRating"), r"width\.sources\[2\]: 'FireRating' is not"),
        (
            _bad(["attributes", "fire_resistance", "sources", 0, "pattern"], r"(\d+"),
            r"fire_resistance\.sources\[0\]\.pattern: .* is not a regular expression",
        ),
        (
            _bad(["attributes", "fire_resistance", "sources", 0, "pattern"], r"\d+"),
            r"fire_resistance\.sources\[0\]\.pattern: .* exactly one group",
        ),
        (
            _bad(["attributes", "fire_resistance", "sources", 0, "unit"], "mm"),
            r"fire_resistance\.sources\[0\]\.unit: 'mm' is a length unit; the raw value is a time",
        ),
        (
            _bad(["attributes", "riser_count"], {"dimension": "count", "sources": ["IfcStairFlight.NumberOfRiser"]}),
            r"attributes\.riser_count: .*stem 'riser'",
        ),
        (
            _bad(["attributes", "external"], {"dimension": "boolean", "sources": ["Pset_WallCommon.IsExternal"]}),
            r"attributes\.external: a boolean attribute is named is_",
        ),
        (
            _bad(["attributes", "width", "sources", 0], {"source": "Pset_X.Slope", "angle_to_gradient": True}),
            r"width\.sources\[0\]\.angle_to_gradient: .*not a length",
        ),
        ({"entities": {"door": {"classes": ["IfcDoor"]}}}, r"^ifc_mapping: missing key\(s\) \['attributes'\]"),
    ],
)
def test_a_bad_mapping_is_a_value_error_naming_the_parameter(block, message):
    with pytest.raises(ValueError, match=message):
        IfcMapping.from_params(block)


@pytest.mark.slow
def test_ten_thousand_elements_read_in_seconds(folder, mapping):
    path = build.build_large_model(folder, n_elements=10_000)
    start = time.perf_counter()
    model = read_building_model(path, mapping)
    seconds = time.perf_counter() - start
    assert len(model.elements_of("door")) + len(model.elements_of("room")) + len(model.elements_of("flight")) == 10_000
    assert len(model.elements_of("storey")) == 20 and model.elements[-1].storey == "Level 19"
    assert seconds < 10, f"{seconds:.1f} s for 10,000 elements"  # about 1.3 s on a busy 2-core machine
    assert math.isclose(model.elements_of("door")[1].values["width"], 0.703)
