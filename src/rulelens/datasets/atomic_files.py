"""Whole-or-nothing files: write a hidden sibling, fsync it, rename it over the target.

Plain functions with no Kedro or pandas import, shared by the catalog's datasets
(:mod:`rulelens.datasets.atomic`) and the stage stores (:mod:`rulelens.stage_store`).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

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


def commit(partial: Path, final: Path) -> None:
    """Flush a finished ``partial`` file to disk and rename it over ``final`` (the folder's entry too)."""
    fsync_path(partial)
    os.replace(partial, final)
    fsync_path(final.parent)


def write_atomically(path: Path, payload: bytes) -> None:
    """``payload`` at ``path``, whole or not at all (hidden sibling, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = temporary_sibling(path)
    try:
        partial.write_bytes(payload)
        commit(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


__all__ = ["TEMPORARY_PREFIX", "commit", "fsync_path", "leftover_partials", "temporary_sibling", "write_atomically"]
