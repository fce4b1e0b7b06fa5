"""Kedro runners for rulelens: ``kedro run --runner rulelens.runners.DaskRunner`` (docs/cluster.md)."""

from rulelens.runners.dask_runner import DaskNodeError, DaskRunner, MemoryHandoffError

__all__ = ["DaskRunner", "DaskNodeError", "MemoryHandoffError"]
