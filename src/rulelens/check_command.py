"""``rulelens check``: the compliance pipeline for people who do not use Kedro (docs/compliance.md).

    rulelens check model.ifc                      # the study's clauses, lora.m
    rulelens check model.ifc --variant qlora.s --clause "Stair risers must not exceed 190 mm."
    rulelens check model.ifc --clauses my_clauses.csv --env nzbc

It runs ``kedro run --pipelines compliance`` in the project folder (the current directory) with
these settings as runtime parameters, then prints where the page and the element table are.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _input_errors() -> tuple[type[Exception], ...]:
    from rulelens.compliance.ifc_model import IfcModelError
    from rulelens.data.validation import DataValidationError
    from rulelens.param_blocks import ParameterError

    return (IfcModelError, DataValidationError, ParameterError, FileNotFoundError)


def check_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rulelens check", description="Check an IFC building model with a fine-tuned variant's rules."
    )
    parser.add_argument("ifc_file", help="the building model (.ifc: IFC2X3, IFC4 or IFC4X3)")
    parser.add_argument(
        "--variant", help="<strategy>.<size> of a trained variant (default: compliance.variant, lora.m)"
    )
    parser.add_argument(
        "--clauses", help="'study' (the study's clauses, the default) or a clause CSV in the data format"
    )
    parser.add_argument(
        "--clause", action="append", default=[], metavar="TEXT", help="a clause's text (repeat for several)"
    )
    parser.add_argument("--env", default=None, help="Kedro environment (e.g. nzbc, test)")
    parser.add_argument("--no-explain", action="store_true", help="skip the attribution heatmaps")
    return parser


def runtime_params(args: argparse.Namespace) -> dict[str, Any]:
    """The ``compliance`` block's overrides, as ``kedro run --params`` would give them."""
    block: dict[str, Any] = {"ifc_file": str(Path(args.ifc_file).resolve())}
    if args.variant:
        block["variant"] = args.variant
    if args.clauses:
        block["clauses"] = args.clauses
    if args.clause:
        block["clause_text"] = list(args.clause)
    if args.no_explain:
        block["explain"] = False
    return {"compliance": block}


def run_check(argv: list[str]) -> int:
    """Parse, run the compliance pipeline in the project at the current directory, print the outputs."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    args = check_parser().parse_args(argv)
    if not Path(args.ifc_file).is_file():
        print(f"rulelens check: {args.ifc_file}: no such file", file=sys.stderr)
        return 2
    project = Path.cwd()
    if not (project / "pyproject.toml").is_file() or not (project / "conf").is_dir():
        print(
            "rulelens check: run it in the rulelens project folder (where conf/ and pyproject.toml are)",
            file=sys.stderr,
        )
        return 2
    bootstrap_project(project)
    params = runtime_params(args)
    try:
        with KedroSession.create(project_path=project, env=args.env, runtime_params=params) as session:
            context = session.load_context()
            catalog = context.catalog
            session.run(pipeline_names=["compliance"])
    except _input_errors() as error:  # bad input: its message names the file, row and field; no traceback
        print(f"rulelens check: {error}", file=sys.stderr)
        return 1
    page = _filepath(catalog, "compliance_page")
    table = _filepath(catalog, "compliance_checks")
    info = catalog.load("compliance_model_info")
    statuses = catalog.load("compliance_rule_status")
    variant = statuses[statuses["rule_source"] == "variant"]
    counts = {v: int(variant[v].sum()) for v in ("pass", "fail", "not_applicable", "unknown", "error")}
    print(f"{info['file_name']}: {info['n_elements']} mapped elements, {len(variant)} rules: {json.dumps(counts)}")
    print(f"page:          {page}")
    print(f"element table: {table}")
    return 0


def _filepath(catalog: Any, name: str) -> str:
    dataset = catalog[name]
    return str(getattr(dataset, "_filepath", ""))
