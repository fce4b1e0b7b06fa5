"""Clauses -> the variant's rules (+ why) -> every mapped element of an IFC model checked -> a page.

Not part of the default run: ``kedro run --pipelines compliance --params compliance.ifc_file=...``
(or ``rulelens check``). The variant is ``compliance.variant``; the catalog's ``compliance_*``
entries resolve it to that variant's checkpoint and study outputs (docs/compliance.md).
"""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    check_compliance,
    explain_compliance_rules,
    read_compliance_model,
    render_compliance,
    select_compliance_clauses,
    write_compliance_rules,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                select_compliance_clauses,
                ["compliance_study_clauses", "params:compliance", "params:data_processing"],
                ["compliance_clauses", "compliance_rejected_clauses"],
                name="select_compliance_clauses",
            ),
            Node(
                read_compliance_model,
                ["params:compliance", "params:ifc_mapping"],
                ["compliance_building_model", "compliance_model_info"],
                name="read_compliance_model",
            ),
            Node(
                write_compliance_rules,
                [
                    "compliance_checkpoint",
                    "compliance_clauses",
                    "compliance_study_rules",
                    "params:compliance",
                    "params:evaluation",
                    "params:prompt",
                ],
                "compliance_rules",
                name="write_compliance_rules",
            ),
            Node(
                explain_compliance_rules,
                [
                    "compliance_checkpoint",
                    "compliance_rules",
                    "compliance_study_attributions",
                    "params:compliance",
                    "params:attribution",
                    "params:prompt",
                ],
                "compliance_attributions",
                name="explain_compliance_rules",
            ),
            Node(
                check_compliance,
                ["compliance_building_model", "compliance_rules"],
                ["compliance_checks", "compliance_rule_status"],
                name="check_compliance",
            ),
            Node(
                render_compliance,
                [
                    "compliance_model_info",
                    "compliance_rules",
                    "compliance_checks",
                    "compliance_rule_status",
                    "compliance_attributions",
                    "params:compliance",
                ],
                ["compliance_page", "compliance_summary"],
                name="render_compliance",
            ),
        ],
        tags={"compliance"},
    )
