"""A distilled test suite per reference rule: the scenes that tell it apart from its neighbours.

Execution accuracy over distilled test suites (Zhong, Yu and Klein 2020, the official metric of
Spider) applied to compliance rules (docs/evaluation.md, "Rule quality by execution"):

1. **Atoms** of the reference rule (:func:`rule_atoms`): every quantity (its stem, unit and the
   rule's constants), boolean, category (its values), counted entity (``count``/``exists``) and
   listed document or place (``complies_with``/``within``).
2. **Candidate scenes** (:func:`candidate_scenes`), seeded: per quantity values around every
   constant (c - 1 and c + 1 in the attribute's unit, c -/+ 1%, c itself, c / 10 and 10 c, 0),
   booleans both ways, each category value and an unseen one, 0/1/2 instances of counted
   entities, a listed value present or absent, and every fact also missing; random scenes plus
   one-fact-at-a-time variations of them.
3. **Neighbours** (:func:`neighbour_rules`): the reference mutated one edit at a time
   (comparison swapped, constant moved, when/require swapped, when dropped, a conjunct dropped,
   and/or swapped, a negation added).
4. **Distillation** (:func:`distil`): greedy set cover over the candidates, so that every
   neighbour that differs from the reference on some candidate is told apart, plus one scene
   per verdict the reference can give.

The suite is checked against an independent pool of random scenes (another seed): the share of
the neighbours that pool can tell apart which the suite tells apart too (``kill_rate``).
"""

from __future__ import annotations

import ast
import copy
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from rulelens.data.rule_format import is_number, numeric_constants
from rulelens.data.rule_interpreter import (
    CompiledRule,
    attribute_unit,
    compile_rule,
    evaluate_instance,
)

MISSING = object()  # a fact left out of the scene
UNSEEN = "unseen value"  # a category value no rule names


@dataclass
class Atom:
    """One fact the rule reads: ``kind`` number | boolean | category | count | listed."""

    kind: str
    entity: str
    stem: str
    values: list = field(default_factory=list)  # candidate values (SI for numbers)


def _around(constant: float) -> list[float]:
    """Values in the rule's unit that sit on, just beside and far from a constant."""
    return [
        constant - 1,
        constant - 0.01 * abs(constant),
        constant,
        constant + 0.01 * abs(constant),
        constant + 1,
        constant / 10,
        constant * 10,
        0.0,
    ]


def _string_constants(node: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def rule_atoms(rule: CompiledRule) -> list[Atom]:
    """Every fact ``rule`` reads, with the values worth trying for it."""
    trees = [t for t in (rule.when, rule.require) if t is not None]
    constants = sorted(set(c for tree in trees for c in numeric_constants(tree)))
    atoms: dict[tuple[str, str, str], Atom] = {}
    compared_with_strings: dict[tuple[str, str], list[str]] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                strings = _string_constants(node)
                for side in [node.left, *node.comparators]:
                    if isinstance(side, ast.Attribute) and strings:
                        compared_with_strings.setdefault((side.value.id, side.attr), []).extend(strings)
            if isinstance(node, ast.Call) and node.func.id in ("count", "exists") and node.args:
                entity = getattr(node.args[0], "id", None)
                if entity:
                    atoms.setdefault(("count", entity, ""), Atom("count", entity, "", [0, 1, 2]))
            if isinstance(node, ast.Call) and node.func.id in ("complies_with", "within") and len(node.args) == 2:
                entity, value = getattr(node.args[0], "id", None), getattr(node.args[1], "value", None)
                if entity and isinstance(value, str):
                    atom = atoms.setdefault(
                        ("listed", entity, node.func.id), Atom("listed", entity, node.func.id, [[]])
                    )
                    atom.values.append([value])
    for tree in trees:
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute):
                continue
            entity, unit = node.value.id, attribute_unit(node.attr)
            strings = compared_with_strings.get((entity, node.attr))
            if strings:
                key = ("category", entity, unit.stem)
                atoms.setdefault(key, Atom("category", entity, unit.stem, sorted(set(strings)) + [UNSEEN]))
            elif unit.dimension == "boolean" or (unit.dimension == "" and not constants):
                atoms.setdefault(("boolean", entity, unit.stem), Atom("boolean", entity, unit.stem, [True, False]))
            else:
                atom = atoms.setdefault(("number", entity, unit.stem), Atom("number", entity, unit.stem, []))
                values = {unit.si(v) for c in (constants or [1.0, 2.0, 10.0]) for v in _around(c)}
                atom.values = sorted(set(atom.values) | values)
    return list(atoms.values())


def build_scene(atoms: Sequence[Atom], assignment: Sequence) -> dict:
    """The scene an assignment of values (or MISSING) to the atoms describes (subject instance first)."""
    facts: dict[str, dict] = {}
    counts: dict[str, int | None] = {}
    for atom, value in zip(atoms, assignment):
        if atom.kind == "count":
            counts[atom.entity] = None if value is MISSING else int(value)
            continue
        if value is MISSING:
            facts.setdefault(atom.entity, {})
            continue
        facts.setdefault(atom.entity, {})[atom.stem] = value
    scene: dict[str, list] = {}
    for entity in set(facts) | set(counts):
        n = counts.get(entity, 1) if entity in counts else 1
        if n is None:
            continue  # the scene does not say how many there are
        scene[entity] = [dict(facts.get(entity, {})) for _ in range(n)]
    return scene


def scene_json(scene: dict) -> str:
    """A canonical JSON text of a scene (the suite table stores scenes this way)."""
    return json.dumps(scene, sort_keys=True)


def candidate_scenes(atoms: Sequence[Atom], rng: np.random.Generator, n_random: int = 24) -> list[dict]:
    """Random scenes over the atoms' values (each fact missing one time in eight), each with its
    one-fact-at-a-time variations; duplicates removed."""
    if not atoms:
        return [{}]
    options = [list(a.values) + [MISSING] for a in atoms]
    seen, scenes = set(), []

    def add(assignment):
        scene = build_scene(atoms, assignment)
        key = scene_json(scene)
        if key not in seen:
            seen.add(key)
            scenes.append(scene)

    for _ in range(n_random):
        base = [opts[rng.integers(len(opts) - 1)] if rng.random() > 0.125 else MISSING for opts in options]
        add(base)
        for i, opts in enumerate(options):
            for value in opts:
                add([*base[:i], value, *base[i + 1 :]])
    return scenes


def random_scenes(atoms: Sequence[Atom], rng: np.random.Generator, n: int) -> list[dict]:
    """Independent random scenes (the pool a suite is checked against)."""
    options = [list(a.values) + [MISSING] for a in atoms]
    return [build_scene(atoms, [opts[rng.integers(len(opts))] for opts in options]) for _ in range(n)]


# ------------------------------------------------------------------ neighbours
_SWAPS = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}
_FLIPS = {ast.Lt: ast.Gt, ast.Gt: ast.Lt, ast.LtE: ast.GtE, ast.GtE: ast.LtE}


def _mutations(tree: ast.AST) -> Iterable[tuple[str, ast.AST]]:
    """(kind, mutated copy) for every single edit of ``tree``."""
    nodes = list(ast.walk(tree))
    for index, node in enumerate(nodes):
        if isinstance(node, ast.Compare):
            for position, op in enumerate(node.ops):
                for table, kind in ((_SWAPS, "comparison swapped"), (_FLIPS, "comparison reversed")):
                    if type(op) in table:
                        yield kind, _edit(tree, index, lambda n, p=position, t=table: _set_op(n, p, t))
        if is_number(node):
            for factor in (0.9, 1.1):
                yield "constant moved", _edit(tree, index, lambda n, f=factor: setattr(n, "value", n.value * f))
        if isinstance(node, ast.BoolOp):
            flipped = ast.Or if isinstance(node.op, ast.And) else ast.And
            yield "and/or swapped", _edit(tree, index, lambda n, o=flipped: setattr(n, "op", o()))
            for drop in range(len(node.values)):
                yield "conjunct dropped", _edit(tree, index, lambda n, d=drop: n.values.pop(d))
        if isinstance(node, (ast.Compare, ast.Attribute, ast.Call)) and not isinstance(node, ast.Attribute):
            yield "negation added", _edit(tree, index, None, negate=True)


def _set_op(node: ast.Compare, position: int, table: dict) -> None:
    node.ops[position] = table[type(node.ops[position])]()


def _edit(tree: ast.AST, index: int, change, negate: bool = False) -> ast.AST:
    clone = copy.deepcopy(tree)
    target = list(ast.walk(clone))[index]
    if negate:
        return _replace(clone, target, ast.UnaryOp(op=ast.Not(), operand=target))
    change(target)
    if isinstance(target, ast.BoolOp) and len(target.values) == 1:
        return _replace(clone, target, target.values[0])
    return clone


def _replace(tree: ast.AST, old: ast.AST, new: ast.AST) -> ast.AST:
    if tree is old:
        return new
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, name, new)
                return tree
            if isinstance(value, list) and any(v is old for v in value):
                value[[i for i, v in enumerate(value) if v is old][0]] = new
                return tree
    return tree


def _rule_text(identifier: str, subject: str, when: ast.AST | None, require: ast.AST) -> str:
    parts = [repr(identifier), subject]
    if when is not None:
        parts.append(f"when={ast.unparse(when)}")
    parts.append(f"require={ast.unparse(require)}")
    return f"rule({', '.join(parts)})"


def neighbour_rules(reference: str) -> list[tuple[str, str]]:
    """(kind, rule text) for the reference's one-edit neighbours, each text distinct from the reference."""
    call = ast.parse(reference.strip(), mode="eval").body
    identifier, subject = call.args[0].value, call.args[1].id
    keywords = {kw.arg: kw.value for kw in call.keywords}
    when, require = keywords.get("when"), keywords["require"]
    out: list[tuple[str, str]] = []
    for kind, mutated in _mutations(require):
        out.append((kind, _rule_text(identifier, subject, when, mutated)))
    if when is not None:
        for kind, mutated in _mutations(when):
            out.append((f"{kind} (when)", _rule_text(identifier, subject, mutated, require)))
        out.append(("when/require swapped", _rule_text(identifier, subject, require, when)))
        out.append(("when dropped", _rule_text(identifier, subject, None, require)))
    canonical = _rule_text(identifier, subject, when, require)
    seen, unique = {canonical}, []
    for kind, text in out:
        if text not in seen:
            seen.add(text)
            unique.append((kind, text))
    return unique


# ------------------------------------------------------------------ distillation
def verdicts(rule: CompiledRule, scenes: Sequence[dict]) -> list[str]:
    """The rule's verdict on each scene (its first subject instance)."""
    return [evaluate_instance(rule, scene) for scene in scenes]


@dataclass
class Suite:
    """The distilled scenes of one reference rule and how well they tell it from its neighbours."""

    scenes: list[dict]
    reference_verdicts: list[str]
    n_neighbours: int
    n_distinguishable: int
    n_killed: int

    @property
    def kill_rate(self) -> float:
        return self.n_killed / self.n_distinguishable if self.n_distinguishable else float("nan")


def distil(reference: CompiledRule, candidates: Sequence[dict], neighbours: Sequence[CompiledRule]) -> list[int]:
    """Indices of candidate scenes: a greedy set cover of the neighbours they distinguish, then one
    scene per verdict the reference gives on the candidates."""
    expected = verdicts(reference, candidates)
    kills = [{i for i, (a, b) in enumerate(zip(verdicts(n, candidates), expected)) if a != b} for n in neighbours]
    chosen: list[int] = []
    uncovered = {k for k, killed in enumerate(kills) if killed}
    while uncovered:
        gains: dict[int, int] = {}
        for k in uncovered:
            for scene in kills[k]:
                gains[scene] = gains.get(scene, 0) + 1
        best = min(gains, key=lambda s: (-gains[s], s))
        chosen.append(best)
        uncovered = {k for k in uncovered if best not in kills[k]}
    for verdict in sorted(set(expected)):
        if verdict not in {expected[i] for i in chosen}:
            chosen.append(expected.index(verdict))
    return chosen


def clause_seed(seed: int, clause_id: str) -> int:
    """A per-clause seed that does not depend on the order of the clauses."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{clause_id}".encode()).digest()[:8], "little")


def build_suite(
    reference: str, seed: int = 0, n_random: int = 24, n_check: int = 400, vocabulary: bool = True
) -> Suite:
    """The distilled suite of one reference rule, with its kill rate on an independent pool of scenes
    (``vocabulary=False``: entity names outside the rule format's vocabulary, e.g. translated LRML)."""
    rule = compile_rule(reference, vocabulary=vocabulary)
    atoms = rule_atoms(rule)
    rng = np.random.default_rng(seed)
    candidates = candidate_scenes(atoms, rng, n_random)
    neighbours = [compile_rule(text, vocabulary=vocabulary) for _, text in neighbour_rules(reference)]
    chosen = distil(rule, candidates, neighbours)
    scenes = [candidates[i] for i in chosen]
    check = random_scenes(atoms, np.random.default_rng([seed, 1]), n_check) if atoms else [{}]
    check_expected, suite_expected = verdicts(rule, check), verdicts(rule, scenes)
    distinguishable = killed = 0
    for neighbour in neighbours:
        if verdicts(neighbour, check) != check_expected:
            distinguishable += 1
            killed += verdicts(neighbour, scenes) != suite_expected
    return Suite(scenes, suite_expected, len(neighbours), distinguishable, killed)
