"""Constructed attribution and quality tables with known answers for the statistics tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rulelens.words import CATEGORIES

SIZES = {"xs": 135_000_000, "s": 360_000_000, "m": 1_700_000_000}


def long_table(scores_by_variant: dict, categories=None) -> pd.DataFrame:
    """Long attribution rows from {(strategy, size): {clause_id: scores}}."""
    rows = []
    for (strategy, size), clauses in scores_by_variant.items():
        for clause_id, scores in clauses.items():
            scores = np.asarray(scores, dtype=float)
            total = np.abs(scores).sum()
            for i, s in enumerate(scores):
                cat = categories[clause_id][i] if categories else CATEGORIES[i % len(CATEGORIES)]
                rows.append(
                    dict(
                        clause_id=clause_id,
                        word_index=i,
                        word=f"w{i}",
                        char_start=3 * i,
                        char_end=3 * i + 2,
                        category=cat,
                        score=s,
                        share=abs(s) / total if total else np.nan,
                        target_mode="reference",
                        operator="delete",
                        strategy=strategy,
                        model_size=size,
                        n_params=SIZES.get(size, 1),
                    )
                )
    return pd.DataFrame(rows)


@pytest.fixture
def make_long_table():
    return long_table
