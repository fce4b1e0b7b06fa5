"""Nodes of the compliance pipeline: thin wrappers over rulelens.compliance."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from rulelens.compliance.settings import ComplianceSettings

logger = logging.getLogger(__name__)


def select_compliance_clauses(
    study_clauses: pd.DataFrame | None, compliance: dict[str, Any], data_processing: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The clauses to translate and check, and the rejected rows of a clause CSV (kept, with reasons)."""
    from rulelens.compliance.clauses import compliance_clauses

    settings = ComplianceSettings.from_params(compliance)
    clauses, rejected = compliance_clauses(settings, study_clauses, data_processing)
    if len(rejected):
        logger.warning("compliance: %d clause row(s) rejected (see compliance_rejected_clauses)", len(rejected))
    logger.info("compliance: %d clause(s) to check", len(clauses))
    return clauses, rejected


def read_compliance_model(compliance: dict[str, Any], ifc_mapping: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The IFC model's mapped elements, and what the page and MLflow say about the file."""
    from rulelens.compliance.ifc_mapping import IfcMapping
    from rulelens.compliance.ifc_model import read_building_model

    settings = ComplianceSettings.from_params(compliance)
    model = read_building_model(settings.ifc_file, IfcMapping.from_params(ifc_mapping))
    by_entity: dict[str, int] = {}
    for element in model.elements:
        for entity in element.entities:
            by_entity[entity] = by_entity.get(entity, 0) + 1
    if not model.elements:
        logger.warning("%s: no element is mapped to the rule vocabulary (ifc_mapping); nothing to check", model.path)
    info = {
        "file_name": Path(model.path).name,
        "path": str(model.path),
        "schema": model.schema,
        "sha256": model.sha256,
        "length_unit": model.length_unit,
        "n_elements": len(model.elements),
        "elements_by_entity": dict(sorted(by_entity.items())),
    }
    logger.info("%s (%s): %d mapped elements %s", info["file_name"], model.schema, len(model.elements), by_entity)
    return model, info


def _require_checkpoint(checkpoint: Any, variant: str) -> Any:
    if checkpoint is None:
        raise FileNotFoundError(
            f"variant {variant} has no completed checkpoint in data/06_models: train it first "
            "(kedro run --pipelines training), or choose a trained one with "
            "--params compliance.variant=<strategy>.<size>"
        )
    return checkpoint


class _Deferred:
    """The checkpoint, checked only when a rule or an attribution has to be computed."""

    def __init__(self, checkpoint: Any, variant: str):
        self._checkpoint, self._variant = checkpoint, variant

    @property
    def model(self) -> Any:
        return _require_checkpoint(self._checkpoint, self._variant).model

    @property
    def tokenizer(self) -> Any:
        return _require_checkpoint(self._checkpoint, self._variant).tokenizer


def write_compliance_rules(
    checkpoint: Any,
    clauses: pd.DataFrame,
    study_rules: pd.DataFrame | None,
    compliance: dict[str, Any],
    evaluation: dict[str, Any],
    prompt: dict[str, Any],
) -> pd.DataFrame:
    """The variant's rule per clause: reused from the study where it matches, else generated (constrained)."""
    from rulelens.compliance.translate import write_rules

    settings = ComplianceSettings.from_params(compliance)
    return write_rules(
        _Deferred(checkpoint, settings.variant), clauses, study_rules, evaluation, prompt, settings.reuse_study
    )


def explain_compliance_rules(
    checkpoint: Any,
    rules: pd.DataFrame,
    study_attributions: pd.DataFrame | None,
    compliance: dict[str, Any],
    attribution: dict[str, Any],
    prompt: dict[str, Any],
) -> pd.DataFrame:
    """Why the variant wrote each rule: word attributions of its clause (reused where the study has them)."""
    from rulelens.compliance.translate import EXPLANATION_COLUMNS, explain_rules, read_back

    rules = read_back(rules)
    settings = ComplianceSettings.from_params(compliance)
    if not settings.explain:
        return pd.DataFrame(columns=EXPLANATION_COLUMNS)
    return explain_rules(
        _Deferred(checkpoint, settings.variant), rules, study_attributions, attribution, prompt, settings.reuse_study
    )


def check_compliance(model: Any, rules: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every element of each rule's subject checked by the variant's rule and by the reference rule."""
    from rulelens.compliance.check import CHECK_COLUMNS, RULE_STATUS_COLUMNS, check_rules
    from rulelens.compliance.translate import read_back

    rules = read_back(rules)
    todo = [(r.clause_id, "variant", r.generated_rule) for r in rules.itertuples(index=False)]
    todo += [(r.clause_id, "reference", r.reference_rule) for r in rules.itertuples(index=False)]
    rows, statuses = check_rules(todo, model)
    for status in statuses:
        if status["status"] != "checked":
            logger.warning(
                "compliance: clause %s, %s rule: %s", status["clause_id"], status["rule_source"], status["status"]
            )
    return pd.DataFrame(rows, columns=CHECK_COLUMNS), pd.DataFrame(statuses, columns=RULE_STATUS_COLUMNS)


def render_compliance(
    model_info: dict[str, Any],
    rules: pd.DataFrame,
    checks: pd.DataFrame,
    statuses: pd.DataFrame,
    attributions: pd.DataFrame,
    compliance: dict[str, Any],
) -> tuple[str, dict[str, Any]]:
    """The HTML page, and the tags and metrics the tracking hook logs to the run (MLflow)."""
    from rulelens.attribution.result import attribution_from_frame, render_variants_fragment
    from rulelens.compliance.page import render_compliance_page
    from rulelens.compliance.translate import read_back

    rules = read_back(rules)
    checks = checks.fillna("").assign(clause_id=checks["clause_id"].astype(str))
    statuses = statuses.assign(clause_id=statuses["clause_id"].astype(str))
    attributions = attributions.assign(clause_id=attributions["clause_id"].astype(str))
    settings = ComplianceSettings.from_params(compliance)
    heatmaps = {}
    for clause in rules.itertuples(index=False):
        rows = attributions[attributions["clause_id"] == str(clause.clause_id)] if len(attributions) else attributions
        if len(rows):
            heatmaps[str(clause.clause_id)] = render_variants_fragment(
                {settings.variant: attribution_from_frame(clause.clause, rows)}
            )
    page = render_compliance_page(
        model_info, rules, checks, statuses, heatmaps, settings.variant, settings.max_failing_shown
    )
    return page, compliance_summary(model_info, rules, checks, statuses, settings.variant)


def compliance_summary(
    model_info: dict[str, Any], rules: pd.DataFrame, checks: pd.DataFrame, statuses: pd.DataFrame, variant: str
) -> dict[str, Any]:
    """MLflow tags (the variant, the IFC file's name and hash) and counts as metrics."""
    from rulelens.data.rule_interpreter import VERDICTS

    variant_rows = checks[checks["rule_source"] == "variant"]
    metrics: dict[str, float] = {f"compliance_{v}": float((variant_rows["verdict"] == v).sum()) for v in VERDICTS}
    metrics["compliance_clauses"] = float(len(rules))
    metrics["compliance_rules_valid"] = float(rules["valid"].sum()) if len(rules) else 0.0
    metrics["compliance_rules_reused"] = float(rules["reused"].sum()) if len(rules) else 0.0
    metrics["compliance_elements"] = float(model_info["n_elements"])
    unparsable = statuses[statuses["status"].str.startswith("unparsable") & (statuses["rule_source"] == "variant")]
    metrics["compliance_rules_unparsable"] = float(len(unparsable))
    tags = {
        "compliance.variant": variant,
        "compliance.ifc_file": model_info["file_name"],
        "compliance.ifc_sha256": model_info["sha256"],
        "compliance.ifc_schema": model_info["schema"],
    }
    return {"tags": tags, "metrics": metrics}
