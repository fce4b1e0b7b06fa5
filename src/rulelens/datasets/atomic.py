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

import os
import uuid
from pathlib import Path, PurePosixPath
from typing import Any

from kedro_datasets.json import JSONDataset
from kedro_datasets.matplotlib import MatplotlibDataset
from kedro_datasets.pandas import ParquetDataset
from kedro_datasets.text import TextDataset

from rulelens.datasets.safe_csv import SafeCSVDataset

TEMPORARY_PREFIX = ".partial-"


def fsync_path(path: str | Path) -> None:
    """Flush a file's (or a folder's) data to disk; a no-op where the OS does not allow it."""
    flags = os.O_RDONLY | (os.O_DIRECTORY if Path(path).is_dir() else 0)
    try:
        handle = os.open(path, flags)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def temporary_sibling(path: Path) -> Path:
    """A hidden, unique name beside ``path`` (same folder, so the rename is atomic)."""
    return path.with_name(f"{TEMPORARY_PREFIX}{uuid.uuid4().hex[:8]}-{path.name}")


def leftover_partials(folder: str | Path) -> list[Path]:
    """Partial files a killed save left in ``folder`` (never loaded; safe to delete)."""
    folder = Path(folder)
    return sorted(folder.glob(f"{TEMPORARY_PREFIX}*")) if folder.is_dir() else []


class AtomicSaveMixin:
    """Make a kedro-datasets file dataset's ``save`` write a sibling and rename it into place.

    Works on any dataset that writes to ``self._filepath`` through its ``_fs`` (every
    ``AbstractVersionedDataset`` of kedro-datasets). Versioned datasets save as their parent does.
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
            if partial.is_dir():  # a multi-figure MatplotlibDataset writes a folder
                for child in partial.rglob("*"):
                    if child.is_file():
                        fsync_path(child)
            else:
                fsync_path(partial)
            if final.is_dir() and partial.is_dir():
                _replace_folder(partial, final)
            else:
                os.replace(partial, final)
            fsync_path(final.parent)
        except BaseException:
            _remove(partial)
            raise
        finally:
            self._filepath = PurePosixPath(str(final))
            invalidate = getattr(self, "_invalidate_cache", None)
            if invalidate is not None:
                invalidate()


def _replace_folder(new: Path, old: Path) -> None:
    """Swap a folder into place: the old one moved aside, the new one renamed, the old one removed."""
    import shutil

    aside = old.with_name(f"{TEMPORARY_PREFIX}old-{uuid.uuid4().hex[:8]}-{old.name}")
    os.replace(old, aside)
    os.replace(new, old)
    shutil.rmtree(aside, ignore_errors=True)


def _remove(path: Path) -> None:
    import shutil

    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


class AtomicParquetDataset(AtomicSaveMixin, ParquetDataset):
    """``pandas.ParquetDataset`` with all-or-nothing saves."""


class AtomicCSVDataset(AtomicSaveMixin, SafeCSVDataset):
    """:class:`~rulelens.datasets.safe_csv.SafeCSVDataset` (formula-safe CSV) with all-or-nothing saves."""


class AtomicJSONDataset(AtomicSaveMixin, JSONDataset):
    """``json.JSONDataset`` with all-or-nothing saves."""


class AtomicTextDataset(AtomicSaveMixin, TextDataset):
    """``text.TextDataset`` (HTML pages) with all-or-nothing saves."""


class AtomicMatplotlibDataset(AtomicSaveMixin, MatplotlibDataset):
    """``matplotlib.MatplotlibDataset`` (figures) with all-or-nothing saves."""


__all__ = [
    "AtomicCSVDataset",
    "AtomicJSONDataset",
    "AtomicMatplotlibDataset",
    "AtomicParquetDataset",
    "AtomicSaveMixin",
    "AtomicTextDataset",
    "fsync_path",
    "leftover_partials",
    "temporary_sibling",
]
