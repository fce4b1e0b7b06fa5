"""Datasets whose saves are all-or-nothing: write a hidden sibling, fsync, rename over the target.

A run killed, or a disk that fills, while a table is written in place leaves a truncated file that
the next run reads as an error far from its cause, or worse, reads. Every table, figure, JSON and
page the project writes goes through these classes (conf/base/catalog.yml): the previous complete
file stays in place until the new one is whole on disk, and a failed save removes its partial
sibling and stops the run with kedro's ``DatasetError`` naming the file and the OS error (disk
full, file too large). See docs/configuration.md, "What a rerun recomputes".

Local paths only: for remote protocols (s3://, gs://, ...) the object store's own put is atomic
and the classes save as their parents do.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from kedro_datasets.json import JSONDataset
from kedro_datasets.matplotlib import MatplotlibDataset
from kedro_datasets.pandas import ParquetDataset
from kedro_datasets.text import TextDataset

from rulelens.datasets.atomic_files import commit, temporary_sibling
from rulelens.datasets.safe_csv import SafeCSVDataset


class AtomicSaveMixin:
    """Make a kedro-datasets file dataset's ``save`` write a sibling and rename it into place.

    Works on any dataset that writes one file at ``self._filepath`` through its ``_fs`` (the
    kedro-datasets file datasets). Versioned and remote datasets save as their parent does.
    """

    _filepath: PurePosixPath
    _protocol: str

    def save(self, data: Any) -> None:
        if getattr(self, "_protocol", "file") != "file" or getattr(self, "_version", None) is not None:
            super().save(data)  # type: ignore[misc]
            return
        final = Path(str(self._filepath))
        final.parent.mkdir(parents=True, exist_ok=True)
        partial = temporary_sibling(final)
        self._filepath = PurePosixPath(str(partial))
        try:
            super().save(data)  # type: ignore[misc]
            commit(partial, final)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        finally:
            self._filepath = PurePosixPath(str(final))
            invalidate = getattr(self, "_invalidate_cache", None)
            if invalidate is not None:
                invalidate()


class AtomicParquetDataset(AtomicSaveMixin, ParquetDataset):
    """``pandas.ParquetDataset`` with all-or-nothing saves."""


class AtomicCSVDataset(AtomicSaveMixin, SafeCSVDataset):
    """:class:`~rulelens.datasets.safe_csv.SafeCSVDataset` (formula-safe CSV) with all-or-nothing saves."""


class AtomicJSONDataset(AtomicSaveMixin, JSONDataset):
    """``json.JSONDataset`` with all-or-nothing saves."""


class AtomicTextDataset(AtomicSaveMixin, TextDataset):
    """``text.TextDataset`` (HTML pages) with all-or-nothing saves."""


class AtomicMatplotlibDataset(AtomicSaveMixin, MatplotlibDataset):
    """``matplotlib.MatplotlibDataset`` with all-or-nothing saves of one figure; a list or dict of
    figures (a folder of files) is saved as the parent saves it."""

    def save(self, data: Any) -> None:
        if isinstance(data, (list, dict)):
            MatplotlibDataset.save(self, data)
        else:
            super().save(data)


__all__ = [
    "AtomicCSVDataset",
    "AtomicJSONDataset",
    "AtomicMatplotlibDataset",
    "AtomicParquetDataset",
    "AtomicSaveMixin",
    "AtomicTextDataset",
]
