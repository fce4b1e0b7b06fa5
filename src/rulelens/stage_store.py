"""Completed work of one stage of one variant, kept as it is done, valid for one record of its inputs.

Generation and attribution take minutes per variant on a CPU and hours on a cluster; a crash, a
preempted job or a rerun after a reporting change must not redo them. A :class:`StageStore` is a
folder (``data/07_model_output/<dataset>/<strategy>/<size>/progress/<stage>``, in the catalog as
``<variant>.<stage>_progress``) holding:

- ``record.json``: what the work was computed from (the checkpoint's fingerprint, the clause rows,
  the settings that change the numbers, library versions). Opening the store with another record
  names the changed fields in the log and empties the store: nothing computed from other inputs is
  ever reused.
- one file per finished unit (a clause's attribution, a generation batch), written all-or-nothing
  as soon as it is done, so a killed run resumes at the first unfinished unit;
- ``outputs``: the stage's finished outputs; a rerun with the same record returns them and skips the
  stage (the model is not even loaded).

Units are pickles written by this project into its own data folder (the same trust as the
checkpoint next to them). See docs/configuration.md, "What a rerun recomputes".
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import shutil
from pathlib import Path
from typing import Any

from rulelens.datasets.atomic_files import TEMPORARY_PREFIX, leftover_partials, write_atomically
from rulelens.modeling.fingerprint import canonical_json, changed_fields, digest

logger = logging.getLogger(__name__)

RECORD = "record.json"
OUTPUTS = "outputs"
UNITS = "units"


def _unit_file(key: str) -> str:
    """A file name for any key (clause ids can hold any character)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32] + ".pkl"


def finished_units(folder: Path) -> list[Path]:
    """The unit files in ``folder``, without the partial files of killed writes."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.pkl") if not p.name.startswith(TEMPORARY_PREFIX))


# Bumped when a stage's computation changes in a way its settings do not show (a new metric, a fix).
STAGE_VERSIONS = {"attribution": 1, "generation": 2}  # generation 2: grammar-constrained decoding
STAGE_LIBRARIES = ("torch", "transformers", "peft", "bitsandbytes", "sentence-transformers", "z3-solver")


def checkpoint_identity(metadata: dict[str, Any] | None) -> dict[str, Any]:
    """What identifies a completed checkpoint's weights: its training fingerprint, when it was saved
    and its weight files' sizes (a retrain with the same inputs is a new checkpoint)."""
    metadata = metadata or {}
    inner = metadata.get("metadata") or {}
    return {
        "fingerprint": inner.get("fingerprint"),
        "saved_at": metadata.get("saved_at"),
        "weight_files": metadata.get("weight_files"),
    }


def stage_record(stage: str, *, model: dict[str, Any], clauses: Any, settings: dict[str, Any]) -> dict[str, Any]:
    """The record of one stage's work for one model: what changes its numbers, and nothing else.

    ``model`` identifies the weights (:func:`checkpoint_identity`, or a base model's spec);
    ``clauses`` is the frame of rows the stage works on (hashed whole); ``settings`` the parameter
    blocks that change the numbers (switches such as ``progress`` or ``recompute`` left out).
    """
    from rulelens.modeling.fingerprint import library_versions, rows_hash
    from rulelens.modeling.placement import run_placement

    where = run_placement()
    return {
        "stage": stage,
        "stage_version": STAGE_VERSIONS[stage],
        "model": model,
        "clauses": rows_hash(clauses, tuple(clauses.columns)),
        "settings": settings,
        "placement": {"device": where.device, "dtype": where.dtype, "merge_adapters": where.merge_adapters},
        "libraries": library_versions(STAGE_LIBRARIES),
    }


def without(block: dict[str, Any] | None, *keys: str) -> dict[str, Any]:
    """A parameters block without the switches that do not change the numbers."""
    return {k: v for k, v in dict(block or {}).items() if k not in keys}


class StageStore:
    """A folder of finished units for one stage of one variant (see the module docstring)."""

    def __init__(self, path: str | Path, label: str = "") -> None:
        self.path = Path(path)
        self.label = label or str(self.path)
        self.record: dict[str, Any] | None = None
        self.reused = 0  # units read back in this run (for the log and the tests)

    # ---- opening

    def saved_record(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.path / RECORD).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def open(self, record: dict[str, Any], *, recompute: bool = False) -> StageStore:
        """Bind the store to ``record``: keep its units when the saved record equals it, else empty it."""
        record = json.loads(canonical_json(record))  # what JSON keeps, so the comparison is exact
        saved = self.saved_record()
        if recompute or saved is None or digest(saved) != digest(record):
            if recompute and saved is not None:
                logger.info("%s: recomputing as asked (recompute=true)", self.label)
            elif saved is not None:
                logger.info(
                    "%s: inputs changed since the saved work, recomputing: %s",
                    self.label,
                    "; ".join(changed_fields(saved, record)),
                )
            self.clear()
            write_atomically(self.path / RECORD, canonical_json(record).encode("utf-8"))
        for partial in leftover_partials(self.path / UNITS):
            partial.unlink(missing_ok=True)  # a write a killed run never finished
        self.record = record
        return self

    def clear(self) -> None:
        """Forget every unit and the outputs (the record is rewritten by :meth:`open`)."""
        if self.path.exists():
            shutil.rmtree(self.path)

    # ---- units and outputs

    def get(self, key: str) -> Any | None:
        """The unit saved under ``key`` in this record, or None."""
        self._check_open()
        path = self.path / UNITS / _unit_file(key)
        try:
            payload = path.read_bytes()
        except FileNotFoundError:
            return None
        stored_key, value = pickle.loads(payload)  # noqa: S301 - written by this project into its data folder
        if stored_key != key:
            return None
        self.reused += 1
        return value

    def put(self, key: str, value: Any) -> None:
        """Keep ``value`` under ``key`` (all-or-nothing; replaces an earlier unit of the same key)."""
        self._check_open()
        write_atomically(self.path / UNITS / _unit_file(key), pickle.dumps((key, value), protocol=5))

    def keys_done(self) -> int:
        """Finished units on disk (a partial file of a killed write is not one)."""
        return len(finished_units(self.path / UNITS))

    def outputs(self) -> Any | None:
        """The stage's finished outputs for this record, or None."""
        return self.get(OUTPUTS)

    def finish(self, outputs: Any) -> Any:
        """Keep the finished outputs; returns them."""
        self.put(OUTPUTS, outputs)
        return outputs

    def run(self, record: dict[str, Any], compute: Any, *, recompute: bool = False) -> Any:
        """The stage's outputs for ``record``: read back when finished, else ``compute(self)``, which
        reads back the units an interrupted run finished and keeps the ones it computes."""
        self.open(record, recompute=recompute)
        finished = self.outputs()
        if finished is not None:
            logger.info("%s: outputs match the model, clauses and settings; not recomputing", self.label)
            return finished
        kept = self.keys_done()
        if kept:
            logger.info("%s: resuming with %d finished units kept", self.label, kept)
        outputs = compute(self)
        if kept:
            done = self.keys_done() - kept
            logger.info("%s: %d finished units read back, %d computed in this run", self.label, self.reused, done)
        return self.finish(outputs)

    def _check_open(self) -> None:
        if self.record is None:
            raise RuntimeError(f"{self.label}: open the store with the stage's record first")


__all__ = ["StageStore", "checkpoint_identity", "finished_units", "stage_record", "without"]
