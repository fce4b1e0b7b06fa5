"""Rule quality by execution: does a generated rule decide compliance like the reference?

(docs/evaluation.md, "Rule quality by execution".) One distilled test suite per study clause
(:mod:`rulelens.data.rule_suite`), built once and shared by every model so that all are judged on
the same scenes; each generated rule is run on its clause's scenes with the safe interpreter
(:mod:`rulelens.data.rule_interpreter`) and, where the rules fall in the decidable fragment,
compared exactly by SMT (:mod:`rulelens.data.rule_smt`). Per rule:

- ``exec_match``: the same verdict as the reference on every scene of the suite (the subject
  entity and the identifier string aside: scenes describe facts, not names);
- ``exec_agreement``: the share of the suite's scenes with the same verdict;
- ``equivalence``: proved_equivalent | proved_different (``counterexample``: a scene on which the
  verdicts differ) | undecided | invalid (the rule does not parse);
- ``diagnosis``: why a rule that does not match differs (:func:`diagnose`).
"""

from __future__ import annotations

import ast
import json
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from rulelens.data.rule_format import RuleSyntaxError, is_number
from rulelens.data.rule_interpreter import attribute_unit, compile_rule, evaluate_instance
from rulelens.data.rule_smt import PROVED_DIFFERENT, PROVED_EQUIVALENT, UNDECIDED, equivalence
from rulelens.data.rule_suite import build_suite, clause_seed, scene_json

INVALID = "invalid"
SUITE_COLUMNS = ["clause_id", "case", "scene", "reference_verdict"]
SUITE_SUMMARY_COLUMNS = [
    "clause_id",
    "n_cases",
    "n_neighbours",
    "n_check",
    "n_distinguishable",
    "n_killed",
    "kill_rate",
    "note",
]
EXECUTION_COLUMNS = [
    "exec_match",
    "exec_agreement",
    "equivalence",
    "counterexample",
    "diagnosis",
    "constants_right",
    "conditions_right",
]
CONDITION_PROBLEMS = {"missing condition", "extra condition", "wrong comparison", "when/require confused"}
EXECUTION_METRICS = ("exec_match", "exec_agreement", PROVED_EQUIVALENT, PROVED_DIFFERENT, UNDECIDED)


NOTATIONS = ("rulelens", "lrml")


def executable_rule(text: str, notation: str = "rulelens") -> str:
    """The rule-format text the interpreter runs: the rule itself, or an LRML rule translated
    (:func:`rulelens.evaluation.lrml_exec.lrml_to_rule`); RuleSyntaxError when it cannot be run."""
    if notation == "rulelens":
        compile_rule(text)
        return text
    if notation != "lrml":
        raise ValueError(f"unknown notation {notation!r}; expected one of {NOTATIONS}")
    from rulelens.evaluation.lrml import LRMLSyntaxError
    from rulelens.evaluation.lrml_exec import NotExecutable, lrml_to_rule

    try:
        rule = lrml_to_rule(text)
        compile_rule(rule, vocabulary=False)
    except (NotExecutable, LRMLSyntaxError, KeyError, IndexError) as error:
        raise RuleSyntaxError(f"LRML not executable: {error}") from None
    return rule


def build_suites(
    clauses: pd.DataFrame, seed: int = 0, n_random: int = 24, n_check: int = 400, notation: str = "rulelens"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(suite table: one row per clause and scene, summary: one row per clause with its kill rate).

    A reference rule that does not run (invalid in the format, or LRML outside the executable part)
    gets no scenes and a note. ``notation="lrml"`` translates LRML references first.
    """
    rows, summary = [], []
    vocabulary = notation == "rulelens"
    for clause_id, reference in zip(clauses["clause_id"].astype(str), clauses["rule"].astype(str)):
        try:
            runnable = executable_rule(reference, notation)
            suite = build_suite(
                runnable, seed=clause_seed(seed, clause_id), n_random=n_random, n_check=n_check, vocabulary=vocabulary
            )
        except RuleSyntaxError as error:
            summary.append([clause_id, 0, 0, n_check, 0, 0, np.nan, f"reference rule not executable: {error}"])
            continue
        for case, (scene, verdict) in enumerate(zip(suite.scenes, suite.reference_verdicts)):
            rows.append([clause_id, case, scene_json(scene), verdict])
        summary.append(
            [
                clause_id,
                len(suite.scenes),
                suite.n_neighbours,
                n_check,
                suite.n_distinguishable,
                suite.n_killed,
                suite.kill_rate,
                "",
            ]
        )
    return pd.DataFrame(rows, columns=SUITE_COLUMNS), pd.DataFrame(summary, columns=SUITE_SUMMARY_COLUMNS)


# ------------------------------------------------------------------ diagnosis
def _facts(tree: ast.AST | None) -> set[tuple[str, str]]:
    if tree is None:
        return set()
    return {(n.value.id, attribute_unit(n.attr).stem) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}


def _constants(tree: ast.AST | None) -> list[float]:
    if tree is None:
        return []
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for a, b in zip(operands, operands[1:]):
                for attr, const in ((a, b), (b, a)):
                    if isinstance(attr, ast.Attribute) and is_number(const):
                        out.append(attribute_unit(attr.attr).si(float(const.value)))
    return sorted(out)


def _operators(tree: ast.AST | None) -> list[str]:
    if tree is None:
        return []
    names = [type(op).__name__ for n in ast.walk(tree) if isinstance(n, ast.Compare) for op in n.ops]
    return sorted(_normalised_op(n) for n in names)


def _normalised_op(name: str) -> str:
    return {"Gt": "Lt", "GtE": "LtE"}.get(name, name)  # a > b is b < a: direction is in the operands


def _conditions(tree: ast.AST | None) -> int:
    if tree is None:
        return 0
    return sum(isinstance(n, (ast.Compare, ast.Call)) or _is_boolean_fact(n) for n in ast.walk(tree))


def _is_boolean_fact(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and attribute_unit(node.attr).dimension == "boolean"


def constants_right(generated: str, reference: str, vocabulary: bool = True) -> float:
    """1.0 when the generated rule states every constant the reference compares with (in SI, so units
    may differ), 0.0 when not or when it does not parse; NaN when the reference compares with none."""
    ref = compile_rule(reference, vocabulary=vocabulary)
    wanted = _constants(ref.when) + _constants(ref.require)
    if not wanted:
        return np.nan
    try:
        gen = compile_rule(generated, vocabulary=vocabulary)
    except RuleSyntaxError:
        return 0.0
    stated = _constants(gen.when) + _constants(gen.require)
    return float(all(any(np.isclose(w, s, rtol=1e-9, atol=1e-12) for s in stated) for w in wanted))


def diagnose(generated: str, reference: str, vocabulary: bool = True) -> list[str]:
    """Why a generated rule may decide differently from the reference (empty when nothing differs).

    Read on the parsed rules: other entity (same attribute on another entity), other attribute,
    wrong constant (same facts, other numbers in SI), wrong comparison, missing / extra condition,
    when/require confused.
    """
    try:
        gen, ref = compile_rule(generated, vocabulary=vocabulary), compile_rule(reference, vocabulary=vocabulary)
    except RuleSyntaxError:
        return ["invalid rule"]
    out = []
    if _facts(gen.when) == _facts(ref.require) and _facts(gen.require) == _facts(ref.when) and ref.when is not None:
        out.append("when/require confused")
    gen_facts, ref_facts = _facts(gen.when) | _facts(gen.require), _facts(ref.when) | _facts(ref.require)
    gen_stems, ref_stems = {s for _, s in gen_facts}, {s for _, s in ref_facts}
    if gen_facts != ref_facts and gen_stems == ref_stems:
        out.append("other entity")
    elif gen_stems != ref_stems:
        out.append("other attribute")
    gen_constants = _constants(gen.when) + _constants(gen.require)
    ref_constants = _constants(ref.when) + _constants(ref.require)
    same_constants = len(gen_constants) == len(ref_constants) and np.allclose(gen_constants, ref_constants)
    if not same_constants and gen_stems & ref_stems:
        out.append("wrong constant")
    if _operators(gen.when) + _operators(gen.require) != _operators(ref.when) + _operators(ref.require):
        out.append("wrong comparison")
    gen_n, ref_n = _conditions(gen.when) + _conditions(gen.require), _conditions(ref.when) + _conditions(ref.require)
    if gen_n < ref_n:
        out.append("missing condition")
    elif gen_n > ref_n:
        out.append("extra condition")
    return out


# ------------------------------------------------------------------ scoring
def score_rule(
    generated: str, suite: pd.DataFrame, reference: str, smt_timeout_ms: int = 2000, notation: str = "rulelens"
) -> dict:
    """The execution columns of one generated rule against its clause's suite rows (both rules in ``notation``)."""
    vocabulary = notation == "rulelens"
    try:
        reference = executable_rule(reference, notation)
    except RuleSyntaxError:
        reference = None
    try:
        generated = executable_rule(generated, notation)
        rule = compile_rule(generated, vocabulary=vocabulary)
    except RuleSyntaxError:
        return {
            "exec_match": False if reference is not None else np.nan,
            "exec_agreement": 0.0 if reference is not None else np.nan,
            "equivalence": INVALID,
            "counterexample": "",
            "diagnosis": "invalid rule",
            "constants_right": _safe_constants_right(generated, reference, vocabulary),
            "conditions_right": 0.0 if reference is not None else np.nan,
        }
    if suite.empty or reference is None:
        return {
            "exec_match": np.nan,
            "exec_agreement": np.nan,
            "equivalence": UNDECIDED,
            "counterexample": "",
            "diagnosis": "no suite",
            "constants_right": np.nan,
            "conditions_right": np.nan,
        }
    got = [evaluate_instance(rule, json.loads(scene)) for scene in suite["scene"]]
    agree = [a == b for a, b in zip(got, suite["reference_verdict"])]
    proof = equivalence(generated, reference, timeout_ms=smt_timeout_ms, vocabulary=vocabulary)
    match = all(agree)
    problems = diagnose(generated, reference, vocabulary)
    differs = not match or proof.status == PROVED_DIFFERENT
    explained = "; ".join(problems) or "differs in structure"
    diagnosis = "" if proof.status == PROVED_EQUIVALENT or not differs else explained
    return {
        "exec_match": bool(match),
        "exec_agreement": float(np.mean(agree)),
        "equivalence": proof.status,
        "counterexample": scene_json(proof.counterexample) if proof.counterexample is not None else "",
        "diagnosis": diagnosis,
        "constants_right": _safe_constants_right(generated, reference, vocabulary),
        "conditions_right": float(proof.status == PROVED_EQUIVALENT or not set(problems) & CONDITION_PROBLEMS),
    }


def _safe_constants_right(generated: str, reference: str | None, vocabulary: bool) -> float:
    if reference is None:
        return np.nan  # the reference itself does not run
    try:
        return constants_right(generated, reference, vocabulary)
    except RuleSyntaxError:
        return np.nan


def score_execution(
    per_clause: pd.DataFrame, suites: pd.DataFrame, smt_timeout_ms: int = 2000, notation: str = "rulelens"
) -> tuple[pd.DataFrame, float]:
    """The execution columns for every generated rule (columns clause_id, generated_rule, reference_rule),
    and the seconds it took."""
    started = time.perf_counter()
    by_clause = {str(k): v for k, v in suites.groupby("clause_id")} if len(suites) else {}
    empty = pd.DataFrame(columns=SUITE_COLUMNS)
    rows = [
        score_rule(str(g), by_clause.get(str(c), empty), str(r), smt_timeout_ms, notation)
        for c, g, r in zip(per_clause["clause_id"], per_clause["generated_rule"], per_clause["reference_rule"])
    ]
    return pd.DataFrame(rows, columns=EXECUTION_COLUMNS, index=per_clause.index), time.perf_counter() - started


def execution_indicators(columns: pd.DataFrame) -> pd.DataFrame:
    """0/1 columns per rule for the aggregate: exec_match, exec_agreement and one per equivalence answer."""
    out = pd.DataFrame(index=columns.index)
    out["exec_match"] = columns["exec_match"].astype(float)
    out["exec_agreement"] = columns["exec_agreement"].astype(float)
    for status in (PROVED_EQUIVALENT, PROVED_DIFFERENT, UNDECIDED):
        out[status] = (columns["equivalence"] == status).astype(float)
    return out


def mismatch_table(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """One row per (model, diagnosis): how many of its rules carry it (a rule may carry several)."""
    rows = []
    for table in tables:
        if table.empty or "diagnosis" not in table:
            continue
        keys = [c for c in ("strategy", "model_size", "seed") if c in table.columns]
        for key, block in table.groupby(keys, sort=True):
            reasons = [r for text in block["diagnosis"].fillna("") for r in str(text).split("; ") if r]
            for reason, n in pd.Series(reasons, dtype=object).value_counts().items():
                rows.append({**dict(zip(keys, key)), "diagnosis": reason, "rules": int(n), "of": int(len(block))})
    columns = ["strategy", "model_size", "seed", "diagnosis", "rules", "of"]
    return pd.DataFrame(rows, columns=columns).dropna(axis=1, how="all") if rows else pd.DataFrame(columns=columns)
