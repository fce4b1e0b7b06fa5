"""Word-level attribution of generated rules to clause words (docs/attribution.md).

Light to import: the plan, the result object and the clause words (:mod:`rulelens.words`) are
plain Python; the engine, reference implementation and captum adapter (torch, transformers,
captum) load on first use.

    from rulelens.attribution import attribute_clause, attribute_clauses, attributions_frame
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from rulelens.attribution.plan import GREEDY, REFERENCE, TARGET_MODES, Target, resolve_target
from rulelens.attribution.result import (
    FRAME_COLUMNS,
    ClauseAttribution,
    attribution_from_frame,
    attributions_frame,
    render_variants_html,
)
from rulelens.words.perturb import DELETE, MASK, OPERATORS, clause_template

_LAZY = {
    "attribute_clause": "rulelens.attribution.engine",
    "attribute_clauses": "rulelens.attribution.engine",
    "score_prompts": "rulelens.attribution.engine",
    "reference_attribution": "rulelens.attribution.reference",
    "captum_attribution": "rulelens.attribution.captum_compat",
}

__all__ = [
    "DELETE",
    "FRAME_COLUMNS",
    "GREEDY",
    "MASK",
    "OPERATORS",
    "REFERENCE",
    "TARGET_MODES",
    "ClauseAttribution",
    "Target",
    "attribution_from_frame",
    "attributions_frame",
    "clause_template",
    "render_variants_html",
    "resolve_target",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    """Import the torch-heavy modules only when their functions are first used."""
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
