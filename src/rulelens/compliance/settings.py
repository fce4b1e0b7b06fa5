"""The ``compliance`` parameters block (``conf/base/parameters_compliance.yml``), read strictly."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from rulelens.param_blocks import ParameterError, check_block

COMPLIANCE_SOURCE = "conf/base/parameters_compliance.yml"
_VARIANT_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z0-9_]+$")


@dataclass(frozen=True)
class ComplianceSettings:
    """What to check: the IFC file, which clauses, which variant writes the rules.

    ``clauses`` is ``study`` (the study's clauses) or the path of a clause CSV in the project's
    data format; ``clause_text`` (texts given on the command line) replaces both when not empty.
    """

    ifc_file: str
    variant: str
    clauses: str
    clause_text: tuple[str, ...]
    reuse_study: bool
    explain: bool
    max_failing_shown: int

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ComplianceSettings:
        keys = [f.name for f in fields(cls)]
        check_block(params, "compliance", keys, COMPLIANCE_SOURCE)
        if not params["ifc_file"]:
            raise ParameterError(
                "compliance.ifc_file is not set: name the building model to check, e.g. "
                "kedro run --pipelines compliance --params compliance.ifc_file=model.ifc "
                "(or: rulelens check model.ifc)"
            )
        variant = str(params["variant"])
        if not _VARIANT_RE.match(variant):
            raise ParameterError(f"compliance.variant must be <strategy>.<size> (e.g. lora.m), got {variant!r}")
        texts = params["clause_text"] or []
        if isinstance(texts, str):
            texts = [texts]
        return cls(
            ifc_file=str(params["ifc_file"]),
            variant=variant,
            clauses=str(params["clauses"]),
            clause_text=tuple(str(t) for t in texts),
            reuse_study=bool(params["reuse_study"]),
            explain=bool(params["explain"]),
            max_failing_shown=int(params["max_failing_shown"]),
        )


def variant_folder(variant: str) -> str:
    """``lora.m`` -> ``lora/m``: where the catalog keeps a variant's checkpoint and outputs."""
    if not _VARIANT_RE.match(str(variant)):
        raise ValueError(f"compliance.variant must be <strategy>.<size> (e.g. lora.m), got {variant!r}")
    return str(variant).replace(".", "/", 1)


def ifc_stem(path: str) -> str:
    """``models/house.ifc`` -> ``house``: the folder of one model's compliance outputs (``no_model`` when unset)."""
    stem = Path(str(path or "")).stem
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem) or "no_model"
