"""Read-only view of a checkpoint folder's completion marker, so a node can skip finished work.

Kedro forbids a node from reading the dataset it writes. The training node therefore reads the
checkpoint's ``_COMPLETE`` marker through this dataset (same folder as the checkpoint) and, when
the variant is complete, returns :class:`KeepCompletedCheckpoint`; HFCheckpointDataset treats
that as "leave the folder as it is" instead of rewriting it.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from rulelens.datasets.checkpoint_folder import read_marker, recover_interrupted_swap


class KeepCompletedCheckpoint(dict):
    """A node's answer "this checkpoint is complete; keep it": the marker it was read from."""


class CheckpointMarkerDataset(AbstractDataset[None, Any]):
    """Loads the marker of a checkpoint folder (a dict), or None when the folder is not complete."""

    def __init__(self, path: str, metadata: dict[str, Any] | None = None):
        self._path = Path(path)
        self.metadata = metadata

    def load(self) -> dict[str, Any] | None:
        recover_interrupted_swap(self._path)
        marker = read_marker(self._path)
        return None if marker is None else {**marker, "path": str(self._path)}

    def save(self, data: Any) -> None:
        raise DatasetError(f"{type(self).__name__} at {self._path} is read-only")

    def _exists(self) -> bool:
        return True  # "not complete" is a valid answer (None), not a missing input

    def _describe(self) -> dict[str, Any]:
        return {"path": str(PurePosixPath(self._path))}
