"""The project's rule format (docs/rule_format.md): one ``rule(...)`` call per clause.

A rule is a single-line Python expression, so Python's own parser checks its syntax and a
small AST walk checks the vocabulary::

    rule("BCA C.3.2.1", room, when=room.is_habitable, require=room.headroom_m >= 2.0)

This module parses rules, reports why a rule is invalid, and lists the numbers a rule
states (used to check that a rule carries every number of its clause).

Python's parser takes a few spellings the documented format leaves out, and the declared grammar
(``grammars/rulelens.gbnf``, which constrained decoding enforces) with it: ``require=`` before
``when=``, string prefixes (``r'..'``), triple quotes, implicit concatenation (``"a" "b"``), ``**``
arguments, and whitespace other than spaces and tabs between tokens. :func:`parse_rule` refuses them
too, so every valid rule is a sentence of the grammar (tests/test_rule_grammar.py).
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
import warnings
from dataclasses import dataclass

ENTITIES = frozenset(
    """building storey room space dwelling stair flight landing riser tread ramp handrail
    balustrade barrier door doorway window glazing opening exit escape_route corridor lobby
    wall partition ceiling roof floor compartment sprinkler_system alarm_system smoke_detector
    hydrant extinguisher hose_reel lift shaft duct ventilation fan kitchen bathroom toilet
    urinal basin shower sanitary_fixture drain pipe gully manhole tank parking_space
    accessible_parking_space carpark driveway aisle kerb accessway pathway signage
    lighting luminaire beam column slab foundation footing pile truss joist rafter bracing
    insulation envelope basement balcony deck pool pool_barrier fence gate boiler heater
    chimney flue hearth garage bedroom habitable_room site boundary cladding membrane
    occupancy threshold bicycle_parking hot_water_system solar_panel fire_door smoke_vent""".split()
)
HELPERS = frozenset(
    {"between", "complies_with", "ratio", "count", "exists", "all_of", "any_of", "min_of", "max_of", "per", "within"}
)
_ATTRIBUTE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_ALLOWED_NODES = (
    ast.Expression,
    ast.Call,
    ast.keyword,
    ast.Constant,
    ast.Name,
    ast.Attribute,
    ast.Load,
    ast.Compare,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.BinOp,
    ast.Mult,
    ast.Div,
    ast.Add,
    ast.Sub,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.Eq,
    ast.NotEq,
    ast.In,
    ast.NotIn,
    ast.List,
    ast.Tuple,
)


class RuleSyntaxError(ValueError):
    """A rule that is not valid in the project's rule format; the message says why."""


@dataclass(frozen=True)
class ParsedRule:
    """The parts of a valid rule: identifier, subject entity, and condition/requirement source."""

    identifier: str
    subject: str
    when: str | None
    require: str
    numbers: tuple[float, ...]


def parse_rule(text: str, vocabulary: bool = True) -> ParsedRule:
    """Parse and validate one rule; raise RuleSyntaxError naming the first problem.

    ``vocabulary=False`` checks the grammar only (entities and helpers of another notation, e.g.
    LRML rules translated for execution); the allowed syntax is the same whitelist.
    """
    try:
        with warnings.catch_warnings():  # '1and', '2(x)': Python warns, the checks below decide
            warnings.simplefilter("ignore", SyntaxWarning)
            tree = ast.parse(text.strip(), mode="eval")
            compile(tree, "<rule>", "eval")  # what only the compiler rejects: a keyword given twice
    except SyntaxError as error:
        where = f" at column {error.offset}" if error.offset else ""
        raise RuleSyntaxError(f"not a Python expression: {error.msg}{where}") from None
    call = tree.body
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "rule"):
        raise RuleSyntaxError("a rule must be a single call to rule(...)")
    _check_nodes(tree)
    _check_spelling(text.strip())
    identifier, subject = _positional_parts(call, vocabulary)
    keywords = {kw.arg: kw.value for kw in call.keywords}
    unknown = set(keywords) - {"when", "require"}
    if unknown:
        raise RuleSyntaxError(f"unknown keyword(s) {sorted(unknown)}; only when= and require=")
    if "require" not in keywords:
        raise RuleSyntaxError("rule(...) needs a require= expression")
    if [kw.arg for kw in call.keywords][-1] != "require":
        raise RuleSyntaxError("when= comes before require=")
    for expression in keywords.values():
        _check_vocabulary(expression, vocabulary)
    when = keywords.get("when")
    return ParsedRule(
        identifier=identifier,
        subject=subject,
        when=ast.unparse(when) if when is not None else None,
        require=ast.unparse(keywords["require"]),
        numbers=tuple(numeric_constants(tree)),
    )


def is_valid_rule(text: str) -> bool:
    """True when ``text`` parses as a rule in the project's format."""
    try:
        parse_rule(text)
    except RuleSyntaxError:
        return False
    return True


def _check_spelling(text: str) -> None:
    """Refuse what Python's parser takes but the documented format (and its grammar) does not."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError) as error:
        raise RuleSyntaxError(f"not a rule: {error}") from None
    previous = None
    for token in tokens:
        if token.type == tokenize.ENDMARKER or (token.type == tokenize.NEWLINE and not token.string):
            continue
        if token.start[0] != 1 or token.end[0] != 1 or token.type in (tokenize.NL, tokenize.NEWLINE):
            raise RuleSyntaxError("a rule is one line")
        if token.type == tokenize.ERRORTOKEN:  # '\r', which Python's own tokenizer reads as a line break
            raise RuleSyntaxError(f"character {token.string!r} is not allowed outside strings")
        if token.type == tokenize.STRING:
            if token.string[0] not in "\"'" or token.string[:3] in ('"""', "'''"):
                raise RuleSyntaxError(f"string {token.string[:12]}: plain single-quoted or double-quoted strings only")
            if previous is not None and previous.type == tokenize.STRING:
                raise RuleSyntaxError("two strings in a row (implicit concatenation)")
        if token.type == tokenize.OP and token.string == "**":
            raise RuleSyntaxError("** is not allowed in a rule")
        gap = text[previous.end[1] : token.start[1]] if previous is not None else ""
        if gap.strip(" \t"):
            raise RuleSyntaxError(f"whitespace {gap!r} between tokens: spaces and tabs only")
        previous = token


def _check_nodes(tree: ast.AST) -> None:
    """Reject any syntax outside the small expression subset the format allows."""
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise RuleSyntaxError(f"{type(node).__name__} is not allowed in a rule")


def _positional_parts(call: ast.Call, vocabulary: bool = True) -> tuple[str, str]:
    """The identifier string and subject entity that every rule starts with."""
    if len(call.args) != 2:
        raise RuleSyntaxError("rule(...) takes exactly two positional arguments: identifier, subject")
    identifier, subject = call.args
    if not (isinstance(identifier, ast.Constant) and isinstance(identifier.value, str) and identifier.value.strip()):
        raise RuleSyntaxError("the first argument must be the clause identifier as a string")
    if not isinstance(subject, ast.Name) or (vocabulary and subject.id not in ENTITIES):
        name = getattr(subject, "id", ast.unparse(subject))
        raise RuleSyntaxError(f"subject {name!r} is not an entity of the vocabulary")
    return identifier.value, subject.id


def _check_vocabulary(expression: ast.AST, vocabulary: bool = True) -> None:
    """Entities, attributes and helper calls must come from the documented vocabulary (entities: any
    name when ``vocabulary`` is off; helpers always, since only they can be run)."""
    entities = ENTITIES if vocabulary else _AnyName()
    for node in ast.walk(expression):
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in HELPERS:
                raise RuleSyntaxError(f"unknown function {ast.unparse(node.func)!r}")
        elif isinstance(node, ast.Attribute):
            if not _ATTRIBUTE_RE.match(node.attr):
                raise RuleSyntaxError(f"attribute {node.attr!r} is not lower_snake_case")
            if not (isinstance(node.value, ast.Name) and node.value.id in entities):
                raise RuleSyntaxError(f"attribute {ast.unparse(node)!r} must be entity.attribute")
        elif isinstance(node, ast.Name) and node.id not in entities and node.id not in HELPERS:
            if node.id not in ("True", "False"):
                raise RuleSyntaxError(f"name {node.id!r} is not an entity of the vocabulary")


class _AnyName:
    """Every name is an entity (grammar-only checking)."""

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name not in HELPERS and name not in ("True", "False")


def numeric_constants(tree: ast.AST) -> list[float]:
    """Numeric constants of a rule or expression tree, signs applied, in source order."""
    values = []
    for node in ast.walk(tree):
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and is_number(node.operand):
            values.append(-float(node.operand.value))
        elif is_number(node):
            values.append(float(node.value))
    return values


def is_number(node: ast.AST) -> bool:
    """A numeric literal (not a boolean)."""
    return isinstance(node, ast.Constant) and type(node.value) in (int, float)


_CLAUSE_NUMBER_RE = re.compile(r"(?<![\w.])(\d{1,3}(?:[ ,]\d{3})+|\d+(?:\.\d+)?|\.\d+)(?![\w.]*\d)")


def clause_numbers(text: str, skip_identifiers: bool = True) -> list[float]:
    """Numbers a clause states (``1 200`` -> 1200, ``1:12`` -> 1 and 12), identifiers excluded."""
    from rulelens.words import NUMERICAL_CONSTRAINT, split_words

    values = []
    for word in split_words(text):
        if skip_identifiers and word.category != NUMERICAL_CONSTRAINT:
            continue
        for part in re.split(r"[:]", word.text.rstrip("%")):
            digits = part.replace(" ", "").replace(",", "")
            if re.fullmatch(r"\d+(?:\.\d+)?|\.\d+", digits):
                values.append(float(digits))
    return values


def missing_numbers(clause: str, rule_text: str) -> list[float]:
    """Clause numbers absent from the rule (a percentage may appear as a fraction)."""
    stated = parse_rule(rule_text).numbers
    missing = []
    for value in clause_numbers(clause):
        if not any(_same_number(value, s) for s in stated):
            missing.append(value)
    return missing


def _same_number(clause_value: float, rule_value: float) -> bool:
    """Equal, or equal as a percentage written as a fraction (5% -> 0.05)."""
    return abs(clause_value - rule_value) < 1e-9 or abs(clause_value / 100 - rule_value) < 1e-9
