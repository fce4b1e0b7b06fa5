"""Row-level validation of clause/rule tables: valid rows go on, rejected rows are kept.

Any dataset plugs in through a column mapping (our names -> the file's names). Each input
row either passes every check or lands in the rejected table with its source file, source
row number, the field(s) at fault and the reason(s), next to its original values, so that
nothing is lost and the user can fix the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import pandas as pd

from rulelens.param_blocks import check_block
from rulelens.words import split_words

REQUIRED_FIELDS = ("clause", "rule")
OPTIONAL_FIELDS = ("clause_id", "split", "agency", "domain")
VALIDATION_SOURCE = "conf/base/parameters_data_processing.yml"  # declares every key of data_processing
# Undecodable bytes arrive as \xNN escapes (the catalog reads with encoding_errors=backslashreplace,
# which keeps the original bytes visible), as lone surrogates, or as U+FFFD replacement characters.
_UNDECODABLE = re.compile(r"\\x[89a-fA-F][0-9a-fA-F]|[\udc80-\udcff\ufffd]")
_WHITESPACE = re.compile(r"\s+")
# Strings that tokenizers treat as special tokens: in a clause or rule they would change the prompt
# or the training target's structure (e.g. end a chat turn), so such rows are rejected.
SPECIAL_TOKEN_PATTERNS = (
    r"<\|[^<>|\s]*\|>",  # <|im_end|>, <|endoftext|>, <|eot_id|>, <|start_header_id|>
    r"</?s>",
    r"<unk>",
    r"<pad>",
    r"<mask>",
    r"<bos>",
    r"<eos>",
    r"\[/?INST\]",
    r"<</?SYS>>",
    r"<start_of_turn>",
    r"<end_of_turn>",
    r"\[CLS\]",
    r"\[SEP\]",
    r"\[MASK\]",
    r"\[PAD\]",
    r"\[UNK\]",
)
_SPECIAL_TOKEN = re.compile("|".join(SPECIAL_TOKEN_PATTERNS))
# Control characters other than tab, newline and carriage return (C0, DEL and C1).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class DataValidationError(ValueError):
    """The input cannot be used at all (missing columns, no valid row); the message says why."""


@dataclass(frozen=True)
class ValidationSettings:
    """Limits and mapping for validation: keys of ``data_processing`` (``conf/base/parameters_data_processing.yml``).

    The values live in conf/ only; a missing key stops the run naming it. The block's other keys
    (split_fractions, seed, selection) are read by the splitting and selection settings.
    """

    source_file: str
    columns: dict[str, str | None]
    max_clause_chars: int
    max_rule_chars: int
    split_values: dict[str, str]

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ValidationSettings:
        keys = [f.name for f in fields(cls)]
        if isinstance(params, Mapping):  # only this class's keys: the others belong to other settings
            params = {key: params[key] for key in keys if key in params}
        check_block(params, "data_processing", keys, VALIDATION_SOURCE)
        settings = cls(
            source_file=str(params["source_file"]),
            columns=dict(params["columns"]),
            max_clause_chars=int(params["max_clause_chars"]),
            max_rule_chars=int(params["max_rule_chars"]),
            split_values={str(k): str(v) for k, v in (params["split_values"] or {}).items()},  # null: no labels
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Configuration errors: a split column without the labels that translate it."""
        if self.columns.get("split") and not self.split_values:
            raise DataValidationError(
                f"{self.source_file}: data_processing.columns.split maps the column {self.columns['split']!r} but "
                f"data_processing.split_values is empty; set data_processing.split_values (e.g. "
                f"{{1: train, 2: validation, 3: test}}) to the file's split labels, or set "
                f"data_processing.columns.split to null to split by data_processing.split_fractions"
            )


def map_columns(raw: pd.DataFrame, settings: ValidationSettings) -> pd.DataFrame:
    """Rename the file's columns to ours; fail naming the file and the missing column."""
    mapping = {ours: theirs for ours, theirs in settings.columns.items() if theirs}
    missing = [f"{ours} (column {theirs!r})" for ours, theirs in mapping.items() if theirs not in raw.columns]
    required_missing = [m for m in missing if m.split(" ")[0] in REQUIRED_FIELDS or m.split(" ")[0] == "split"]
    if required_missing or any(ours in REQUIRED_FIELDS and not mapping.get(ours) for ours in REQUIRED_FIELDS):
        raise DataValidationError(
            f"{settings.source_file}: column(s) not found: "
            f"{', '.join(required_missing) or 'clause/rule mapping empty'}; "
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
    control = _CONTROL.search(value)
    if control:
        return "control_character", f"control character U+{ord(control.group()):04X} at position {control.start()}"
    special = _SPECIAL_TOKEN.search(value)
    if special:
        return "special_token", f"contains the tokenizer special-token string {special.group()!r}"
    return None


def row_problems(row: dict[str, Any], settings: ValidationSettings) -> list[Problem]:
    """(field, kind, reason) for each problem of one mapped row, duplicates excluded."""
    limits = {"clause": settings.max_clause_chars, "rule": settings.max_rule_chars}
    problems = []
    for name in REQUIRED_FIELDS:
        problem = _value_problem(row.get(name), limits[name])
        if problem:
            problems.append((name, *problem))
    if not any(name == "clause" for name, _, _ in problems) and not split_words(row["clause"]):
        problems.append(("clause", "no_words", "no words (only punctuation or symbols)"))
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
        return (
            "clause",
            "duplicate_whitespace",
            f"duplicate of row {seen_normal[normal_key]} after whitespace normalisation",
        )
    return None


def validate_rows(raw: pd.DataFrame, settings: ValidationSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a raw table into (valid rows, rejected rows with source_file/source_row/field/reason)."""
    settings.check()
    mapped = normalise_ids(map_columns(raw, settings), settings.source_file)
    valid_rows, rejected_rows = [], []
    seen_exact: dict[tuple[str, str], int] = {}
    seen_normal: dict[tuple[str, str], int] = {}
    seen_ids: dict[str, int] = {}
    for row in mapped.to_dict(orient="records"):
        problems = row_problems(row, settings)
        if not problems:
            duplicate = _duplicate_problem(row["clause"], row["rule"], seen_exact, seen_normal)
            problems = [duplicate] if duplicate else []
        if not problems and "clause_id" in row and row["clause_id"] in seen_ids:
            first = seen_ids[row["clause_id"]]
            problems = [
                ("clause_id", "duplicate_id", f"duplicate clause_id {row['clause_id']!r}, first used by row {first}")
            ]
        if problems:
            rejected_rows.append(_rejected_record(row, problems, settings.source_file))
            continue
        if "clause_id" in row:
            seen_ids[row["clause_id"]] = row["source_row"]
        seen_exact[(row["clause"], row["rule"])] = row["source_row"]
        seen_normal[(normalise_whitespace(row["clause"]), normalise_whitespace(row["rule"]))] = row["source_row"]
        valid_rows.append(row)
    valid = pd.DataFrame(valid_rows, columns=list(mapped.columns))
    rejected = pd.DataFrame(rejected_rows, columns=_rejected_columns(mapped))
    return valid, rejected


def _is_blank(value: Any) -> bool:
    return (
        value is None or (isinstance(value, float) and pd.isna(value)) or (isinstance(value, str) and not value.strip())
    )


def normalise_ids(mapped: pd.DataFrame, source_file: str) -> pd.DataFrame:
    """Clause ids as text (``7.0`` -> ``"7"``); an id column that is blank in some rows is an error.

    A column that is blank in every row counts as absent (dropped: ids are then made from the
    row numbers, as when no id column is mapped). Never renumbers a partly filled column.
    """
    if "clause_id" not in mapped:
        return mapped
    blank = mapped["clause_id"].map(_is_blank)
    if blank.all():
        return mapped.drop(columns="clause_id")
    if blank.any():
        rows = mapped.loc[blank, "source_row"].tolist()
        shown = ", ".join(map(str, rows[:20])) + (f" ... ({len(rows)} rows)" if len(rows) > 20 else "")
        raise DataValidationError(
            f"{source_file}: clause_id is blank in row(s) {shown}; fill in those ids, or set "
            f"data_processing.columns.clause_id to null to number every row instead"
        )
    mapped = mapped.copy()
    mapped["clause_id"] = mapped["clause_id"].map(_split_key)
    return mapped


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
