"""A read-only wrapper that loads ``None`` when the wrapped dataset has nothing saved yet.

The compliance pipeline reads a variant's checkpoint and study outputs that may not exist (a
clause the study never saw, a variant not trained yet); the node then decides what to compute
or which clear error to raise, instead of Kedro's generic load failure.
"""

from __future__ import annotations

from typing import Any

from kedro.io import AbstractDataset, DatasetError


class OptionalDataset(AbstractDataset[None, Any]):
    """``dataset``: the wrapped dataset's catalog definition (``type`` plus its arguments)."""

    def __init__(self, dataset: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        self._inner = AbstractDataset.from_config("optional", dict(dataset))
        self.metadata = metadata

    def load(self) -> Any:
        return self._inner.load() if self._inner.exists() else None

    def save(self, data: None) -> None:
        raise DatasetError("an OptionalDataset is read-only: it wraps another stage's output")

    def _exists(self) -> bool:
        return self._inner.exists()

    def _describe(self) -> dict[str, Any]:
        return {"dataset": self._inner._describe()}
