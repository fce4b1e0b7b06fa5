"""Check rules against the elements of a building model (docs/compliance.md).

Every rule is run by the project's interpreter (:mod:`rulelens.data.rule_interpreter`) on each
element mapped to its subject entity, with the facts read from the IFC file
(:mod:`rulelens.compliance.ifc_model`). The element is the subject instance; the other entities a
rule names resolve to the element's own context where the model has one (its storey, the
building), otherwise to the model's first instance, as in the interpreter.

A verdict row keeps what a reviewer needs to trust it: the values the rule read (in the rule's own
units, ``door.width_mm = 700``), the attributes it needed and the model lacks (the reason a verdict
is ``unknown``), and the mapped sources whose value could not be used (a wrong type, named).
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rulelens.compliance.ifc_model import BuildingModel, Element
from rulelens.data.rule_format import RuleSyntaxError
from rulelens.data.rule_interpreter import (
    ERROR,
    UNKNOWN,
    VERDICTS,
    CompiledRule,
    RuleEvaluationError,
    attribute_unit,
    attribute_value,
    compile_rule,
    evaluate_instance,
    explain_instance,
)

CHECK_COLUMNS = [
    "clause_id",
    "rule_source",  # "variant" (the model's rule) or "reference" (the corpus rule)
    "global_id",
    "ifc_class",
    "name",
    "storey",
    "subject",
    "verdict",
    "values",  # JSON: "entity.attribute" -> value in the rule's unit
    "missing",  # JSON list: "entity.attribute" the rule needed and the model lacks
    "problems",  # JSON: stem -> why a mapped source could not give a value
    "reason",  # the error message of an ``error`` verdict
]
RULE_STATUS_COLUMNS = ["clause_id", "rule_source", "rule", "status", "subject", "n_elements", *VERDICTS]
CONTEXT_ENTITIES = ("storey", "building")


@dataclass(frozen=True)
class RuleCheck:
    """One rule's verdict rows and a status: ``checked``, ``unparsable: <why>`` or ``no elements: <subject>``."""

    rows: list[dict[str, Any]]
    status: str
    subject: str


def rule_attributes(rule: CompiledRule) -> list[tuple[str, str]]:
    """The ``entity.attribute`` pairs a rule reads, in order of first use (``when`` before ``require``)."""
    seen: dict[tuple[str, str], None] = {}
    for tree in (rule.when, rule.require):
        if tree is None:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                seen.setdefault((node.value.id, node.attr), None)
    return list(seen)


class ModelScene:
    """The interpreter's scene of one building model, with each element's context (its storey first).

    Built once per model: the instance dict of every element, the entity lists, and per storey a
    scene whose ``storey`` list starts with that storey, so that ``storey.x`` in a door's rule reads
    the door's own storey.
    """

    def __init__(self, model: BuildingModel):
        self.instances: dict[str, dict[str, Any]] = {e.global_id: dict(e.values) for e in model.elements}
        scene: dict[str, list[dict[str, Any]]] = {}
        for element in model.elements:
            for entity in element.entities:
                scene.setdefault(entity, []).append(self.instances[element.global_id])
        self.scene = scene
        self._by_storey: dict[str, dict[str, list[dict[str, Any]]]] = {}

    def for_element(self, element: Element) -> Mapping[str, list[dict[str, Any]]]:
        """The scene as ``element`` sees it: its own storey is the first ``storey`` instance."""
        storey = self.instances.get(element.storey_id)
        if storey is None or not self.scene.get("storey"):
            return self.scene
        if element.storey_id not in self._by_storey:
            others = [s for s in self.scene["storey"] if s is not storey]
            self._by_storey[element.storey_id] = {**self.scene, "storey": [storey, *others]}
        return self._by_storey[element.storey_id]


def _rounded(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value):
        return round(value, 6)
    return value


def values_read(
    rule: CompiledRule, scene: Mapping[str, list[dict[str, Any]]], instance: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """The values ``rule`` reads for one subject instance (rule units) and the attributes it lacks."""
    values, missing = {}, []
    for entity, attribute in rule_attributes(rule):
        name = f"{entity}.{attribute}"
        try:
            value = attribute_value(rule, scene, instance, entity, attribute)
        except RuleEvaluationError:  # a non-number where the rule's unit needs one: the problems column names it
            missing.append(name)
            continue
        if value is UNKNOWN:
            missing.append(name)
        else:
            values[name] = _rounded(value)
    return values, missing


def check_rule(
    text: str, clause_id: str, model: BuildingModel, scene: ModelScene, rule_source: str = "variant"
) -> RuleCheck:
    """Run one rule on every element of its subject entity; an unparsable rule checks nothing and says why."""
    try:
        rule = compile_rule(text)
    except RuleSyntaxError as error:
        return RuleCheck([], f"unparsable: {error}", "")
    elements = model.elements_of(rule.subject)
    if not elements:
        return RuleCheck([], f"no elements: no {rule.subject} in the model's mapping", rule.subject)
    needed_stems = {attribute_unit(a).stem for e, a in rule_attributes(rule) if e == rule.subject}
    rows = []
    for element in elements:
        instance = scene.instances[element.global_id]
        element_scene = scene.for_element(element)
        verdict = evaluate_instance(rule, element_scene, instance)
        values, missing = values_read(rule, element_scene, instance)
        problems = {stem: why for stem, why in element.problems.items() if stem in needed_stems}
        rows.append(
            {
                "clause_id": clause_id,
                "rule_source": rule_source,
                "global_id": element.global_id,
                "ifc_class": element.ifc_class,
                "name": element.name,
                "storey": element.storey,
                "subject": rule.subject,
                "verdict": verdict,
                "values": json.dumps(values, sort_keys=True),
                "missing": json.dumps(missing),
                "problems": json.dumps(problems, sort_keys=True),
                "reason": explain_instance(rule, element_scene, instance) if verdict == ERROR else "",
            }
        )
    return RuleCheck(rows, "checked", rule.subject)


def check_rules(
    rules: Iterable[tuple[str, str, str]], model: BuildingModel
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Verdict rows and one status row per ``(clause_id, rule_source, rule text)``; empty rules are skipped."""
    scene = ModelScene(model)
    rows, statuses = [], []
    for clause_id, rule_source, text in rules:
        if not isinstance(text, str) or not text.strip():
            continue
        result = check_rule(text, clause_id, model, scene, rule_source)
        rows.extend(result.rows)
        counts = {verdict: 0 for verdict in VERDICTS}
        for row in result.rows:
            counts[row["verdict"]] += 1
        statuses.append(
            {
                "clause_id": clause_id,
                "rule_source": rule_source,
                "rule": text,
                "status": result.status,
                "subject": result.subject,
                "n_elements": len(result.rows),
                **counts,
            }
        )
    return rows, statuses


def missing_counts(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """How many checked elements lacked each attribute (the model's gaps behind the unknowns)."""
    counts: dict[str, int] = {}
    for row in rows:
        for name in json.loads(row["missing"]):
            counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
