"""CSV outputs that a spreadsheet opens as text, never as formulas (OWASP CSV injection guidance).

Clause text is user data: a clause or a generated rule starting with ``=``, ``+``, ``-`` or ``@``
(or a tab / carriage return) would be run as a formula by a spreadsheet that opens a rejected-rows
or findings CSV. :class:`SafeCSVDataset` writes such text cells with a leading apostrophe, the
escape OWASP recommends, and strips exactly that apostrophe again when the project reads its own
file back, so round trips are lossless. A cell that already starts with an apostrophe is escaped
too, which keeps the mapping reversible.
"""

from __future__ import annotations

import pandas as pd
from kedro_datasets.pandas import CSVDataset

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"


def escape_cell(value):
    """``'`` + value for text a spreadsheet would run (or for text already starting with ``'``)."""
    if isinstance(value, str) and value.startswith((*FORMULA_STARTS, ESCAPE)):
        return ESCAPE + value
    return value


def unescape_cell(value):
    """The inverse of :func:`escape_cell`."""
    if isinstance(value, str) and value.startswith(ESCAPE):
        return value[1:]
    return value


def _text_columns(frame: pd.DataFrame) -> list:
    return [c for c in frame.columns if frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c])]


def escape_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell escaped (numbers are left as numbers)."""
    out = frame.copy()
    for column in _text_columns(out):
        out[column] = out[column].map(escape_cell)
    return out


def unescape_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in _text_columns(out):
        out[column] = out[column].map(unescape_cell)
    return out


class SafeCSVDataset(CSVDataset):
    """``pandas.CSVDataset`` whose text cells cannot be run as spreadsheet formulas."""

    def save(self, data: pd.DataFrame) -> None:
        super().save(escape_frame(data))

    def load(self) -> pd.DataFrame:
        return unescape_frame(super().load())
