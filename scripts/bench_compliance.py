"""How long checking rules on a building model takes, beyond generation and attribution (docs/performance.md).

Builds an IFC4 model of ``--elements`` elements in code (tests/compliance/ifc_builders.py), reads it
through the shipped mapping (conf/base/parameters_ifc_mapping.yml) and checks ``--rules`` reference
rules of the shipped corpus whose subject the mapping covers, and reports each step's seconds and the
cost per element x rule. The baseline in the same run is the interpreter alone on the same facts
(the scene built once, no IFC reading, no value bookkeeping), so the ratio says what the
compliance layer adds to rule execution.

    .venv/bin/python scripts/bench_compliance.py [--elements 10000] [--rules 24]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from rulelens.compliance.check import ModelScene, check_rules  # noqa: E402
from rulelens.compliance.ifc_mapping import IfcMapping  # noqa: E402
from rulelens.compliance.ifc_model import read_building_model  # noqa: E402
from rulelens.data.rule_interpreter import compile_rule, evaluate_instance  # noqa: E402
from tests.compliance.ifc_builders import build_large_model  # noqa: E402


def corpus_rules(mapping: IfcMapping, n_rules: int) -> list[tuple[str, str]]:
    """The first ``n_rules`` corpus rules (by clause id) whose subject entity the mapping covers."""
    corpus = pd.read_csv(ROOT / "data/01_raw/building_code_rules.csv", dtype=str)
    chosen = []
    for clause_id, text in sorted(zip(corpus["clause_id"], corpus["rule"])):
        try:
            subject = compile_rule(text).subject
        except ValueError:
            continue
        if subject in mapping.entity_names:
            chosen.append((clause_id, text))
        if len(chosen) == n_rules:
            break
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", type=int, default=10_000)
    parser.add_argument("--rules", type=int, default=24)
    args = parser.parse_args()
    params = yaml.safe_load((ROOT / "conf/base/parameters_ifc_mapping.yml").read_text())["ifc_mapping"]
    mapping = IfcMapping.from_params(params)
    rules = corpus_rules(mapping, args.rules)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        path = build_large_model(Path(folder), n_elements=args.elements)
        built = time.perf_counter() - start
        start = time.perf_counter()
        model = read_building_model(path, mapping)
        read = time.perf_counter() - start
    start = time.perf_counter()
    rows, statuses = check_rules([(cid, "reference", text) for cid, text in rules], model)
    checked = time.perf_counter() - start
    scene = ModelScene(model)
    start = time.perf_counter()
    for _, text in rules:
        rule = compile_rule(text)
        for element in model.elements_of(rule.subject):
            evaluate_instance(rule, scene.scene, scene.instances[element.global_id])
    bare = time.perf_counter() - start
    subjects = sorted({s["subject"] for s in statuses})
    print(f"model: {len(model.elements)} mapped elements ({args.elements} built in {built:.1f} s, not counted)")
    print(f"rules: {len(rules)} corpus rules on subjects {subjects}; {len(rows)} element x rule verdicts")
    print(f"read the IFC file through the mapping: {read:.2f} s")
    per_verdict = 1e6 * checked / max(len(rows), 1)
    print(f"check every rule on every subject element: {checked:.2f} s ({per_verdict:.0f} us per verdict)")
    print(f"baseline, the interpreter alone on the same facts: {bare:.2f} s (check / baseline = {checked / bare:.1f}x)")
    print(f"total beyond generation and attribution: {read + checked:.2f} s")


if __name__ == "__main__":
    main()
