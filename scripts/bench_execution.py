"""What rule quality by execution costs, and how well the suites tell rules apart.

Two measurements (docs/evaluation.md, "Rule quality by execution"; docs/performance.md):

    .venv/bin/python scripts/bench_execution.py --run .            # a finished kedro run's project folder
    .venv/bin/python scripts/bench_execution.py --corpus data/01_raw/building_code_rules.csv

``--run``: builds the suites of the run's study clauses and scores every saved model's generated
rules (interpreter + z3), and prints those seconds beside the same run's generation seconds
(``generation_seconds`` of each model's evaluation metrics): the baseline is measured in the run
the suites are for. ``--corpus``: builds a suite for every reference rule of a CSV (column
``rule``) and prints suite sizes, build seconds and the share of distinguishable neighbours the
suites tell apart (against an independent pool of random scenes per rule).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import pandas as pd

from rulelens.evaluation.execution import build_suites, score_execution


def run_mode(project: Path, dataset: str) -> None:
    study = pd.read_parquet(project / "data/05_model_input" / dataset / "study_clauses.parquet")
    started = time.perf_counter()
    suites, summary = build_suites(study)
    build_seconds = time.perf_counter() - started
    scoring, generation, models = 0.0, 0.0, 0
    for rules_path in sorted((project / "data/07_model_output" / dataset).glob("*/*/generated_rules.parquet")):
        rules = pd.read_parquet(rules_path)
        _, seconds = score_execution(rules, suites)
        metrics = json.loads((rules_path.parent / "evaluation_metrics.json").read_text())
        scoring += seconds
        generation += float(metrics.get("generation_seconds", float("nan")))
        models += 1
    print(f"machine: {platform.processor() or platform.machine()}, {len(study)} study clauses, {models} models")
    print(f"suites: {len(suites)} scenes, built in {build_seconds:.2f} s")
    print(f"scoring every model's rules: {scoring:.2f} s")
    print(f"generation in the same run: {generation:.1f} s")
    print(f"execution / generation: {(build_seconds + scoring) / generation:.3f}")
    print(f"neighbours told apart: {int(summary['n_killed'].sum())} of {int(summary['n_distinguishable'].sum())}")


def corpus_mode(csv: Path, limit: int | None) -> None:
    frame = pd.read_csv(csv)
    if limit:
        frame = frame.head(limit)
    if "clause_id" not in frame:
        frame = frame.assign(clause_id=[str(i) for i in range(len(frame))])
    started = time.perf_counter()
    suites, summary = build_suites(frame)
    seconds = time.perf_counter() - started
    executable = summary[summary["n_cases"] > 0]
    killed, distinguishable = int(executable["n_killed"].sum()), int(executable["n_distinguishable"].sum())
    sizes = executable["n_cases"]
    print(f"machine: {platform.processor() or platform.machine()}; {len(frame)} reference rules from {csv}")
    print(f"executable: {len(executable)} of {len(summary)}")
    print(f"suite size: median {sizes.median():.0f}, max {sizes.max()}, {len(suites)} scenes in all")
    print(f"build: {seconds:.1f} s ({seconds / max(len(frame), 1):.3f} s per rule)")
    print(f"neighbours: {int(executable['n_neighbours'].sum())}, distinguishable on the check pool: {distinguishable}")
    print(f"told apart by the suites: {killed} ({killed / max(distinguishable, 1):.2%})")
    worst = executable.nsmallest(5, "kill_rate")[["clause_id", "n_cases", "n_distinguishable", "kill_rate"]]
    print("lowest kill rates:\n" + worst.to_string(index=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help="project folder of a finished kedro run")
    parser.add_argument("--dataset", default="building_code_rules")
    parser.add_argument("--corpus", type=Path, help="CSV of reference rules (column rule)")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    if args.run:
        run_mode(args.run, args.dataset)
    if args.corpus:
        corpus_mode(args.corpus, args.limit)
    if not args.run and not args.corpus:
        parser.error("give --run and/or --corpus")


if __name__ == "__main__":
    main()
