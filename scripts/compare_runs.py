"""Compare the tables two runs wrote: the no-behaviour-change check of a restructuring (docs/architecture.md).

Usage::

    python scripts/compare_runs.py BEFORE/data AFTER/data [--ignore-column seconds ...]

Every CSV and Parquet table and every JSON record under the two ``data/`` folders is matched by its
path. Tables are compared cell by cell after reading (rows in another order are a difference);
text and integers must be identical, floats equal to a relative 1e-12 (a reordered sum moves the
last bit; the summary counts the tables that are bit-identical). JSON records are compared key by
key. Columns and keys that hold wall-clock, memory or time-stamp figures (defaults below, more with
``--ignore-column``) are left out and listed. Prints one line per file that differs or exists on one
side only, then a summary; exits 1 when anything differs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

# wall-clock figures, run ids and timestamps: they differ between any two runs
VOLATILE = (
    "seconds",
    "wall_time",
    "eval_time",
    "train_runtime",
    "train_samples_per_second",
    "train_steps_per_second",
    "generation_seconds",
    "tokens_per_second",
    "started",
    "finished",
    "run_id",
    "timestamp",
    "peak_rss",
    "peak_memory",
    "_per_s",
    "memory_plan_available",
    "created_at",
    "saved_at",
)
# peft writes target_modules from a set: its order differs from run to run
UNORDERED_KEYS = ("target_modules",)
FLOAT_RTOL = 1e-12  # floats equal to 12 significant digits: summation order moves the last bit
SUFFIXES = (".csv", ".parquet", ".json")


def is_volatile(name: str, volatile: Iterable[str]) -> bool:
    """A column or key whose name contains one of the volatile stems (``train_seconds``, ``seconds_mean``)."""
    return any(stem in str(name) for stem in volatile)


def read_table(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def table_difference(a: pd.DataFrame, b: pd.DataFrame, volatile: Iterable[str]) -> tuple[str | None, bool]:
    """(None when equal outside the volatile columns, else a short reason; whether bit-identical)."""
    keep_a = [c for c in a.columns if not is_volatile(c, volatile)]
    keep_b = [c for c in b.columns if not is_volatile(c, volatile)]
    if keep_a != keep_b:
        return f"columns differ: {sorted(set(keep_a) ^ set(keep_b)) or 'order'}", False
    if len(a) != len(b):
        return f"rows {len(a)} vs {len(b)}", False
    a, b = a[keep_a].reset_index(drop=True), b[keep_b].reset_index(drop=True)
    identical = True
    for column in keep_a:
        left, right = a[column], b[column]
        same = (left == right) | (left.isna() & right.isna())
        if bool(same.all()):
            continue
        identical = False
        if pd.api.types.is_float_dtype(left) and pd.api.types.is_float_dtype(right):
            same = same | pd.Series(np.isclose(left, right, rtol=FLOAT_RTOL, atol=0.0))
        if not bool(same.all()):
            row = int((~same).to_numpy().nonzero()[0][0])
            return f"column {column!r} row {row}: {left.iloc[row]!r} vs {right.iloc[row]!r}", False
    return None, identical


def strip_volatile(value, volatile: Iterable[str]):
    if isinstance(value, dict):
        return {
            k: sorted(v) if k in UNORDERED_KEYS and isinstance(v, list) else strip_volatile(v, volatile)
            for k, v in value.items()
            if not is_volatile(k, volatile)
        }
    if isinstance(value, list):
        return [strip_volatile(v, volatile) for v in value]
    return value


def json_difference(a_path: Path, b_path: Path, volatile: Iterable[str]) -> str | None:
    a = strip_volatile(json.loads(a_path.read_text(encoding="utf-8")), volatile)
    b = strip_volatile(json.loads(b_path.read_text(encoding="utf-8")), volatile)
    if a == b:
        return None
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        return f"keys differ: {keys[:8]}"
    return "content differs"


INPUTS = "01_raw"  # the project's inputs, not what a run writes


def files_under(root: Path) -> dict[str, Path]:
    files = (p for p in sorted(root.rglob("*")) if p.suffix in SUFFIXES and p.is_file())
    return {str(p.relative_to(root)): p for p in files if p.relative_to(root).parts[0] != INPUTS}


def compare(before: Path, after: Path, volatile: Iterable[str]) -> tuple[list[str], list[str], list[str]]:
    """(lines for files that differ or exist on one side only, names of equal files, of bit-identical tables)."""
    a_files, b_files = files_under(before), files_under(after)
    problems, equal, identical = [], [], []
    for name in sorted(set(a_files) | set(b_files)):
        if name not in b_files or name not in a_files:
            problems.append(f"only in {'before' if name in a_files else 'after'}: {name}")
            continue
        if name.endswith(".json"):
            reason = json_difference(a_files[name], b_files[name], volatile)
        else:
            reason, bitwise = table_difference(read_table(a_files[name]), read_table(b_files[name]), volatile)
            if bitwise:
                identical.append(name)
        if reason:
            problems.append(f"differs: {name}: {reason}")
        else:
            equal.append(name)
    return problems, equal, identical


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--ignore-column", action="append", default=[], help="another volatile column/key stem")
    args = parser.parse_args(argv)
    volatile = (*VOLATILE, *args.ignore_column)
    problems, equal, identical = compare(args.before, args.after, volatile)
    for line in problems:
        print(line)
    tables = sum(1 for name in equal if not name.endswith(".json"))
    print(
        f"{len(equal)} files equal ({tables} tables, {len(identical)} of them bit-identical; "
        f"{len(equal) - tables} JSON records), {len(problems)} differ; "
        f"ignored columns/keys containing: {', '.join(volatile)}"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
