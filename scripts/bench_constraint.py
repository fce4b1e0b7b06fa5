"""Constrained decoding against plain greedy decoding on the fine-tuned checkpoints (not a test).

For each variant it loads the checkpoint the training pipeline saved (the catalog's
``<strategy>.<size>.checkpoint``) and generates the study clauses (``study_clauses``, written by
``kedro run --pipelines data_processing``) with the env's generation settings, the constraint off
and on, in alternating rounds so that load from other processes falls on both alike. It prints
the median seconds of each and their ratio, the valid rules both ways, how many rules the
constraint changed, and whether ``valid_unconstrained`` of the constrained run equals the
validity of the plain run clause by clause (it must: docs/evaluation.md, "Constrained decoding").

    .venv/bin/python scripts/bench_constraint.py [--env base] [--variants fft.m lora.m qlora.m] [--rounds 2]
    .venv/bin/python scripts/bench_constraint.py --env nzbc      # LRML, under conf/nzbc's grammar and validator

Results go to docs/evaluation.md and docs/models.md with the machine they ran on.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle threads sleep: see docs/models.md

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from bench_training import config_loader, load_parameters, machine_line  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="base", help="configuration environment (conf/<env>)")
    parser.add_argument("--variants", nargs="+", default=["fft.m", "lora.m", "qlora.m"])
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of plain and constrained")
    parser.add_argument("--json", help="also write the result rows to this JSON file")
    return parser.parse_args(argv)


def catalog(env: str):
    from kedro.io import DataCatalog

    return DataCatalog.from_config(config_loader(env)["catalog"])


def generate(bundle: Any, clauses: list[str], params: dict[str, Any], style: Any, rule_format: Any):
    from rulelens.evaluation import generate_rules

    return generate_rules(bundle.model, bundle.tokenizer, clauses, style, params, rule_format=rule_format)


def compare(variant: str, bundle: Any, study: Any, params: dict[str, Any], rounds: int) -> dict[str, Any]:
    """Rounds of plain then constrained generation of the study clauses; validity both ways, by the env's
    rule format (``evaluation.rule_format``: the rulelens format by default, LRML under ``--env nzbc``)."""
    from rulelens.data.rule_formats import rule_format
    from rulelens.prompts import PromptStyle

    fmt = rule_format(params["evaluation"])
    is_valid_rule = fmt.is_valid

    style = PromptStyle.from_params(params["prompt"])
    clauses = study["clause"].astype(str).tolist()
    plain_settings = {**params["evaluation"]["generation"], "constrain": False}
    held_settings = {**params["evaluation"]["generation"], "constrain": True}
    seconds: dict[str, list[float]] = {"plain": [], "constrained": []}
    for _ in range(rounds):
        plain = generate(bundle, clauses, plain_settings, style, fmt)
        held = generate(bundle, clauses, held_settings, style, fmt)
        seconds["plain"].append(plain.seconds)
        seconds["constrained"].append(held.seconds)
    plain_valid = [is_valid_rule(text) for text in plain.texts]
    held_valid = [is_valid_rule(text) for text in held.texts]
    unchanged = [item.constrained_steps == 0 for item in held.items]
    exact = [v and u for v, u in zip(held_valid, unchanged)] == plain_valid
    same_text = all(p == h for p, h, u in zip(plain.texts, held.texts, unchanged) if u)
    plain_s, held_s = statistics.median(seconds["plain"]), statistics.median(seconds["constrained"])
    return {
        "variant": variant,
        "rule_format": fmt.name,
        "clauses": len(clauses),
        "plain_s": plain_s,
        "constrained_s": held_s,
        "ratio": held_s / plain_s,
        "valid_plain": sum(plain_valid),
        "valid_constrained": sum(held_valid),
        "rules_changed": sum(not u for u in unchanged),
        "tokens_changed": sum(item.constrained_steps for item in held.items),
        "stops_plain": _stops(plain),
        "stops_constrained": _stops(held),
        "unconstrained_validity_exact": exact,
        "unchanged_rules_identical": same_text,
    }


def _stops(generations: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in generations.items:
        counts[item.stop_reason] = counts.get(item.stop_reason, 0) + 1
    return counts


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    params = load_parameters(args.env)
    data = catalog(args.env)
    study = data.load("study_clauses")
    print(machine_line())
    rows = []
    for variant in args.variants:
        bundle = data.load(f"{variant}.checkpoint")
        row = compare(variant, bundle, study, params, args.rounds)
        rows.append(row)
        print(
            f"{variant}: plain {row['plain_s']:.1f} s, constrained {row['constrained_s']:.1f} s "
            f"(x{row['ratio']:.2f}); valid {row['valid_plain']}/{row['clauses']} -> "
            f"{row['valid_constrained']}/{row['clauses']}; rules changed {row['rules_changed']} "
            f"({row['tokens_changed']} tokens); stops {row['stops_plain']} -> {row['stops_constrained']}; "
            f"unconstrained validity exact: {row['unconstrained_validity_exact']}, "
            f"unchanged rules identical: {row['unchanged_rules_identical']}",
            flush=True,
        )
        del bundle
    print(machine_line())
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0 if all(r["unconstrained_validity_exact"] and r["unchanged_rules_identical"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
