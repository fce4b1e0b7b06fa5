"""Which IFC elements are which vocabulary entities, and where each attribute's value lives (docs/compliance.md).

The mapping is the ``ifc_mapping`` parameters block (``conf/base/parameters_ifc_mapping.yml``)::

    entities:    door: {classes: [IfcDoor]}
                 handrail: {classes: [IfcRailing], predefined_types: [HANDRAIL]}
    attributes:  width: {dimension: length, sources: [IfcDoor.OverallWidth, Qto_DoorBaseQuantities.Width]}
                 fire_resistance: {dimension: time, sources: [{source: Pset_DoorCommon.FireRating,
                                                              unit: min, pattern: '(\\d+)'}]}

An attribute is keyed by the *stem* the rule interpreter stores (``width`` for ``door.width_mm``,
booleans by their full name ``is_external``; see :mod:`rulelens.data.rule_interpreter`). A source
``IfcClass.Attribute`` is an IFC entity attribute, read on elements that are an ``IfcClass``; any
other ``Set.Property`` is a property or quantity of a property set or quantity set. Sources are
tried in order and the first that gives a value wins. Everything is checked when the block is read,
so that a typo stops the run with the parameter's path instead of leaving attributes unknown.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from rulelens.data.rule_format import ENTITIES
from rulelens.data.rule_interpreter import UNIT_SUFFIXES, attribute_unit
from rulelens.param_blocks import ParameterError

SOURCE_FILE = "conf/base/parameters_ifc_mapping.yml"
QUANTITY_DIMENSIONS = ("length", "area", "volume", "angle", "fraction", "count", "time")
DIMENSIONS = (*QUANTITY_DIMENSIONS, "boolean", "text")
SOURCE_KEYS = ("source", "unit", "pattern", "angle_to_gradient")
# IFC releases whose class and attribute names a mapping may use (IfcOpenShell's schema names)
IFC_SCHEMAS = ("IFC2X3", "IFC4", "IFC4X3_ADD2")
_STEM_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_IFC_CLASS_RE = re.compile(r"^Ifc[A-Za-z0-9]+$")


@dataclass(frozen=True)
class EntityMapping:
    """The IFC classes (and optionally predefined types) of one vocabulary entity."""

    entity: str
    classes: tuple[str, ...]
    predefined_types: tuple[str, ...] = ()  # empty: any predefined type

    def accepts_type(self, predefined_type: str | None) -> bool:
        """Whether an element of one of :attr:`classes` with this predefined type is the entity."""
        return not self.predefined_types or predefined_type in self.predefined_types


@dataclass(frozen=True)
class Source:
    """Where one value may be read: ``owner.name`` (an IFC class and attribute, or a set and property)."""

    path: str
    owner: str
    name: str
    unit: str | None = None  # a UNIT_SUFFIXES key: the raw value's unit instead of the project's
    pattern: re.Pattern | None = None  # pulls the number out of a text value (group 1)
    angle_to_gradient: bool = False  # the raw value is an angle; the value is tan(angle)

    @property
    def is_entity_attribute(self) -> bool:
        return self.owner.startswith("Ifc")


@dataclass(frozen=True)
class AttributeMapping:
    """One attribute stem: its dimension and the sources tried in order."""

    stem: str
    dimension: str
    sources: tuple[Source, ...]


@dataclass(frozen=True)
class IfcMapping:
    """The validated ``ifc_mapping`` block."""

    entities: tuple[EntityMapping, ...]
    attributes: tuple[AttributeMapping, ...]

    @classmethod
    def from_params(cls, block: Any, where: str = "ifc_mapping") -> IfcMapping:
        """The mapping in ``block``; a :class:`ParameterError` (a ValueError) naming the parameter path otherwise."""
        block = _keys(block, where, required=("entities", "attributes"))
        entities = _block(block["entities"], f"{where}.entities")
        attributes = _block(block["attributes"], f"{where}.attributes")
        return cls(
            entities=tuple(_entity(name, spec, f"{where}.entities.{name}") for name, spec in entities.items()),
            attributes=tuple(_attribute(stem, spec, f"{where}.attributes.{stem}") for stem, spec in attributes.items()),
        )

    @property
    def entity_names(self) -> tuple[str, ...]:
        return tuple(e.entity for e in self.entities)


def _fail(where: str, message: str) -> ParameterError:
    return ParameterError(f"{where}: {message} (see {SOURCE_FILE} and docs/compliance.md)")


def _block(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not value:
        raise _fail(where, f"must be a non-empty mapping, got {value!r}")
    return value


def _keys(value: Any, where: str, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> Mapping[str, Any]:
    """``value`` as a mapping with all ``required`` keys and no key outside ``required + optional``."""
    if not isinstance(value, Mapping):
        raise _fail(where, f"must be a mapping with keys {list(required + optional)}, got {value!r}")
    allowed = required + optional
    for key in value:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise _fail(f"{where}.{key}", f"unknown key{hint}; allowed keys: {list(allowed)}")
    missing = [key for key in required if key not in value]
    if missing:
        raise _fail(where, f"missing key(s) {missing}")
    return value


def _string_list(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
        raise _fail(where, f"must be a non-empty list of strings, got {value!r}")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise _fail(f"{where}[{i}]", f"must be a non-empty string, got {item!r}")
    return tuple(value)


def _entity(name: Any, spec: Any, where: str) -> EntityMapping:
    if name not in ENTITIES:
        close = difflib.get_close_matches(str(name), sorted(ENTITIES), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise _fail(where, f"{name!r} is not an entity of the vocabulary (rulelens.data.rule_format.ENTITIES){hint}")
    spec = _keys(spec, where, required=("classes",), optional=("predefined_types",))
    classes = _string_list(spec["classes"], f"{where}.classes")
    for i, ifc_class in enumerate(classes):
        _check_ifc_class(ifc_class, f"{where}.classes[{i}]")
    predefined = spec.get("predefined_types")
    predefined_types = () if predefined is None else _string_list(predefined, f"{where}.predefined_types")
    return EntityMapping(entity=name, classes=classes, predefined_types=predefined_types)


def _attribute(stem: Any, spec: Any, where: str) -> AttributeMapping:
    spec = _keys(spec, where, required=("dimension", "sources"))
    dimension = spec["dimension"]
    if dimension not in DIMENSIONS:
        raise _fail(f"{where}.dimension", f"{dimension!r} is not a dimension (one of {list(DIMENSIONS)})")
    _check_stem(stem, dimension, where)
    sources = spec["sources"]
    if isinstance(sources, (str, Mapping)) or not isinstance(sources, (list, tuple)) or not sources:
        raise _fail(f"{where}.sources", f"must be a non-empty list of sources, got {sources!r}")
    return AttributeMapping(
        stem=stem,
        dimension=dimension,
        sources=tuple(_source(item, dimension, f"{where}.sources[{i}]") for i, item in enumerate(sources)),
    )


def _check_stem(stem: Any, dimension: str, where: str) -> None:
    """The key must be what the interpreter stores: a bare stem, or the full name of a boolean."""
    if not isinstance(stem, str) or not _STEM_RE.match(stem):
        raise _fail(where, f"attribute {stem!r} is not lower_snake_case")
    unit = attribute_unit(stem)
    if (dimension == "boolean") != (unit.dimension == "boolean"):
        raise _fail(
            where,
            f"a boolean attribute is named is_... or has_... and only a boolean is ({stem!r} is {dimension})",
        )
    if unit.dimension not in ("", "boolean"):
        suffix = stem[len(unit.stem) + 1 :]
        raise _fail(
            where,
            f"{stem!r} reads as the stem {unit.stem!r} with the unit suffix _{suffix}; key the attribute by its "
            f"stem {unit.stem!r} (a rule's {stem} reads the value stored under {unit.stem!r})",
        )


def _source(item: Any, dimension: str, where: str) -> Source:
    written_as_string = isinstance(item, str)
    spec = _keys({"source": item} if written_as_string else item, where, required=("source",), optional=SOURCE_KEYS[1:])
    path = spec["source"]
    owner, name = _split_source(path, where if written_as_string else f"{where}.source")
    if owner.startswith("Ifc"):
        _check_ifc_attribute(owner, name, where)
    to_gradient = spec.get("angle_to_gradient", False)
    if not isinstance(to_gradient, bool):
        raise _fail(f"{where}.angle_to_gradient", f"must be true or false, got {to_gradient!r}")
    if to_gradient and dimension != "fraction":
        raise _fail(f"{where}.angle_to_gradient", f"turns an angle into a gradient (fraction), not a {dimension}")
    return Source(
        path=path,
        owner=owner,
        name=name,
        unit=_unit(spec.get("unit"), "angle" if to_gradient else dimension, f"{where}.unit"),
        pattern=_pattern(spec.get("pattern"), dimension, f"{where}.pattern"),
        angle_to_gradient=to_gradient,
    )


def _split_source(path: Any, where: str) -> tuple[str, str]:
    if not isinstance(path, str) or "." not in path:
        raise _fail(where, f"{path!r} is not 'IfcClass.Attribute' or 'PropertySet.Property'")
    owner, name = path.split(".", 1)
    if not owner or not name or owner != owner.strip() or name != name.strip() or " " in owner:
        raise _fail(where, f"{path!r} is not 'IfcClass.Attribute' or 'PropertySet.Property'")
    return owner, name


def _unit(suffix: Any, dimension: str, where: str) -> str | None:
    if suffix is None:
        return None
    if suffix not in UNIT_SUFFIXES:
        raise _fail(where, f"{suffix!r} is not a unit suffix (one of {sorted(UNIT_SUFFIXES)})")
    suffix_dimension = UNIT_SUFFIXES[suffix][0]
    if suffix_dimension != dimension:
        raise _fail(where, f"{suffix!r} is a {suffix_dimension} unit; the raw value is a {dimension}")
    return suffix


def _pattern(text: Any, dimension: str, where: str) -> re.Pattern | None:
    if text is None:
        return None
    if dimension not in QUANTITY_DIMENSIONS:
        raise _fail(where, f"pulls a number out of text; a {dimension} attribute has no number")
    if not isinstance(text, str):
        raise _fail(where, f"must be a regular expression (a string), got {text!r}")
    try:
        compiled = re.compile(text)
    except re.error as error:
        raise _fail(where, f"{text!r} is not a regular expression ({error})") from None
    if compiled.groups != 1:
        raise _fail(where, f"{text!r} must have exactly one group (the number), it has {compiled.groups}")
    return compiled


def _check_ifc_class(ifc_class: str, where: str) -> None:
    if not _IFC_CLASS_RE.match(ifc_class) or not _declarations(ifc_class):
        close = difflib.get_close_matches(ifc_class, _all_class_names(), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise _fail(where, f"{ifc_class!r} is not an IFC class of {', '.join(IFC_SCHEMAS)}{hint}")


def _check_ifc_attribute(ifc_class: str, name: str, where: str) -> None:
    _check_ifc_class(ifc_class, where)
    names = {a for declaration in _declarations(ifc_class) for a in _attribute_names(declaration)}
    if name not in names:
        close = difflib.get_close_matches(name, sorted(names), n=1)
        hint = f"; did you mean {ifc_class}.{close[0]}?" if close else ""
        raise _fail(where, f"{ifc_class} has no attribute {name!r} in {', '.join(IFC_SCHEMAS)}{hint}")


def _attribute_names(declaration: Any) -> tuple[str, ...]:
    if not hasattr(declaration, "all_attributes"):  # a type, not an entity
        return ()
    return tuple(a.name() for a in declaration.all_attributes())


@cache
def _declarations(ifc_class: str) -> tuple[Any, ...]:
    """The class's declarations in the IFC releases IfcOpenShell knows (none: not an IFC class)."""
    import ifcopenshell

    found = []
    for schema in IFC_SCHEMAS:
        try:
            found.append(ifcopenshell.schema_by_name(schema).declaration_by_name(ifc_class))
        except (RuntimeError, KeyError):
            continue
    return tuple(found)


@cache
def _all_class_names() -> tuple[str, ...]:
    import ifcopenshell

    names = set()
    for schema in IFC_SCHEMAS:
        names.update(e.name() for e in ifcopenshell.schema_by_name(schema).entities())
    return tuple(sorted(names))
