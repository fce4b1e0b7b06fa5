"""Catalog entry for a stage's progress folder (:class:`rulelens.stage_store.StageStore`).

Kedro forbids a node from reading the dataset it writes, so a stage that resumes its own work
gets this read-only handle as an input: loading it opens nothing and reads nothing; the node binds
it to its inputs' record (:meth:`StageStore.open`) and reads and writes units through it.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from rulelens.stage_store import StageStore


class StageProgressDataset(AbstractDataset[None, StageStore]):
    """Loads a :class:`StageStore` over ``path`` (created on first use)."""

    def __init__(self, path: str, metadata: dict[str, Any] | None = None):
        self._path = Path(path)
        self.metadata = metadata

    def load(self) -> StageStore:
        return StageStore(self._path)

    def save(self, data: Any) -> None:
        raise DatasetError(f"{type(self).__name__} at {self._path} is written by its stage's node, not saved")

    def _exists(self) -> bool:
        return True  # an empty store is a valid start

    def _describe(self) -> dict[str, Any]:
        return {"path": str(PurePosixPath(self._path))}
