"""Run a rule of the project's format over facts: does the building comply? (docs/rule_format.md).

A safe interpreter: the rule is parsed by :func:`rulelens.data.rule_format.parse_rule` (the
whitelisted grammar only) and evaluated by an AST walk; nothing is ever passed to ``eval`` or
``exec``. Facts are a *scene*: per entity a list of instances, each a dict of attribute values::

    {"room": [{"headroom": 2.0, "is_habitable": True}], "building": [{"classification": "5"}]}

**Units.** A quantity is stored once per attribute *stem* in SI (``headroom`` in metres), and an
attribute's unit suffix converts on access: ``room.headroom_mm`` reads 2000.0 and
``room.headroom_m`` 2.0, so ``headroom_m >= 2.0`` and ``headroom_mm >= 2000`` are the same test.
Percentages are stored as fractions (``_pct`` 5 == ``_ratio`` 0.05), times in seconds, flows in
m3/s, pressures in Pa, forces in N. Booleans (``is_``/``has_``) and other attributes are stored
under their full name.

**Verdicts** (per subject instance, :func:`rule_verdict`): ``not_applicable`` (``when`` false),
``pass``, ``fail``, ``unknown`` (a needed fact is missing), or ``error`` with a named reason
(division by zero, a string compared with a number, a malformed rule). Logic is three-valued
(Kleene): ``False and unknown`` is False, ``True or unknown`` True.

**Helpers**: ``between(x, lo, hi)`` lo <= x <= hi; ``ratio(a, b)`` a / b; ``per(a, b)`` the
number of b-sized lots a needs, ceil(a / b) ("one per 50 persons"); ``min_of``/``max_of`` of
their arguments; ``all_of``/``any_of`` Kleene and/or of theirs; ``count(e)`` the instances of
``e`` in the scene and ``exists(e)`` whether there is one (unknown when the scene does not list
``e``); ``complies_with(e, "doc")`` and ``within(e, "place")`` look ``doc``/``place`` up in the
instance's ``complies_with``/``within`` lists.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rulelens.data.rule_format import RuleSyntaxError, parse_rule


class _Unknown:
    """The third truth value and the value of a missing fact."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        raise TypeError("UNKNOWN has no truth value; use the interpreter's three-valued operators")


UNKNOWN = _Unknown()
NOT_APPLICABLE, PASS, FAIL, UNKNOWN_VERDICT, ERROR = "not_applicable", "pass", "fail", "unknown", "error"
VERDICTS = (NOT_APPLICABLE, PASS, FAIL, UNKNOWN_VERDICT, ERROR)


class RuleEvaluationError(ValueError):
    """A rule that cannot be evaluated on these facts; the message names why."""


@dataclass(frozen=True)
class Unit:
    """An attribute's unit: the stem it is stored under, its dimension and the factor to SI."""

    stem: str
    dimension: str
    to_si: float

    def si(self, value: float) -> float:
        """The SI value of ``value`` in this unit (divides by 1000 rather than multiplying by 0.001,
        so that 1200 mm is exactly the double nearest 1.2 m and converts back to 1200)."""
        if self.to_si < 1:
            return value / round(1 / self.to_si)
        return value * self.to_si

    def from_si(self, value: float) -> float:
        """``value`` (SI) in this unit; the inverse of :meth:`si`."""
        if self.to_si < 1:
            return value * round(1 / self.to_si)
        return value / self.to_si


# suffix -> (dimension, factor to the SI value stored); longest suffixes are tried first
UNIT_SUFFIXES: dict[str, tuple[str, float]] = {
    "l_per_s": ("flow", 1e-3),
    "m3_per_s": ("flow", 1.0),
    "w_per_m2k": ("thermal_transmittance", 1.0),
    "r_value": ("thermal_resistance", 1.0),
    "mm": ("length", 1e-3),
    "km": ("length", 1e3),
    "m2": ("area", 1.0),
    "m3": ("volume", 1.0),
    "m": ("length", 1.0),
    "pct": ("fraction", 1e-2),
    "ratio": ("fraction", 1.0),
    "deg": ("angle", 1.0),
    "lux": ("illuminance", 1.0),
    "kpa": ("pressure", 1e3),
    "pa": ("pressure", 1.0),
    "kn": ("force", 1e3),
    "kg": ("mass", 1.0),
    "min": ("time", 60.0),
    "h": ("time", 3600.0),
    "s": ("time", 1.0),
    "db": ("sound_level", 1.0),
    "count": ("count", 1.0),
}
_SUFFIXES = "|".join(sorted(UNIT_SUFFIXES, key=len, reverse=True))
_SUFFIX_RE = re.compile(r"^(?P<stem>[a-z][a-z0-9_]*?)_(?P<suffix>" + _SUFFIXES + r")$")


def attribute_unit(attribute: str) -> Unit:
    """The stem, dimension and SI factor of an attribute name (dimension "" for booleans and categories)."""
    if attribute.startswith(("is_", "has_")):
        return Unit(attribute, "boolean", 1.0)
    match = _SUFFIX_RE.match(attribute)
    if not match:
        return Unit(attribute, "", 1.0)
    dimension, factor = UNIT_SUFFIXES[match["suffix"]]
    return Unit(match["stem"], dimension, factor)


Scene = Mapping[str, list[Mapping[str, Any]]]


def _and(values: list[Any]) -> Any:
    if any(v is False for v in values):
        return False
    return UNKNOWN if any(v is UNKNOWN for v in values) else True


def _or(values: list[Any]) -> Any:
    if any(v is True for v in values):
        return True
    return UNKNOWN if any(v is UNKNOWN for v in values) else False


def _truth(value: Any) -> Any:
    if value is UNKNOWN or isinstance(value, bool):
        return value
    raise RuleEvaluationError(f"type mismatch: {value!r} used as a condition")


def _number(value: Any, what: str) -> Any:
    if value is UNKNOWN:
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RuleEvaluationError(f"type mismatch: {what} needs a number, got {value!r}")
    return float(value)


_ORDER = {ast.Lt: float.__lt__, ast.LtE: float.__le__, ast.Gt: float.__gt__, ast.GtE: float.__ge__}


def _compare(op: ast.cmpop, left: Any, right: Any) -> Any:
    if left is UNKNOWN or right is UNKNOWN:
        return UNKNOWN
    if isinstance(op, (ast.In, ast.NotIn)):
        if not isinstance(right, list):
            raise RuleEvaluationError(f"type mismatch: 'in' needs a list, got {right!r}")
        if any(v is UNKNOWN for v in right):
            return UNKNOWN
        found = any(_equal(left, v) for v in right)
        return found if isinstance(op, ast.In) else not found
    if isinstance(op, (ast.Eq, ast.NotEq)):
        same = _equal(left, right)
        return same if isinstance(op, ast.Eq) else not same
    return _ORDER[type(op)](_number(left, "a comparison"), _number(right, "a comparison"))


def _equal(left: Any, right: Any) -> bool:
    numbers = [isinstance(v, (int, float)) and not isinstance(v, bool) for v in (left, right)]
    if numbers[0] != numbers[1] and not (isinstance(left, bool) and isinstance(right, bool)):
        raise RuleEvaluationError(f"type mismatch: {left!r} compared with {right!r}")
    if all(numbers):
        return math.isclose(float(left), float(right), rel_tol=1e-9, abs_tol=1e-12)
    return left == right


class _Evaluator:
    """The AST walk over one scene, the subject bound to one of its instances."""

    def __init__(self, scene: Scene, subject: str, instance: Mapping[str, Any] | None):
        self.scene, self.subject, self.instance = scene, subject, instance

    def instance_of(self, entity: str) -> Mapping[str, Any] | None:
        if entity == self.subject and self.instance is not None:
            return self.instance
        instances = self.scene.get(entity)
        return instances[0] if instances else None

    def attribute(self, entity: str, attribute: str) -> Any:
        instance = self.instance_of(entity)
        unit = attribute_unit(attribute)
        if instance is None or unit.stem not in instance or instance[unit.stem] is None:
            return UNKNOWN
        value = instance[unit.stem]
        if unit.dimension in ("", "boolean"):
            return value
        return unit.from_si(_number(value, f"{entity}.{attribute}"))

    def __call__(self, node: ast.AST) -> Any:
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            raise RuleEvaluationError(f"{type(node).__name__} cannot be evaluated")
        return method(node)

    def visit_Constant(self, node: ast.Constant) -> Any:
        if isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            value = float(node.value)
            if not math.isfinite(value):
                raise RuleEvaluationError(f"number out of range: {node.value!r}")
            return value
        return node.value

    def visit_Name(self, node: ast.Name) -> Any:
        if node.id in ("True", "False"):
            return node.id == "True"
        raise RuleEvaluationError(f"entity {node.id!r} used as a value (write entity.attribute)")

    def visit_Attribute(self, node: ast.Attribute) -> Any:
        return self.attribute(node.value.id, node.attr)

    def visit_List(self, node: ast.List) -> list:
        return [self(e) for e in node.elts]

    visit_Tuple = visit_List

    def visit_BoolOp(self, node: ast.BoolOp) -> Any:
        values = [_truth(self(v)) for v in node.values]
        return _and(values) if isinstance(node.op, ast.And) else _or(values)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        value = self(node.operand)
        if isinstance(node.op, ast.Not):
            value = _truth(value)
            return value if value is UNKNOWN else not value
        value = _number(value, "'-'")
        return value if value is UNKNOWN else -value

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        left, right = _number(self(node.left), "arithmetic"), _number(self(node.right), "arithmetic")
        if left is UNKNOWN or right is UNKNOWN:
            return UNKNOWN
        if isinstance(node.op, ast.Div):
            if right == 0:
                raise RuleEvaluationError("division by zero")
            return left / right
        result = {ast.Mult: left * right, ast.Add: left + right, ast.Sub: left - right}[type(node.op)]
        if not math.isfinite(result):
            raise RuleEvaluationError("number out of range")
        return result

    def visit_Compare(self, node: ast.Compare) -> Any:
        values = [self(node.left), *[self(c) for c in node.comparators]]
        return _and([_compare(op, a, b) for op, a, b in zip(node.ops, values, values[1:])])

    def visit_Call(self, node: ast.Call) -> Any:
        name = node.func.id
        if node.keywords:
            raise RuleEvaluationError(f"{name}() takes no keyword arguments")
        if name in ("count", "exists"):
            entity = self._entity_argument(node, name)
            instances = self.scene.get(entity)
            if instances is None:
                return UNKNOWN
            return float(len(instances)) if name == "count" else len(instances) > 0
        if name in ("complies_with", "within"):
            return self._listed(node, name)
        args = [self(a) for a in node.args]
        if name in ("all_of", "any_of"):
            values = [_truth(a) for a in args]
            return _and(values) if name == "all_of" else _or(values)
        numbers = [_number(a, f"{name}()") for a in args]
        if any(a is UNKNOWN for a in numbers):
            return UNKNOWN
        return _numeric_helper(name, numbers)

    def _entity_argument(self, node: ast.Call, name: str) -> str:
        if len(node.args) < 1 or not isinstance(node.args[0], ast.Name):
            raise RuleEvaluationError(f"{name}() needs an entity as its first argument")
        return node.args[0].id

    def _listed(self, node: ast.Call, name: str) -> Any:
        entity = self._entity_argument(node, name)
        if len(node.args) != 2 or not isinstance(node.args[1], ast.Constant) or not isinstance(node.args[1].value, str):
            raise RuleEvaluationError(f"{name}() takes an entity and a string")
        instance = self.instance_of(entity)
        listed = None if instance is None else instance.get(name)
        if listed is None:
            return UNKNOWN
        return node.args[1].value in listed


def _numeric_helper(name: str, args: list[float]) -> Any:
    def arity(n: int) -> None:
        if len(args) != n:
            raise RuleEvaluationError(f"{name}() takes {n} arguments, got {len(args)}")

    if name == "between":
        arity(3)
        return args[1] <= args[0] <= args[2]
    if name in ("ratio", "per"):
        arity(2)
        if args[1] == 0:
            raise RuleEvaluationError(f"division by zero in {name}()")
        return args[0] / args[1] if name == "ratio" else float(math.ceil(args[0] / args[1] - 1e-9))
    if name in ("min_of", "max_of"):
        if not args:
            raise RuleEvaluationError(f"{name}() needs at least one argument")
        return min(args) if name == "min_of" else max(args)
    raise RuleEvaluationError(f"unknown helper {name}()")


@dataclass(frozen=True)
class CompiledRule:
    """A parsed rule ready to run: its subject and the ``when``/``require`` expression trees."""

    text: str
    subject: str
    when: ast.AST | None
    require: ast.AST


def compile_rule(text: str, vocabulary: bool = True) -> CompiledRule:
    """Parse and validate ``text`` (RuleSyntaxError when it is not a rule of the format; ``vocabulary=False``
    accepts any entity name, for rules translated from another notation)."""
    parse_rule(text, vocabulary=vocabulary)
    call = ast.parse(text.strip(), mode="eval").body
    keywords = {kw.arg: kw.value for kw in call.keywords}
    return CompiledRule(text=text, subject=call.args[1].id, when=keywords.get("when"), require=keywords["require"])


def evaluate_instance(rule: CompiledRule, scene: Scene, instance: Mapping[str, Any] | None = None) -> str:
    """The verdict of ``rule`` for one subject instance of ``scene`` (the subject's first one by default)."""
    evaluate = _Evaluator(scene, rule.subject, instance)
    try:
        applies = True if rule.when is None else _truth(evaluate(rule.when))
        if applies is False:
            return NOT_APPLICABLE
        passes = _truth(evaluate(rule.require))
    except RuleEvaluationError:
        return ERROR
    except RecursionError:
        return ERROR
    if applies is UNKNOWN:
        return UNKNOWN_VERDICT  # whether it applies is unknown: so is the verdict
    return UNKNOWN_VERDICT if passes is UNKNOWN else (PASS if passes else FAIL)


def attribute_value(
    rule: CompiledRule, scene: Scene, instance: Mapping[str, Any] | None, entity: str, attribute: str
) -> Any:
    """The value ``rule`` reads for ``entity.attribute`` (in the attribute's unit; UNKNOWN when missing).

    Raises RuleEvaluationError when the stored value is not a number and the attribute's unit needs one.
    """
    return _Evaluator(scene, rule.subject, instance).attribute(entity, attribute)


def explain_instance(rule: CompiledRule, scene: Scene, instance: Mapping[str, Any] | None = None) -> str:
    """The error message of an ``error`` verdict ("" otherwise), for reports."""
    evaluate = _Evaluator(scene, rule.subject, instance)
    try:
        if rule.when is not None:
            _truth(evaluate(rule.when))
        _truth(evaluate(rule.require))
    except RuleEvaluationError as error:
        return str(error)
    return ""


def rule_verdict(text: str, scene: Scene) -> list[str]:
    """Per subject instance of ``scene``, the verdict of the rule ``text`` (["error"] for an invalid rule).

    A scene without any instance of the subject is judged once, on no subject instance (its
    attributes unknown).
    """
    try:
        rule = compile_rule(text)
    except RuleSyntaxError:
        return [ERROR]
    instances = list(scene.get(rule.subject) or []) or [None]
    return [evaluate_instance(rule, scene, instance) for instance in instances]
