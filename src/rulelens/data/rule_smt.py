"""Exact equivalence of two rules where it can be decided: an SMT check with z3 (docs/evaluation.md).

Both rules are translated into one z3 formula over the facts they read (a quantity per attribute
stem in SI as a real, a boolean per ``is_``/``has_`` attribute, a string per category, an integer
count per counted entity, a boolean per listed document or place). Two rules are equivalent when,
for every complete set of facts, they apply to the same buildings and pass the same ones::

    (when_a <-> when_b) and (when_a -> (require_a <-> require_b))

z3 answers *unsat* for the negation (``proved_equivalent``), *sat* with a model, which is
turned into a scene and checked with the interpreter (``proved_different``, the scene is the
counterexample), or *unknown* / a construct it cannot take (``undecided``: the distilled suite's
answer stands). Linear arithmetic with ``between``, ``min_of``/``max_of``, ``per`` by a constant
(ceil) and comparisons is decided; products of two facts may time out. Facts are complete here:
the interpreter's ``unknown`` (a missing fact) is the suite's business.
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass
from fractions import Fraction

from rulelens.data.rule_interpreter import (
    attribute_unit,
    compile_rule,
    evaluate_instance,
)

PROVED_EQUIVALENT, PROVED_DIFFERENT, UNDECIDED = "proved_equivalent", "proved_different", "undecided"


class OutsideFragment(ValueError):
    """A construct the SMT translation does not take (the suite decides instead)."""


@dataclass(frozen=True)
class Equivalence:
    """The SMT answer and, when the rules differ, a scene on which they disagree."""

    status: str
    counterexample: dict | None = None
    reason: str = ""


_COMPARISONS = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def _real(z3, value: float):
    """An exact z3 rational for a Python number (floats as the binary fraction they hold)."""
    fraction = Fraction(repr(value)) if isinstance(value, float) else Fraction(value)  # 0.001 -> 1/1000
    return z3.RealVal(f"{fraction.numerator}/{fraction.denominator}")


class _Translator:
    def __init__(self, z3):
        self.z3 = z3
        self.variables: dict[tuple, object] = {}

    def var(self, key: tuple, sort: str):
        if key not in self.variables:
            name = "|" + "/".join(map(str, key)) + "|"
            make = {"real": self.z3.Real, "bool": self.z3.Bool, "string": self.z3.String, "int": self.z3.Int}[sort]
            self.variables[key] = make(name)
        variable = self.variables[key]
        expected = {
            "real": self.z3.is_real,
            "bool": self.z3.is_bool,
            "string": self.z3.is_string,
            "int": self.z3.is_int,
        }[sort]
        if not expected(variable):
            raise OutsideFragment(f"{key} used as two kinds of value")
        return variable

    def __call__(self, node: ast.AST, want: str = "any"):
        z3 = self.z3
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool):
                return z3.BoolVal(value)
            if isinstance(value, (int, float)):
                return _real(z3, value)
            if isinstance(value, str):
                return z3.StringVal(value)
        if isinstance(node, ast.Name) and node.id in ("True", "False"):
            return z3.BoolVal(node.id == "True")
        if isinstance(node, ast.Attribute):
            entity, unit = node.value.id, attribute_unit(node.attr)
            if unit.dimension == "boolean" or (unit.dimension == "" and want == "bool"):
                return self.var(("fact", entity, unit.stem), "bool")
            if unit.dimension == "" and want == "string":
                return self.var(("fact", entity, unit.stem), "string")
            return self.var(("fact", entity, unit.stem), "real") / _real(z3, unit.to_si)
        if isinstance(node, ast.BoolOp):
            parts = [self(v, "bool") for v in node.values]
            return z3.And(*parts) if isinstance(node.op, ast.And) else z3.Or(*parts)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not):
                return z3.Not(self(node.operand, "bool"))
            return -self(node.operand, "real")
        if isinstance(node, ast.BinOp):
            left, right = self(node.left, "real"), self(node.right, "real")
            return _ARITHMETIC[type(node.op)](left, right)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        raise OutsideFragment(f"{type(node).__name__} is outside the SMT fragment")

    def side(self, node: ast.AST, other: ast.AST):
        """A comparison operand, typed by what it is compared with (a string constant -> a category)."""
        if isinstance(other, ast.Constant) and isinstance(other.value, str):
            return self(node, "string")
        if isinstance(other, (ast.List, ast.Tuple)) and any(
            isinstance(e, ast.Constant) and isinstance(e.value, str) for e in other.elts
        ):
            return self(node, "string")
        if isinstance(other, ast.Constant) and isinstance(other.value, bool):
            return self(node, "bool")
        return self(node, "real")

    def compare(self, node: ast.Compare):
        z3 = self.z3
        operands = [node.left, *node.comparators]
        parts = []
        for op, a, b in zip(node.ops, operands, operands[1:]):
            if isinstance(op, (ast.In, ast.NotIn)):
                if not isinstance(b, (ast.List, ast.Tuple)):
                    raise OutsideFragment("'in' needs a literal list")
                left = self.side(a, b)
                found = z3.Or(*[left == self(e) for e in b.elts])
                parts.append(found if isinstance(op, ast.In) else z3.Not(found))
                continue
            parts.append(_COMPARISONS[type(op)](self.side(a, b), self.side(b, a)))
        return parts[0] if len(parts) == 1 else z3.And(*parts)

    def call(self, node: ast.Call):
        z3, name = self.z3, node.func.id
        if name in ("count", "exists"):
            count = self.var(("count", node.args[0].id), "int")
            return z3.ToReal(count) if name == "count" else count > 0
        if name in ("complies_with", "within"):
            return self.var((name, node.args[0].id, node.args[1].value), "bool")
        if name in ("all_of", "any_of"):
            parts = [self(a, "bool") for a in node.args]
            return z3.And(*parts) if name == "all_of" else z3.Or(*parts)
        args = [self(a, "real") for a in node.args]
        if name == "between":
            return z3.And(args[1] <= args[0], args[0] <= args[2])
        if name == "ratio":
            return args[0] / args[1]
        if name == "per":
            return -z3.ToReal(z3.ToInt(-args[0] / args[1]))  # ceil(a / b)
        if name in ("min_of", "max_of"):
            result = args[0]
            for a in args[1:]:
                result = z3.If(a < result, a, result) if name == "min_of" else z3.If(a > result, a, result)
            return result
        raise OutsideFragment(f"{name}() is outside the SMT fragment")


def _scene_from_model(z3, model, variables: dict) -> dict:
    facts: dict[str, dict] = {}
    counts: dict[str, int] = {}
    for key, variable in variables.items():
        value = model.eval(variable, model_completion=True)
        if key[0] == "count":
            counts[key[1]] = value.as_long()
            continue
        if z3.is_real(variable):
            exact = z3.is_rational_value(value)
            python = float(value.as_fraction()) if exact else float(value.as_decimal(12).rstrip("?"))
        elif z3.is_bool(variable):
            python = z3.is_true(value)
        else:
            python = value.as_string()
        entity = key[1]
        if key[0] in ("complies_with", "within"):
            listed = facts.setdefault(entity, {}).setdefault(key[0], [])
            if python:
                listed.append(key[2])
        else:
            facts.setdefault(entity, {})[key[2]] = python
    scene = {entity: [dict(f)] for entity, f in facts.items()}
    for entity, n in counts.items():
        scene[entity] = [dict(facts.get(entity, {})) for _ in range(max(n, 0))]
    return scene


def equivalence(generated: str, reference: str, timeout_ms: int = 2000, vocabulary: bool = True) -> Equivalence:
    """Decide whether ``generated`` and ``reference`` give the same verdict on every complete set of facts."""
    import z3

    try:
        a, b = compile_rule(generated, vocabulary=vocabulary), compile_rule(reference, vocabulary=vocabulary)
    except ValueError as error:
        return Equivalence(UNDECIDED, reason=f"not a rule: {error}")
    translate = _Translator(z3)
    try:
        when_a = translate(a.when, "bool") if a.when is not None else z3.BoolVal(True)
        when_b = translate(b.when, "bool") if b.when is not None else z3.BoolVal(True)
        require_a, require_b = translate(a.require, "bool"), translate(b.require, "bool")
        same = z3.And(when_a == when_b, z3.Implies(when_a, require_a == require_b))
    except (OutsideFragment, z3.Z3Exception, KeyError, AttributeError, IndexError) as error:
        return Equivalence(UNDECIDED, reason=str(error) or type(error).__name__)
    solver = z3.Solver()
    solver.set("timeout", int(timeout_ms))
    for key, variable in translate.variables.items():
        if key[0] == "count":
            solver.add(variable >= 0, variable <= 3)
    solver.add(z3.Not(same))
    answer = solver.check()
    if answer == z3.unsat:
        return Equivalence(PROVED_EQUIVALENT)
    if answer == z3.unknown:
        return Equivalence(UNDECIDED, reason=f"z3: {solver.reason_unknown()}")
    scene = _scene_from_model(z3, solver.model(), translate.variables)
    if evaluate_instance(a, scene) == evaluate_instance(b, scene):  # z3's x / 0 or rounding: not a real counterexample
        return Equivalence(UNDECIDED, reason="the model found does not separate the rules when run")
    return Equivalence(PROVED_DIFFERENT, counterexample=scene)
