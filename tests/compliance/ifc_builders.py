"""IFC models built in code for the compliance tests, with known values and planted violations.

Every builder writes one ``.ifc`` file into ``folder`` and returns its path. The small house is
the same building in every variant (IFC4 or IFC2X3, millimetres or metres, angles in degrees or
radians), so the values read from each must agree; ``PLANTED`` names the elements that break a
typical rule. Values below are in millimetres, square metres and degrees, and are written in the
file's own units.
"""

from __future__ import annotations

import math
from pathlib import Path

import ifcopenshell
import ifcopenshell.api.aggregate
import ifcopenshell.api.owner
import ifcopenshell.api.project
import ifcopenshell.api.pset
import ifcopenshell.api.root
import ifcopenshell.api.spatial
import ifcopenshell.api.unit
import ifcopenshell.guid

# element name -> the violation planted in the small house
PLANTED = {
    "D2": "width 700 mm below a 760 mm minimum door width",
    "F2": "riser height 200 mm above a 190 mm maximum",
    "Store": "ceiling height 2100 mm below a 2300 mm minimum headroom",
    "H1": "handrail height 900 mm below a 1000 mm minimum barrier height",
    "RF2": "ramp gradient 1:8 steeper than a 1:12 maximum",
}
# element name -> the values the small house holds, as the interpreter stores them (SI, degrees, seconds)
EXPECTED = {
    "Living": {"floor_area": 20.0, "height": 2.4, "ceiling_height": 2.4, "headroom": 2.4},
    "Store": {"floor_area": 4.0, "height": 2.1, "ceiling_height": 2.1, "headroom": 2.1},
    "F1": {"riser_height": 0.18, "going": 0.28, "tread_length": 0.28, "riser": 15.0},
    "F2": {"riser_height": 0.2, "going": 0.25, "tread_length": 0.25, "riser": 3.0},
    "D1": {"width": 0.9, "height": 2.04, "fire_resistance": 3600.0, "is_external": True, "is_fire_exit": True},
    "D2": {"width": 0.7, "height": 2.04, "fire_resistance": 1800.0, "is_external": False},
    "D3": {"height": 2.04},
    "H1": {"height": 0.9},
    "B1": {"height": 1.1},
    "RF1": {"gradient": 1 / 12},
    "RF2": {"gradient": 1 / 8},
    "W1": {"fire_resistance": 3600.0, "is_external": True},
    "WIN1": {"width": 1.2, "height": 1.0, "is_external": True},
}
MM_PER_UNIT = {"MILLIMETRE": 1, "METRE": 1000, "FOOT": 304.8}  # millimetres in one of the file's length unit


def new_file(schema: str, length_unit: str = "MILLIMETRE", angle_unit: str = "DEGREE"):
    """An empty model with a project and its units (and, for IFC2X3, the owner history it requires)."""
    model = ifcopenshell.api.project.create_file(version=schema)
    if schema == "IFC2X3":  # owner history is mandatory in IFC2X3: the api's default owner is the first one
        person = ifcopenshell.api.owner.add_person(model)
        organisation = ifcopenshell.api.owner.add_organisation(model)
        ifcopenshell.api.owner.add_person_and_organisation(model, person=person, organisation=organisation)
        ifcopenshell.api.owner.add_application(model)
    project = ifcopenshell.api.root.create_entity(model, ifc_class="IfcProject", name="Small house")
    units = [
        _length_unit(model, length_unit),
        ifcopenshell.api.unit.add_si_unit(model, unit_type="AREAUNIT"),
        ifcopenshell.api.unit.add_si_unit(model, unit_type="VOLUMEUNIT"),
    ]
    if angle_unit == "DEGREE":
        units.append(ifcopenshell.api.unit.add_conversion_based_unit(model, name="degree"))
    else:
        units.append(ifcopenshell.api.unit.add_si_unit(model, unit_type="PLANEANGLEUNIT"))
    ifcopenshell.api.unit.assign_unit(model, units=units)
    return model, project


def _length_unit(model, length_unit: str):
    if length_unit == "FOOT":
        return ifcopenshell.api.unit.add_conversion_based_unit(model, name="foot")
    prefix = {"MILLIMETRE": "MILLI", "METRE": None}[length_unit]
    return ifcopenshell.api.unit.add_si_unit(model, unit_type="LENGTHUNIT", prefix=prefix)


def _entity(model, ifc_class: str, name: str, predefined_type: str | None = None, **attributes):
    element = ifcopenshell.api.root.create_entity(
        model, ifc_class=ifc_class, name=name, predefined_type=predefined_type
    )
    for key, value in attributes.items():
        setattr(element, key, value)
    return element


def _pset(model, element, name: str, properties: dict) -> None:
    pset = ifcopenshell.api.pset.add_pset(model, product=element, name=name)
    ifcopenshell.api.pset.edit_pset(model, pset=pset, properties=properties)


def _qto(model, element, name: str, quantities: dict) -> None:
    qto = ifcopenshell.api.pset.add_qto(model, product=element, name=name)
    ifcopenshell.api.pset.edit_qto(model, qto=qto, properties=quantities)


def _spatial_tree(model, project):
    site = _entity(model, "IfcSite", "Site")
    building = _entity(model, "IfcBuilding", "House")
    storey = _entity(model, "IfcBuildingStorey", "Ground floor")
    ifcopenshell.api.aggregate.assign_object(model, products=[site], relating_object=project)
    ifcopenshell.api.aggregate.assign_object(model, products=[building], relating_object=site)
    ifcopenshell.api.aggregate.assign_object(model, products=[storey], relating_object=building)
    return building, storey


def build_small_house(
    folder: Path, schema: str = "IFC4", length_unit: str = "MILLIMETRE", angle_unit: str = "DEGREE"
) -> Path:
    """The small house (see ``EXPECTED`` and ``PLANTED``) in ``schema`` with the given project units.

    In IFC2X3 a stair flight's riser height, going and riser count are entity attributes and a wall
    is an IfcWallStandardCase; in IFC4 they are Pset_StairFlightCommon properties and an IfcWall.
    """
    per_unit = MM_PER_UNIT[length_unit]
    model, project = new_file(schema, length_unit, angle_unit)
    _, storey = _spatial_tree(model, project)

    spaces = []
    for name, area, height in (("Living", 20.0, 2400), ("Store", 4.0, 2100)):
        space = _entity(model, "IfcSpace", name)
        if schema == "IFC2X3":
            space.InteriorOrExteriorSpace = "INTERNAL"
        _qto(model, space, "Qto_SpaceBaseQuantities", {"NetFloorArea": area, "Height": height / per_unit})
        spaces.append(space)
    ifcopenshell.api.aggregate.assign_object(model, products=spaces, relating_object=storey)

    contained = []
    stair = _entity(model, "IfcStair", "S1", "STRAIGHT_RUN_STAIR" if schema != "IFC2X3" else None)
    if schema == "IFC2X3":
        stair.ShapeType = "STRAIGHT_RUN_STAIR"
    flights = []
    for name, riser, going, risers in (("F1", 180, 280, 15), ("F2", 200, 250, 3)):
        if schema == "IFC2X3":
            flight = _entity(
                model,
                "IfcStairFlight",
                name,
                RiserHeight=riser / per_unit,
                TreadLength=going / per_unit,
                NumberOfRiser=risers,
            )
        else:
            flight = _entity(model, "IfcStairFlight", name, "STRAIGHT")
            properties = {"RiserHeight": riser / per_unit, "TreadLength": going / per_unit, "NumberOfRiser": risers}
            _pset(model, flight, "Pset_StairFlightCommon", properties)
        flights.append(flight)
    ifcopenshell.api.aggregate.assign_object(model, products=flights, relating_object=stair)
    contained.append(stair)

    ramp = _entity(model, "IfcRamp", "RP1", "STRAIGHT_RUN_RAMP" if schema != "IFC2X3" else None)
    if schema == "IFC2X3":
        ramp.ShapeType = "STRAIGHT_RUN_RAMP"
    ramp_flights = []
    for name, rise_over_run in (("RF1", 1 / 12), ("RF2", 1 / 8)):
        flight = _entity(model, "IfcRampFlight", name)
        slope = math.atan(rise_over_run)
        _pset(
            model, flight, "Pset_RampFlightCommon", {"Slope": math.degrees(slope) if angle_unit == "DEGREE" else slope}
        )
        ramp_flights.append(flight)
    ifcopenshell.api.aggregate.assign_object(model, products=ramp_flights, relating_object=ramp)
    contained.append(ramp)

    doors = (
        ("D1", 900, {"FireRating": "60", "IsExternal": True, "FireExit": True}),
        ("D2", 700, {"FireRating": "30", "IsExternal": False}),
        ("D3", None, {}),
    )
    for name, width, properties in doors:
        door = _entity(model, "IfcDoor", name, OverallHeight=2040 / per_unit)
        if width is not None:
            door.OverallWidth = width / per_unit
        if properties:
            _pset(model, door, "Pset_DoorCommon", properties)
        contained.append(door)

    wall = _entity(model, "IfcWallStandardCase" if schema == "IFC2X3" else "IfcWall", "W1")
    _pset(model, wall, "Pset_WallCommon", {"FireRating": "REI 60", "IsExternal": True})
    window = _entity(model, "IfcWindow", "WIN1", OverallWidth=1200 / per_unit, OverallHeight=1000 / per_unit)
    _pset(model, window, "Pset_WindowCommon", {"IsExternal": True})
    slab = _entity(model, "IfcSlab", "SL1", "FLOOR")
    contained += [wall, window, slab]
    ifcopenshell.api.spatial.assign_container(model, products=contained, relating_structure=storey)

    # railings stand in the living room: their storey is found through the space
    railings = []
    for name, kind, height in (("H1", "HANDRAIL", 900), ("B1", "BALUSTRADE", 1100)):
        railing = _entity(model, "IfcRailing", name, kind)
        _pset(model, railing, "Pset_RailingCommon", {"Height": height / per_unit})
        railings.append(railing)
    ifcopenshell.api.spatial.assign_container(model, products=railings, relating_structure=spaces[0])

    return _write(model, folder, f"small_house_{schema.lower()}_{length_unit.lower()}_{angle_unit.lower()}.ifc")


def build_wrong_type_model(folder: Path) -> Path:
    """Values of the wrong type: a fire rating 'sixty', railing heights that are a boolean and a label, a floor
    area that is a length quantity, and an IfcLogical UNKNOWN for is_external (the door's width is fine); and
    a railing "RZ" whose height, 1.05, names its own unit (metre) in this millimetre project."""
    model, project = new_file("IFC4")
    _, storey = _spatial_tree(model, project)
    door = _entity(model, "IfcDoor", "DX", OverallWidth=900.0)
    _pset(model, door, "Pset_DoorCommon", {"FireRating": "sixty", "IsExternal": model.createIfcLogical("UNKNOWN")})
    boolean_rail = _entity(model, "IfcRailing", "RX", "HANDRAIL")
    _pset(model, boolean_rail, "Pset_RailingCommon", {"Height": model.createIfcBoolean(True)})
    label_rail = _entity(model, "IfcRailing", "RY", "HANDRAIL")
    _pset(model, label_rail, "Pset_RailingCommon", {"Height": model.createIfcLabel("tall")})
    own_unit_rail = _entity(model, "IfcRailing", "RZ", "HANDRAIL")
    _pset(model, own_unit_rail, "Pset_RailingCommon", {"Height": 1.05})
    metre = ifcopenshell.api.unit.add_si_unit(model, unit_type="LENGTHUNIT")
    own_unit_rail.IsDefinedBy[0].RelatingPropertyDefinition.HasProperties[0].Unit = metre
    space = _entity(model, "IfcSpace", "SX")
    qto = ifcopenshell.api.pset.add_qto(model, product=space, name="Qto_SpaceBaseQuantities")
    qto.Quantities = [model.createIfcQuantityLength("NetFloorArea", None, None, 20.0)]
    ifcopenshell.api.aggregate.assign_object(model, products=[space], relating_object=storey)
    ifcopenshell.api.spatial.assign_container(
        model, products=[door, boolean_rail, label_rail, own_unit_rail], relating_structure=storey
    )
    return _write(model, folder, "wrong_types.ifc")


def build_unmapped_model(folder: Path) -> Path:
    """A valid model with no element of a mapped class: a site holding one proxy."""
    model, project = new_file("IFC4")
    site = _entity(model, "IfcSite", "Site")
    ifcopenshell.api.aggregate.assign_object(model, products=[site], relating_object=project)
    proxy = _entity(model, "IfcBuildingElementProxy", "Thing")
    ifcopenshell.api.spatial.assign_container(model, products=[proxy], relating_structure=site)
    return _write(model, folder, "unmapped.ifc")


def build_large_model(folder: Path, n_elements: int = 10_000, per_storey: int = 500) -> Path:
    """About ``n_elements`` doors, spaces and stair flights over storeys of ``per_storey``, written with
    ``create_entity`` directly (the api's per-element bookkeeping is too slow for a benchmark).

    Doors share a Pset_DoorCommon per 50 doors; every space has its own quantity set.
    """
    model, project = new_file("IFC4")
    _, first_storey = _spatial_tree(model, project)
    building = first_storey.Decomposes[0].RelatingObject
    storeys = [first_storey]
    storey_count = max(1, math.ceil(n_elements / per_storey))
    for i in range(1, storey_count):
        storeys.append(model.create_entity("IfcBuildingStorey", GlobalId=_guid(), Name=f"Level {i}"))
    model.create_entity("IfcRelAggregates", GlobalId=_guid(), RelatingObject=building, RelatedObjects=storeys[1:])
    shared_psets: dict[tuple[str, int], object] = {}
    for index, storey in enumerate(storeys):
        contained, spaces = [], []
        for i in range(index * per_storey, min(n_elements, (index + 1) * per_storey)):
            kind = i % 3
            if kind == 0:
                door = model.create_entity(
                    "IfcDoor", GlobalId=_guid(), Name=f"D{i}", OverallHeight=2040.0, OverallWidth=700.0 + i % 300
                )
                _share_pset(model, shared_psets, ("door", i // 150), door, "Pset_DoorCommon", {"FireRating": "30"})
                contained.append(door)
            elif kind == 1:
                space = model.create_entity("IfcSpace", GlobalId=_guid(), Name=f"S{i}")
                quantities = [
                    model.createIfcQuantityArea("NetFloorArea", None, None, 10.0 + i % 20),
                    model.createIfcQuantityLength("Height", None, None, 2400.0),
                ]
                qto = model.create_entity(
                    "IfcElementQuantity", GlobalId=_guid(), Name="Qto_SpaceBaseQuantities", Quantities=quantities
                )
                model.create_entity(
                    "IfcRelDefinesByProperties",
                    GlobalId=_guid(),
                    RelatedObjects=[space],
                    RelatingPropertyDefinition=qto,
                )
                spaces.append(space)
            else:
                flight = model.create_entity("IfcStairFlight", GlobalId=_guid(), Name=f"F{i}")
                properties = {"RiserHeight": 170.0 + i % 25, "TreadLength": 280.0}
                _share_pset(model, shared_psets, ("flight", i // 150), flight, "Pset_StairFlightCommon", properties)
                contained.append(flight)
        if contained:
            model.create_entity(
                "IfcRelContainedInSpatialStructure",
                GlobalId=_guid(),
                RelatingStructure=storey,
                RelatedElements=contained,
            )
        if spaces:
            model.create_entity("IfcRelAggregates", GlobalId=_guid(), RelatingObject=storey, RelatedObjects=spaces)
    for rel, elements in shared_psets.values():
        rel.RelatedObjects = elements
    return _write(model, folder, f"large_{n_elements}.ifc")


def _write(model, folder: Path, name: str) -> Path:
    """Write ``model`` as ``folder/name`` (the folder made if needed) and return the path."""
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    model.write(str(path))
    return path


def _guid() -> str:
    return ifcopenshell.guid.new()


def _share_pset(model, shared: dict, key: tuple, element, name: str, properties: dict) -> None:
    """Add ``element`` to the property set shared by ``key`` (created on first use, its relation filled at the end)."""
    if key not in shared:
        values = []
        for prop, value in properties.items():
            nominal = (
                model.createIfcLabel(value) if isinstance(value, str) else model.createIfcPositiveLengthMeasure(value)
            )
            values.append(model.createIfcPropertySingleValue(prop, None, nominal, None))
        pset = model.create_entity("IfcPropertySet", GlobalId=_guid(), Name=name, HasProperties=values)
        rel = model.create_entity(
            "IfcRelDefinesByProperties", GlobalId=_guid(), RelatedObjects=[element], RelatingPropertyDefinition=pset
        )
        shared[key] = (rel, [])
    shared[key][1].append(element)


# --- files that are not a readable IFC model --------------------------------------------------------


def write_not_ifc(folder: Path) -> Path:
    """A CSV file with an .ifc name."""
    path = Path(folder) / "table.ifc"
    path.write_text("clause_id,rule\nA1,rule('A1', door, require=door.width_mm >= 760)\n", encoding="utf-8")
    return path


def write_empty(folder: Path) -> Path:
    path = Path(folder) / "empty.ifc"
    path.write_bytes(b"")
    return path


def write_truncated_copy(source: Path, folder: Path) -> Path:
    """``source`` cut in the middle of its DATA section (an interrupted download or copy)."""
    text = Path(source).read_text(encoding="utf-8")
    start = text.index("DATA;")
    path = Path(folder) / f"truncated_{Path(source).name}"
    path.write_text(text[: start + (len(text) - start) // 2], encoding="utf-8")
    return path


def write_corrupt_copy(source: Path, folder: Path) -> Path:
    """``source`` complete but with one instance's text garbled (IfcOpenShell logs it and reads on)."""
    text = Path(source).read_text(encoding="utf-8")
    cut = text.index("=IFCDOOR(")
    path = Path(folder) / f"corrupt_{Path(source).name}"
    path.write_text(text[:cut] + "=IFCDOOR((((garbage" + text[cut + len("=IFCDOOR(") :], encoding="utf-8")
    return path


def write_unknown_schema_copy(source: Path, folder: Path) -> Path:
    """``source`` with its header naming the schema IFC9, which no IfcOpenShell reads."""
    text = Path(source).read_text(encoding="utf-8")
    start = text.index("FILE_SCHEMA((")
    end = text.index(";", start)
    path = Path(folder) / f"ifc9_{Path(source).name}"
    path.write_text(text[:start] + "FILE_SCHEMA(('IFC9'))" + text[end:], encoding="utf-8")
    return path
