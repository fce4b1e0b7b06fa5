"""Row-level validation of clause/rule tables: valid rows go on, rejected rows are kept.

Any dataset plugs in through a column mapping (our names -> the file's names). Each input
row either passes every check or lands in the rejected table with its source file, source
row number, the field(s) at fault and the reason(s), next to its original values, so that
nothing is lost and the user can fix the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

REQUIRED_FIELDS = ("clause", "rule")
OPTIONAL_FIELDS = ("clause_id", "split", "agency", "domain")
# Undecodable bytes arrive as \xNN escapes (the catalog reads with encoding_errors=backslashreplace,
# which keeps the original bytes visible), as lone surrogates, or as U+FFFD replacement characters.
_UNDECODABLE = re.compile(r"\\x[89a-fA-F][0-9a-fA-F]|[\udc80-\udcff\ufffd]")
_WHITESPACE = re.compile(r"\s+")


class DataValidationError(ValueError):
    """The input cannot be used at all (missing columns, no valid row); the message says why."""


@dataclass(frozen=True)
class ValidationSettings:
    """Limits and mapping for validation; built from ``parameters_data_processing.yml``."""

    source_file: str
    columns: dict[str, str | None]
    max_clause_chars: int = 2000
    max_rule_chars: int = 2000
    split_values: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ValidationSettings:
        return cls(
            source_file=str(params["source_file"]),
            columns=dict(params["columns"]),
            max_clause_chars=int(params.get("max_clause_chars", 2000)),
            max_rule_chars=int(params.get("max_rule_chars", 2000)),
            split_values={str(k): str(v) for k, v in (params.get("split_values") or {}).items()},
        )


def map_columns(raw: pd.DataFrame, settings: ValidationSettings) -> pd.DataFrame:
    """Rename the file's columns to ours; fail naming the file and the missing column."""
    mapping = {ours: theirs for ours, theirs in settings.columns.items() if theirs}
    missing = [f"{ours} (column {theirs!r})" for ours, theirs in mapping.items() if theirs not in raw.columns]
    required_missing = [m for m in missing if m.split(" ")[0] in REQUIRED_FIELDS or m.split(" ")[0] == "split"]
    if required_missing or any(ours in REQUIRED_FIELDS and not mapping.get(ours) for ours in REQUIRED_FIELDS):
        raise DataValidationError(
            f"{settings.source_file}: column(s) not found: {', '.join(required_missing) or 'clause/rule mapping empty'}; "
            f"file has columns {list(raw.columns)}. Set data_processing.columns in "
            f"conf/<env>/parameters_data_processing.yml to the file's column names."
        )
    present = {theirs: ours for ours, theirs in mapping.items() if theirs in raw.columns}
    mapped = raw[list(present)].rename(columns=present)
    mapped.insert(0, "source_row", range(1, len(raw) + 1))
    return mapped.reset_index(drop=True)


def normalise_whitespace(text: str) -> str:
    """Collapse runs of whitespace and strip: the key for near-exact duplicates."""
    return _WHITESPACE.sub(" ", text).strip()


Problem = tuple[str, str, str]  # (field, kind, human-readable reason)


def _value_problem(value: Any, max_chars: int) -> tuple[str, str] | None:
    """(kind, reason) of one text field's problem: missing, wrong type, bad bytes, empty, too long."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "missing", "missing value"
    if not isinstance(value, str):
        return "wrong_type", f"wrong type {type(value).__name__}, expected text"
    if _UNDECODABLE.search(value):
        return "undecodable", "undecodable bytes (not valid UTF-8)"
    if not value.strip():
        return "empty", "empty text"
    if len(value) > max_chars:
        return "too_long", f"too long: {len(value)} characters > limit {max_chars}"
    return None


def row_problems(row: dict[str, Any], settings: ValidationSettings) -> list[Problem]:
    """(field, kind, reason) for each problem of one mapped row, duplicates excluded."""
    limits = {"clause": settings.max_clause_chars, "rule": settings.max_rule_chars}
    problems = []
    for name in REQUIRED_FIELDS:
        problem = _value_problem(row.get(name), limits[name])
        if problem:
            problems.append((name, *problem))
    if settings.split_values and "split" in row and _split_key(row["split"]) not in settings.split_values:
        expected = sorted(settings.split_values)
        problems.append(("split", "unknown_split", f"unknown split value {row['split']!r}; expected one of {expected}"))
    return problems


def _split_key(value: Any) -> str:
    """Split labels compare as text; 1, 1.0 and "1" are the same label."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _duplicate_problem(clause: str, rule: str, seen_exact: dict, seen_normal: dict) -> Problem | None:
    """Whether a row duplicates an earlier valid one (exact first, then whitespace-normalised)."""
    exact_key = (clause, rule)
    normal_key = (normalise_whitespace(clause), normalise_whitespace(rule))
    if exact_key in seen_exact:
        return "clause", "duplicate", f"exact duplicate of row {seen_exact[exact_key]}"
    if normal_key in seen_normal:
        return "clause", "duplicate_whitespace", f"duplicate of row {seen_normal[normal_key]} after whitespace normalisation"
    return None


def validate_rows(raw: pd.DataFrame, settings: ValidationSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a raw table into (valid rows, rejected rows with source_file/source_row/field/reason)."""
    mapped = map_columns(raw, settings)
    valid_rows, rejected_rows = [], []
    seen_exact: dict[tuple[str, str], int] = {}
    seen_normal: dict[tuple[str, str], int] = {}
    for row in mapped.to_dict(orient="records"):
        problems = row_problems(row, settings)
        if not problems:
            duplicate = _duplicate_problem(row["clause"], row["rule"], seen_exact, seen_normal)
            problems = [duplicate] if duplicate else []
        if problems:
            rejected_rows.append(_rejected_record(row, problems, settings.source_file))
            continue
        seen_exact[(row["clause"], row["rule"])] = row["source_row"]
        seen_normal[(normalise_whitespace(row["clause"]), normalise_whitespace(row["rule"]))] = row["source_row"]
        valid_rows.append(row)
    valid = pd.DataFrame(valid_rows, columns=list(mapped.columns))
    rejected = pd.DataFrame(rejected_rows, columns=_rejected_columns(mapped))
    return valid, rejected


def _rejected_columns(mapped: pd.DataFrame) -> list[str]:
    original = [c for c in mapped.columns if c != "source_row"]
    return ["source_file", "source_row", "field", "kind", "reason", *original]


def _rejected_record(row: dict[str, Any], problems: list[Problem], source_file: str) -> dict[str, Any]:
    """A rejected row: where it came from, what is wrong, and its original values kept as text."""
    record = {
        "source_file": source_file,
        "source_row": row["source_row"],
        "field": ", ".join(dict.fromkeys(name for name, _, _ in problems)),
        "kind": ", ".join(dict.fromkeys(kind for _, kind, _ in problems)),
        "reason": "; ".join(f"{name}: {reason}" for name, _, reason in problems),
    }
    for name, value in row.items():
        if name != "source_row":
            record[name] = _printable(value)
    return record


def _printable(value: Any) -> str | None:
    """Keep the original value in a form any writer accepts (bad bytes as \\x escapes)."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = value if isinstance(value, str) else repr(value)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def rejection_summary(rejected: pd.DataFrame) -> dict[str, int]:
    """Counts of rejected rows by problem kind (a row with two kinds counts under both)."""
    kinds: dict[str, int] = {}
    for row_kinds in rejected.get("kind", pd.Series(dtype=str)):
        for kind in row_kinds.split(", "):
            kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def require_valid_rows(valid: pd.DataFrame, rejected: pd.DataFrame, source_file: str) -> pd.DataFrame:
    """Fail with a clear message when no row survived validation (rejected rows are already saved)."""
    if valid.empty:
        raise DataValidationError(
            f"{source_file}: no valid clause/rule rows remain ({len(rejected)} rejected; see the "
            f"rejected_clauses table in data/02_intermediate for each row's field and reason)."
        )
    return valid
