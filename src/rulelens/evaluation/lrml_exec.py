"""LRML rules as executable rules: the part of compact LRML the rule interpreter can run.

(docs/evaluation.md, "Rule quality by execution", LRML.) A compact LRML rule
``if(C),then(obligation(R))`` becomes the rule-format text ``rule("lrml", subject, when=C',
require=R')`` (:func:`lrml_to_rule`), evaluated by :mod:`rulelens.data.rule_interpreter` without
the rule format's entity vocabulary (LRML names its own entities). The mapping:

- ``and``/``or``/``not`` -> ``and``/``or``/``not``; ``obligation(X)`` -> X; ``prohibition(X)`` -> not X;
- ``greaterThan``/``greaterThanEqual``/``lessThan``/``lessThanEqual``/``equal``/``notEqual`` over
  attribute terms (``space.occupantLoad`` -> ``space.occupant_load``) and numbers; a number's unit
  (``350 mm``, ``2 m``, ``5%``) becomes the attribute's unit suffix, so the interpreter compares in SI;
- ``has(a, b)`` -> the boolean ``a.has_b``; ``is(a.b, c)`` -> ``a.b == "c"``, ``is(a, c)`` -> ``a.is_c``;
  any other predicate over two names ``p(a, b)`` -> the boolean ``a.p_b`` (``for``, ``within``,
  ``towards``, ... are facts about ``a``); ``complyWith(e, doc)`` -> ``complies_with(e, "doc")``;
  ``exist(e)`` -> ``exists(e)``;
- ``define(expr, x0)`` binds ``x0`` for the quoted arithmetic later (``'0.05 * x1'``).

Anything else (``permission``, ``sum``, ``forEach``, ``loop``, nested calls inside predicates,
unknown units) is not executable: :class:`NotExecutable` names the construct, and the clause is
left to the LRML term F1.
"""

from __future__ import annotations

import re

from rulelens.evaluation.lrml import LRMLSyntaxError, Node, parse_lrml

COMPARISONS = {
    "greaterthan": ">",
    "greaterthanequal": ">=",
    "lessthan": "<",
    "lessthanequal": "<=",
    "equal": "==",
    "notequal": "!=",
}
UNITS = {"mm": "mm", "m": "m", "km": "km", "m2": "m2", "m3": "m3", "%": "pct", "kpa": "kpa", "pa": "pa",
         "kn": "kn", "kg": "kg", "s": "s", "min": "min", "h": "h", "lux": "lux", "db": "db", "deg": "deg",
         "l/s": "l_per_s"}  # fmt: skip
_NUMBER_RE = re.compile(r"^(?P<value>-?\d+(?:\.\d+)?)\s*(?P<unit>[A-Za-z%/0-9]*)$")


class NotExecutable(ValueError):
    """An LRML construct the interpreter cannot run; the message names it."""


def snake(name: str) -> str:
    """``occupantLoad`` -> ``occupant_load``; other characters become ``_``."""
    text = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()
    text = re.sub(r"[^a-z0-9_]+", "_", text).strip("_")
    if not text or not text[0].isalpha():
        text = f"x_{text}"
    return text


def _atom(node: Node) -> str:
    if node.args is not None:
        raise NotExecutable(f"a call ({node.name}) where a name was expected")
    return node.name.strip("'\"")


def _number(text: str) -> tuple[float, str | None] | None:
    match = _NUMBER_RE.match(text.strip())
    if not match:
        return None
    unit = match["unit"].lower()
    if unit and unit not in UNITS:
        raise NotExecutable(f"unit {match['unit']!r}")
    return float(match["value"]), UNITS.get(unit) if unit else None


class _Translator:
    def __init__(self):
        self.bound: dict[str, str] = {}
        self.entities: list[str] = []

    def entity(self, name: str) -> str:
        entity = snake(name)
        if entity not in self.entities:
            self.entities.append(entity)
        return entity

    def attribute(self, text: str, unit: str | None = None) -> str:
        if "." not in text:
            raise NotExecutable(f"{text!r} is not an entity.attribute term")
        entity, _, attribute = text.partition(".")
        name = snake(attribute.replace(".", "_"))
        return f"{self.entity(entity)}.{name}_{unit}" if unit else f"{self.entity(entity)}.{name}"

    def condition(self, node: Node) -> str:
        name = node.name.lower()
        args = node.args or ()
        if node.args is None:
            raise NotExecutable(f"a bare name ({node.name}) where a condition was expected")
        if name in ("and", "or"):
            parts = [p for p in (self.condition(a) for a in args) if p != "True"]
            if not parts:
                return "True"
            return parts[0] if len(parts) == 1 else "(" + f" {name} ".join(parts) + ")"
        if name == "not":
            return f"not {self.condition(args[0])}"
        if name == "obligation":
            return self.condition(args[0])
        if name == "prohibition":
            return f"not {self.condition(args[0])}"
        if name == "define":
            self.bound[_atom(args[1])] = self.value(args[0])
            return "True"
        logical = [i for i, a in enumerate(args) if a.args is not None and a.name.lower() in ("and", "or")]
        if logical and name not in ("and", "or", "not", "obligation", "prohibition", "define"):
            i = logical[0]  # p(a, or(b, c)) -> or(p(a, b), p(a, c))
            spread = [Node(node.name, (*args[:i], option, *args[i + 1 :])) for option in args[i].args]
            return self.condition(Node(args[i].name, tuple(spread)))
        if name in COMPARISONS:
            return self.comparison(COMPARISONS[name], args)
        if name == "inbetween" and len(args) == 3:
            low, high = self.comparison(">=", (args[0], args[1])), self.comparison("<=", (args[0], args[2]))
            return f"({low} and {high})"
        if name == "complywith":
            return f'complies_with({self.entity(_atom(args[0]))}, "{_atom(args[1])}")'
        if name == "exist" and len(args) == 1:
            return f"exists({self.entity(_atom(args[0]))})"
        if name == "is" and len(args) == 2:
            subject, value = _atom(args[0]), _atom(args[1])
            if "." in subject:
                return f'{self.attribute(subject)} == "{value}"'
            return f"{self.entity(subject)}.is_{snake(value)}"
        if len(args) == 1 and args[0].args is None and name not in ("permission", "sum", "count"):
            return f"{self.entity(_atom(args[0]).split('.')[0])}.{snake(node.name)}"
        if len(args) == 2 and all(a.args is None for a in args) and name not in ("permission", "sum", "count"):
            subject, other = _atom(args[0]), _atom(args[1])
            prefix = "has" if name == "has" else snake(node.name)
            return f"{self.entity(subject.split('.')[0])}.{prefix}_{snake(other)}"
        raise NotExecutable(f"{node.name}()")

    def value(self, node: Node) -> str:
        text = _atom(node)
        if text in self.bound:
            return self.bound[text]
        number = _number(text)
        if number is not None:
            return repr(number[0])
        if "." in text:
            return self.attribute(text)
        if re.fullmatch(r"[\w\s.*/+\-()]+", text) and any(op in text for op in "*/+-"):
            return "(" + re.sub(r"[A-Za-z_][\w.]*", lambda m: self.value(Node(m.group())), text) + ")"
        return f'"{text}"'

    def comparison(self, op: str, args: tuple[Node, ...]) -> str:
        if len(args) != 2:
            raise NotExecutable(f"a comparison with {len(args)} arguments")
        left, right = _atom(args[0]), _atom(args[1])
        number = _number(right)
        if number is not None and number[1] and "." in left:
            return f"{self.attribute(left, number[1])} {op} {number[0]!r}"  # the unit goes to the attribute
        return f"{self.value(args[0])} {op} {self.value(args[1])}"


def lrml_to_rule(text: str) -> str:
    """The rule-format text of an LRML rule (NotExecutable or LRMLSyntaxError when it cannot be run)."""
    nodes = parse_lrml(text)
    by_name = {node.name.lower(): node for node in nodes}
    translate = _Translator()
    when = translate.condition(by_name["if"].args[0]) if "if" in by_name else None
    then = by_name.get("then") or (nodes[0] if len(nodes) == 1 else None)
    if then is None or not then.args:
        raise NotExecutable("no then(...) requirement")
    start = len(translate.entities)
    parts = [translate.condition(a) for a in then.args]
    parts = [p for p in parts if p != "True"]
    if not parts:
        raise NotExecutable("a requirement without a condition")
    require = parts[0] if len(parts) == 1 else " and ".join(parts)
    entities = translate.entities[start:] or translate.entities
    if not entities:
        raise NotExecutable("no entity")
    head = f'rule("lrml", {entities[0]}'
    return head + (f", when={when}" if when and when != "True" else "") + f", require={require})"


def executable(text: str) -> bool:
    """True when the LRML text translates into a rule the interpreter accepts."""
    from rulelens.data.rule_interpreter import compile_rule

    try:
        compile_rule(lrml_to_rule(text), vocabulary=False)
    except (NotExecutable, LRMLSyntaxError, ValueError, KeyError, IndexError):
        return False
    return True
