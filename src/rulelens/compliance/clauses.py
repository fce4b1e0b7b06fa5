"""The clauses a compliance check translates: the study's, a clause CSV's, or texts from the command line."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from rulelens.compliance.settings import ComplianceSettings
from rulelens.data.validation import DataValidationError, ValidationSettings, require_valid_rows, validate_rows

CLAUSE_COLUMNS = ["clause_id", "clause", "rule"]  # rule: the reference rule, "" when the clause has none
_NO_RULE = "__no_reference_rule__"


def command_line_clauses(texts: tuple[str, ...]) -> pd.DataFrame:
    """Clauses typed on the command line: ids ``cli-1``, ``cli-2``, ... and no reference rule."""
    blank = [i + 1 for i, text in enumerate(texts) if not text.strip()]
    if blank:
        raise DataValidationError(f"compliance.clause_text: clause {blank[0]} is empty")
    return pd.DataFrame(
        {"clause_id": [f"cli-{i + 1}" for i in range(len(texts))], "clause": [t.strip() for t in texts], "rule": ""}
    )


def csv_clauses(path: str, data_processing: Mapping[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A clause CSV in the project's data format, validated like the corpus (rejected rows kept).

    The column mapping is ``data_processing.columns``; the rule column is optional here (a clause
    without a reference rule is checked with the variant's rule only).
    """
    file = Path(path)
    if not file.is_file():
        raise DataValidationError(f"{path}: clause file not found (compliance.clauses)")
    raw = pd.read_csv(
        file, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8", encoding_errors="backslashreplace"
    )
    columns = {key: data_processing["columns"].get(key) for key in ("clause", "rule", "clause_id")}
    has_rule = columns["rule"] in raw.columns
    if not has_rule:
        raw = raw.assign(**{_NO_RULE: "-"})
        columns["rule"] = _NO_RULE
    if columns["clause_id"] not in raw.columns:
        columns["clause_id"] = None
    settings = ValidationSettings.from_params(
        {**data_processing, "source_file": str(path), "columns": columns, "split_values": {}}
    )
    valid, rejected = validate_rows(raw, settings)
    require_valid_rows(valid, rejected, str(path))
    if "clause_id" not in valid:
        valid = valid.assign(clause_id=[str(row) for row in valid["source_row"]])
    valid = valid.assign(rule=valid["rule"] if has_rule else "")
    if not has_rule:
        rejected = rejected.drop(columns=["rule"], errors="ignore")
    return valid[CLAUSE_COLUMNS].reset_index(drop=True), rejected


def compliance_clauses(
    settings: ComplianceSettings, study_clauses: pd.DataFrame | None, data_processing: Mapping[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(clauses to check, rejected rows) from the settings' source."""
    no_rejects = pd.DataFrame(columns=["source_file", "source_row", "field", "kind", "reason"])
    if settings.clause_text:
        return command_line_clauses(settings.clause_text), no_rejects
    if settings.clauses == "study":
        if study_clauses is None or study_clauses.empty:
            raise DataValidationError(
                "compliance.clauses is 'study' but the study's clauses are not there yet: run "
                "`kedro run --pipelines data_processing` first, or give a clause CSV (compliance.clauses=PATH) "
                "or clause text (compliance.clause_text)"
            )
        frame = study_clauses.assign(clause_id=study_clauses["clause_id"].astype(str))
        return frame[CLAUSE_COLUMNS].reset_index(drop=True), no_rejects
    return csv_clauses(settings.clauses, data_processing)
