"""Read an IFC building model into per-element facts the rule interpreter checks (docs/compliance.md).

Which elements are read, as which vocabulary entities, and where each attribute's value lives is
the user's :class:`~rulelens.compliance.ifc_mapping.IfcMapping`. A value is stored as the
interpreter stores it (:mod:`rulelens.data.rule_interpreter`): quantities in SI, converted from the
file's own units (the project's units, or a property's own unit where it names one), angles in
degrees, times in seconds, fractions as fractions, counts as floats.

A source that is present but cannot give a value (``FireRating = 'sixty'`` where a time is
expected, a boolean where a length is) leaves the attribute unknown and names why in
:attr:`Element.problems`: a rule that needs it is ``unknown`` with a reason, never silently passed.

A file that cannot be trusted whole stops the read with an :class:`IfcModelError` naming the file:
not a STEP file, truncated, a schema IfcOpenShell cannot read, or a parser error (IfcOpenShell
skips a broken instance and reads on, which would silently drop elements).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rulelens.compliance.ifc_mapping import AttributeMapping, IfcMapping, Source
from rulelens.data.rule_interpreter import UNIT_SUFFIXES

STEP_MAGIC = b"ISO-10303-21;"
STEP_END = b"END-ISO-10303-21;"
# IfcUnitEnum member of each dimension that has a project unit
UNIT_TYPES = {
    "length": "LENGTHUNIT",
    "area": "AREAUNIT",
    "volume": "VOLUMEUNIT",
    "angle": "PLANEANGLEUNIT",
    "time": "TIMEUNIT",
}
UNIT_DIMENSIONS = {unit_type: dimension for dimension, unit_type in UNIT_TYPES.items()}
# the dimension of an IFC measure or quantity class; a value of another dimension is a problem
MEASURE_DIMENSIONS = {
    "IfcLengthMeasure": "length",
    "IfcPositiveLengthMeasure": "length",
    "IfcNonNegativeLengthMeasure": "length",
    "IfcQuantityLength": "length",
    "IfcAreaMeasure": "area",
    "IfcQuantityArea": "area",
    "IfcVolumeMeasure": "volume",
    "IfcQuantityVolume": "volume",
    "IfcPlaneAngleMeasure": "angle",
    "IfcPositivePlaneAngleMeasure": "angle",
    "IfcTimeMeasure": "time",
    "IfcQuantityTime": "time",
    "IfcCountMeasure": "count",
    "IfcQuantityCount": "count",
    "IfcRatioMeasure": "fraction",
    "IfcNormalisedRatioMeasure": "fraction",
    "IfcPositiveRatioMeasure": "fraction",
    "IfcBoolean": "boolean",
    "IfcLogical": "boolean",
    "IfcMassMeasure": "mass",
    "IfcQuantityWeight": "mass",
    "IfcThermalTransmittanceMeasure": "thermal transmittance",
    "IfcVolumetricFlowRateMeasure": "flow",
}
_PLAIN_NUMBER = re.compile(r"^\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*$")
_MAX_PARENT_DEPTH = 64


class IfcModelError(ValueError):
    """An IFC file that cannot be read whole; the message names the file and why."""


@dataclass(frozen=True)
class Element:
    """One mapped IFC element: what it is, where it is, and its attribute values as the interpreter stores them."""

    global_id: str
    ifc_class: str
    name: str
    storey: str  # the name of the IfcBuildingStorey it is in ("" if none)
    storey_id: str  # that storey's GlobalId ("" if none)
    entities: tuple[str, ...]  # the vocabulary entities it maps to, sorted
    values: dict[str, Any] = field(default_factory=dict)  # stem -> SI value, bool or text
    sources: dict[str, str] = field(default_factory=dict)  # stem -> the source its value came from
    problems: dict[str, str] = field(default_factory=dict)  # stem -> why a present source gave no value


@dataclass(frozen=True)
class BuildingModel:
    """The mapped elements of one IFC file, with what identifies the file."""

    path: str
    schema: str
    sha256: str
    length_unit: str  # the file's length unit in words ("millimetre")
    elements: tuple[Element, ...]

    def elements_of(self, entity: str) -> list[Element]:
        """The elements mapped to ``entity``, in file order."""
        return [e for e in self.elements if entity in e.entities]

    def scene(self) -> dict[str, list[dict[str, Any]]]:
        """The interpreter's scene: per entity one instance dict per element (its values and ``_``-prefixed ids)."""
        scene: dict[str, list[dict[str, Any]]] = {}
        for element in self.elements:
            instance = {
                **element.values,
                "_global_id": element.global_id,
                "_ifc_class": element.ifc_class,
                "_name": element.name,
                "_storey": element.storey,
            }
            for entity in element.entities:
                scene.setdefault(entity, []).append(instance)
        return scene


def read_building_model(path: str | Path, mapping: IfcMapping) -> BuildingModel:
    """The elements of the IFC file at ``path`` that ``mapping`` names, with their values.

    Raises :class:`IfcModelError` (naming the file) for a file that is missing, not IFC (STEP),
    truncated, corrupt, or of a schema IfcOpenShell cannot read. A model with no mapped element
    gives a BuildingModel with no elements: the caller says so.
    """
    path = Path(path)
    data = _file_bytes(path)
    _check_step_text(path, data)
    ifc_file = _open_ifc(path)
    units = ProjectUnits.of(ifc_file, path)
    reader = _ElementReader(ifc_file, mapping, units)
    return BuildingModel(
        path=str(path),
        schema=ifc_file.schema_identifier,
        sha256=hashlib.sha256(data).hexdigest(),
        length_unit=units.length_name,
        elements=tuple(reader.elements()),
    )


# --- the file -------------------------------------------------------------------------------------


def _file_bytes(path: Path) -> bytes:
    if not path.exists():
        raise IfcModelError(f"{path}: no such IFC file")
    if not path.is_file():
        raise IfcModelError(f"{path}: not a file (an IFC model is one .ifc file)")
    try:
        return path.read_bytes()
    except OSError as error:
        raise IfcModelError(f"{path}: cannot be read ({error})") from error


def _check_step_text(path: Path, data: bytes) -> None:
    """A STEP physical file (IFC-SPF) starts with ISO-10303-21; and ends with END-ISO-10303-21;."""
    if not data.strip():
        raise IfcModelError(f"{path}: the file is empty, not an IFC model")
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(STEP_MAGIC):
        start = head[:40].decode("utf-8", errors="replace").splitlines()[0] if head else ""
        raise IfcModelError(
            f"{path}: not an IFC model in STEP format (an .ifc file starts with 'ISO-10303-21;', this one with "
            f"{start!r}); export the model as IFC (ifcXML and ifcZIP are not read)"
        )
    if not data.rstrip().endswith(STEP_END):
        raise IfcModelError(
            f"{path}: the file is truncated or corrupt (it does not end with 'END-ISO-10303-21;'); "
            "copy or export it again"
        )


def _open_ifc(path: Path) -> Any:
    """The parsed file; any parser error (which IfcOpenShell logs and reads past) stops the read."""
    import ifcopenshell

    wrapper = ifcopenshell.ifcopenshell_wrapper
    log = _parser_log(wrapper)
    try:
        ifc_file = ifcopenshell.open(path, format=".ifc", **({} if log is None else {"logger": log}))
    except ifcopenshell.SchemaError as error:
        readable = ", ".join(s for s in wrapper.schema_names() if s.startswith("IFC"))
        raise IfcModelError(
            f"{path}: IfcOpenShell {ifcopenshell.version} cannot read this schema ({error}); it reads {readable}"
        ) from error
    except Exception as error:  # IfcOpenShell raises its own Error, IOError and RuntimeError
        raise IfcModelError(f"{path}: IfcOpenShell cannot read the file ({type(error).__name__}: {error})") from error
    messages = [] if log is None else [m.to_dict() for m in log.log_messages()]
    errors = [m for m in messages if m.get("severity") == "ERROR"]
    if errors:
        raise IfcModelError(
            f"{path}: the file is corrupt: {len(errors)} parser error(s), the first: {errors[0].get('message')!r}; "
            "IfcOpenShell would skip the broken instances, so elements and values would be missing"
        )
    return ifc_file


def _parser_log(wrapper: Any) -> Any:
    """A logger that keeps this file's parser messages in memory (None where IfcOpenShell has none)."""
    if not hasattr(wrapper, "logger"):
        return None
    log = wrapper.logger()
    log.output_format(wrapper.logger.FMT_INMEMORY)
    return log


# --- units ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectUnits:
    """Per dimension the factor from the file's project unit to the stored unit (SI; degrees for angles)."""

    factors: dict[str, float]
    length_name: str

    @classmethod
    def of(cls, ifc_file: Any, path: Path) -> ProjectUnits:
        import ifcopenshell.util.unit as ifc_unit

        if not ifc_file.by_type("IfcProject"):
            raise IfcModelError(f"{path}: the model has no IfcProject, so its units are unknown")
        length = ifc_unit.calculate_unit_scale(ifc_file)  # file length unit -> metres
        defaults = {"length": length, "area": length**2, "volume": length**3, "angle": 1.0, "time": 1.0}
        factors = {}
        for dimension, unit_type in UNIT_TYPES.items():
            unit = ifc_unit.get_project_unit(ifc_file, unit_type)
            si_scale = defaults[dimension] if unit is None else ifc_unit.get_unit_scale(unit)
            factors[dimension] = stored_factor(dimension, si_scale)
        return cls(factors=factors, length_name=_unit_name(ifc_unit.get_project_unit(ifc_file, "LENGTHUNIT")))

    def factor(self, dimension: str) -> float:
        return self.factors.get(dimension, 1.0)


def stored_factor(dimension: str, si_scale: float) -> float:
    """The factor from a unit whose SI scale is ``si_scale`` to the stored unit (radians -> degrees for angles),
    snapped to an exact power of ten or integer so that 900 mm stores exactly 0.9."""
    factor = si_scale * 180 / math.pi if dimension == "angle" else si_scale
    for candidate in (round(factor), 1 / round(1 / factor) if 0 < factor < 1 else 0):
        if candidate and math.isclose(factor, candidate, rel_tol=1e-12):
            return float(candidate)
    return factor


def scaled(value: float, factor: float) -> float:
    """``value * factor``, dividing by the inverse where that is an integer (1200 * 0.001 is exactly 1.2)."""
    if 0 < factor < 1:
        inverse = round(1 / factor)
        if math.isclose(1 / factor, inverse, rel_tol=1e-12):
            return value / inverse
    return value * factor


def _unit_name(unit: Any) -> str:
    """A length unit in words: 'millimetre', 'metre', 'foot'."""
    if unit is None:
        return "metre (no length unit assigned)"
    if unit.is_a("IfcSIUnit"):
        return ((unit.Prefix or "") + unit.Name).lower().replace("meter", "metre")
    return str(unit.Name).lower()


# --- the elements ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Raw:
    """A value as found in the file, with what says its unit and type."""

    value: Any
    measure: str | None = None  # the IFC measure or quantity class, when known
    unit: Any = None  # the property's own IfcUnit, if it names one


class _ElementReader:
    """One pass over the mapped classes of one file; caches what many elements share."""

    def __init__(self, ifc_file: Any, mapping: IfcMapping, units: ProjectUnits):
        self.file, self.mapping, self.units = ifc_file, mapping, units
        self._instances: dict[str, list[Any]] = {}
        self._storeys: dict[int, Any] = {}
        self._attribute_sources: dict[str, frozenset[str]] = {}

    def elements(self) -> Iterable[Element]:
        by_id: dict[int, tuple[Any, set[str]]] = {}
        for entity in self.mapping.entities:
            for ifc_class in entity.classes:
                for instance in self.instances_of(ifc_class):
                    if entity.predefined_types and not entity.accepts_type(_predefined_type(instance)):
                        continue
                    by_id.setdefault(instance.id(), (instance, set()))[1].add(entity.entity)
        for _, (instance, entities) in sorted(by_id.items()):
            yield self.element(instance, tuple(sorted(entities)))

    def instances_of(self, ifc_class: str) -> list[Any]:
        """``file.by_type`` once per class; a class this file's schema lacks has no instances."""
        if ifc_class not in self._instances:
            try:
                self._instances[ifc_class] = list(self.file.by_type(ifc_class))
            except RuntimeError:  # not a class of this schema (IfcWallStandardCase in a later release, ...)
                self._instances[ifc_class] = []
        return self._instances[ifc_class]

    def element(self, instance: Any, entities: tuple[str, ...]) -> Element:
        storey = self.storey_of(instance)
        values, sources, problems = self.values_of(instance)
        return Element(
            global_id=str(getattr(instance, "GlobalId", None) or f"#{instance.id()}"),
            ifc_class=instance.is_a(),
            name=str(getattr(instance, "Name", None) or ""),
            storey="" if storey is None else str(storey.Name or ""),
            storey_id="" if storey is None else str(storey.GlobalId),
            entities=entities,
            values=values,
            sources=sources,
            problems=problems,
        )

    def storey_of(self, instance: Any) -> Any:
        """The IfcBuildingStorey an element is in: walked up from its parent in the spatial tree (its container,
        or the aggregate, stair, wall or opening it belongs to)."""
        import ifcopenshell.util.element as ifc_element

        if instance.is_a("IfcBuildingStorey"):
            return None  # a storey is not in a storey
        parent = ifc_element.get_parent(instance)
        return None if parent is None else self._storey_above(parent)

    def _storey_above(self, node: Any) -> Any:
        """The storey that is ``node`` or above it, cached per spatial node (elements share a few containers)."""
        import ifcopenshell.util.element as ifc_element

        visited = []
        for _ in range(_MAX_PARENT_DEPTH):
            if node is None or node.id() in self._storeys:
                break
            if node.is_a("IfcBuildingStorey"):
                self._storeys[node.id()] = node
                break
            visited.append(node.id())
            node = ifc_element.get_parent(node)
        storey = None if node is None else self._storeys.get(node.id())
        for node_id in visited:
            self._storeys[node_id] = storey
        return storey

    def values_of(self, instance: Any) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
        """Per attribute stem the first source's value, the source it came from, and why present sources failed."""
        import ifcopenshell.util.element as ifc_element

        psets = ifc_element.get_psets(instance, verbose=True)
        readable = self.attribute_sources(instance)
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        problems: dict[str, str] = {}
        for attribute in self.mapping.attributes:
            reasons = []
            for source in attribute.sources:
                if source.owner not in psets and source.path not in readable:
                    continue  # cheap test first: most sources are not on most elements
                raw = self.raw_value(instance, psets, source, with_unit=attribute.dimension in UNIT_TYPES)
                if raw is None:
                    continue
                value, reason = convert(raw, attribute, source, self.units)
                if reason is None:
                    values[attribute.stem] = value
                    sources[attribute.stem] = source.path
                    break
                reasons.append(reason)
            else:
                if reasons:
                    problems[attribute.stem] = "; ".join(reasons)
        return values, sources, problems

    def attribute_sources(self, instance: Any) -> frozenset[str]:
        """The entity-attribute sources (paths) an element of this class has (per class, once)."""
        ifc_class = instance.is_a()
        if ifc_class not in self._attribute_sources:
            names = {a.name() for a in instance.declaration.all_attributes()}
            self._attribute_sources[ifc_class] = frozenset(
                source.path
                for attribute in self.mapping.attributes
                for source in attribute.sources
                if source.is_entity_attribute and instance.is_a(source.owner) and source.name in names
            )
        return self._attribute_sources[ifc_class]

    def raw_value(self, instance: Any, psets: dict[str, Any], source: Source, with_unit: bool = True) -> _Raw | None:
        """The source's value on this element (None: the element does not have it), with the property's own
        unit if ``with_unit`` and it names one."""
        if source.is_entity_attribute:
            if source.path not in self.attribute_sources(instance):
                return None
            value = getattr(instance, source.name)
            if value is None:
                return None
            return _Raw(value=value, measure=_declared_measure(instance, source.name))
        found = psets.get(source.owner, {}).get(source.name)
        if not isinstance(found, dict) or found.get("value") is None:
            return None
        measure = found.get("value_type") or found.get("class")
        unit = getattr(self.file.by_id(found["id"]), "Unit", None) if with_unit and "id" in found else None
        if found.get("class") in ("IfcPropertyBoundedValue", "IfcPropertyTableValue", "IfcComplexProperty"):
            return _Raw(value=_NotSingle(found["class"]), measure=found["class"])
        return _Raw(value=found["value"], measure=measure, unit=unit)


class _NotSingle:
    """A property that holds a range, a table or a set of properties, not one value."""

    def __init__(self, ifc_class: str):
        self.ifc_class = ifc_class

    def __repr__(self) -> str:
        return f"an {self.ifc_class}"


def _predefined_type(instance: Any) -> str | None:
    import ifcopenshell.util.element as ifc_element

    return ifc_element.get_predefined_type(instance)


def _declared_measure(instance: Any, name: str) -> str | None:
    """The IFC measure type an entity attribute is declared with (IfcPositiveLengthMeasure for OverallWidth)."""
    declaration = instance.declaration
    try:
        declared = declaration.attribute_by_index(declaration.attribute_index(name)).type_of_attribute()
        return declared.declared_type().name()
    except (AttributeError, RuntimeError, IndexError):
        return None


# --- converting one value -------------------------------------------------------------------------


def convert(raw: _Raw, attribute: AttributeMapping, source: Source, units: ProjectUnits) -> tuple[Any, str | None]:
    """``(value, None)`` as the interpreter stores it, or ``(None, why)`` naming the source and the raw value."""
    dimension = attribute.dimension
    value = raw.value
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            return None, _why(source, value, f"a list of {len(value)} values", dimension)
        value = value[0]
    if isinstance(value, _NotSingle):
        return None, _why(source, value, "not a single value", dimension)
    raw_dimension = "angle" if source.angle_to_gradient else dimension
    measure_dimension = MEASURE_DIMENSIONS.get(raw.measure or "")
    if measure_dimension and measure_dimension != raw_dimension:
        return None, _why(source, value, f"an {raw.measure}, which is a {measure_dimension}", dimension)
    if dimension == "boolean":
        return _boolean(value, source, raw)
    if dimension == "text":
        if isinstance(value, str):
            return value, None
        return None, _why(source, value, "not text", dimension)
    number, reason = _number(value, source, raw)
    if reason is not None:
        return None, _why(source, value, reason, dimension)
    unit_dimension = UNIT_DIMENSIONS.get(getattr(raw.unit, "UnitType", None))
    if source.unit is None and unit_dimension not in (None, raw_dimension):
        return None, _why(source, value, f"its own unit is a {unit_dimension} unit", dimension)
    stored = scaled(number, _factor(raw, raw_dimension, source, units))
    if source.angle_to_gradient:
        stored = math.tan(math.radians(stored))
    if not math.isfinite(stored):
        return None, _why(source, value, "not a finite number", dimension)
    return stored, None


def _boolean(value: Any, source: Source, raw: _Raw) -> tuple[Any, str | None]:
    if isinstance(value, bool):
        return value, None
    if value == "UNKNOWN" and raw.measure == "IfcLogical":
        return None, _why(source, value, "an IfcLogical that is neither true nor false", "boolean")
    kind = "text" if isinstance(value, str) else "a number"
    return None, _why(source, value, f"{kind}, not true or false", "boolean")


def _number(value: Any, source: Source, raw: _Raw) -> tuple[float | None, str | None]:
    """The raw number: numbers as they are, text through the source's pattern (or as a plain number)."""
    if isinstance(value, bool):
        return None, f"an {raw.measure or 'IfcBoolean'}, not a number"
    if isinstance(value, (int, float)):
        return float(value), None
    if not isinstance(value, str):
        return None, "not a number"
    if source.pattern is None:
        if _PLAIN_NUMBER.match(value):
            return float(value), None
        return None, "text with no number"
    found = source.pattern.search(value)
    if found is None or found.group(1) is None:
        return None, "text with no number"
    if not _PLAIN_NUMBER.match(found.group(1)):
        return None, f"text whose pattern match {found.group(1)!r} is not a number"
    return float(found.group(1)), None


def _factor(raw: _Raw, dimension: str, source: Source, units: ProjectUnits) -> float:
    """The raw value's unit to the stored unit: the source's unit, else the property's own, else the project's."""
    if source.unit is not None:
        return UNIT_SUFFIXES[source.unit][1]
    if raw.unit is not None and dimension in UNIT_TYPES:
        import ifcopenshell.util.unit as ifc_unit

        return stored_factor(dimension, ifc_unit.get_unit_scale(raw.unit))
    return units.factor(dimension)


def _why(source: Source, value: Any, reason: str, dimension: str) -> str:
    return f"{source.path} is {value!r} ({reason}; {dimension} expected)"
