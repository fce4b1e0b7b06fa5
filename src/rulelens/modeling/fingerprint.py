"""What a trained checkpoint depends on, as a fingerprint (docs/configuration.md, "Fingerprints").

A checkpoint is only reusable when everything that determined its weights is unchanged: the
training and validation rows, the split seed, the prompt, the trainer and strategy settings, the
base model, and the versions of the libraries that compute the training. :func:`training_inputs`
collects those as a JSON-ready dict of named fields; :func:`digest` hashes it; :func:`changed_fields`
says which fields differ between a saved record and this run, so a rerun can stop with a message
that names them instead of silently reusing (or replacing) hours of training.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from importlib import metadata
from typing import Any

import pandas as pd

LIBRARIES = ("torch", "transformers", "peft", "bitsandbytes")
DATA_COLUMNS = ("clause_id", "clause", "rule")


def canonical_json(value: Any) -> str:
    """One text per value: sorted keys, no whitespace, tuples as lists (so hashes are stable)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def digest(value: Any) -> str:
    """SHA-256 of the canonical JSON of ``value`` (hex)."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def rows_hash(frame: pd.DataFrame, columns: tuple[str, ...] = DATA_COLUMNS) -> str:
    """Content hash of a split: its rows (these columns, sorted by clause id), independent of row order."""
    present = [c for c in columns if c in frame.columns]
    rows = frame[present].astype(str).sort_values(present).to_numpy().tolist()
    return digest({"columns": present, "rows": rows})


def library_versions(names: tuple[str, ...] = LIBRARIES) -> dict[str, str]:
    """Installed versions of the libraries that compute training ("absent" when not installed)."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def training_inputs(
    clauses: pd.DataFrame,
    *,
    split_seed: Any,
    prompt: Mapping[str, Any],
    trainer: Mapping[str, Any],
    strategy: str,
    strategy_settings: Mapping[str, Any],
    base_model: Mapping[str, Any],
    libraries: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The named fields a checkpoint depends on (the record a completed checkpoint keeps)."""
    ignored_base = {"cache_dir"}  # where a derived base is cached does not change its weights
    return {
        "train_rows": rows_hash(clauses[clauses["split"] == "train"]),
        "validation_rows": rows_hash(clauses[clauses["split"] == "validation"]),
        "split_seed": split_seed,
        "prompt": dict(prompt),
        "trainer": dict(trainer),
        "strategy": {"name": strategy, **dict(strategy_settings)},
        "base_model": {k: v for k, v in dict(base_model).items() if k not in ignored_base},
        "libraries": dict(libraries if libraries is not None else library_versions()),
    }


def _short(value: Any, limit: int = 80) -> str:
    text = canonical_json(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def changed_fields(saved: Mapping[str, Any] | None, current: Mapping[str, Any]) -> list[str]:
    """Human-readable differences, one per changed field (``trainer.learning_rate: 0.0001 -> 0.0002``)."""
    if not saved:
        return ["the checkpoint has no fingerprint record (it predates fingerprints)"]
    lines = []
    for field in sorted(set(saved) | set(current)):
        old, new = saved.get(field), current.get(field)
        if canonical_json(old) == canonical_json(new):
            continue
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            for key in sorted(set(old) | set(new)):
                if canonical_json(old.get(key)) != canonical_json(new.get(key)):
                    lines.append(f"{field}.{key}: {_short(old.get(key))} -> {_short(new.get(key))}")
        elif field.endswith("_rows"):
            lines.append(f"{field}: the {field.removesuffix('_rows')} split's rows changed")
        else:
            lines.append(f"{field}: {_short(old)} -> {_short(new)}")
    return lines
