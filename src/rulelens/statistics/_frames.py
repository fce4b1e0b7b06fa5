"""Column conventions shared by the statistics modules.

The reporting stage concatenates per-variant tables and adds ``strategy``, ``model_size`` and
``n_params`` (and ``seed``, the training replicate). A *variant* is one (strategy, size) pair, trained
once per seed replicate; when a table mixes several target modes
or perturbation operators, those are part of the variant key too, so that numbers computed under
different definitions of a_i are never pooled.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

VARIANT_COLUMNS = ("strategy", "model_size", "seed", "n_params", "target_mode", "operator")
CLAUSE = "clause_id"


def variant_keys(frame: pd.DataFrame, by: Sequence[str] | None = None) -> list[str]:
    """The columns that identify a variant: ``by`` if given, else those of VARIANT_COLUMNS present."""
    if by is not None:
        missing = [c for c in by if c not in frame.columns]
        if missing:
            raise KeyError(f"grouping columns {missing} not in table (has {list(frame.columns)})")
        return list(by)
    return [c for c in VARIANT_COLUMNS if c in frame.columns]


def require(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Fail early with the missing column names, not deep inside a groupby."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KeyError(f"{what} needs columns {missing}; table has {list(frame.columns)}")


def variant_label(frame: pd.DataFrame, keys: Sequence[str] | None = None) -> pd.Series:
    """A readable variant name per row: ``strategy.size``, plus target mode / operator when they vary.

    ``n_params`` never appears in labels: it is an attribute of the size, not a separate variant.
    """
    keys = variant_keys(frame, keys)
    parts = [
        c for c in keys if c != "n_params" and (c in ("strategy", "model_size") or frame[c].nunique(dropna=False) > 1)
    ]
    if not parts:
        return pd.Series(["all"] * len(frame), index=frame.index, dtype=object)
    label = frame[parts[0]].astype(str)
    for c in parts[1:]:
        label = label + ("." if c == "model_size" else "/") + frame[c].astype(str)
    return label.astype(object)
