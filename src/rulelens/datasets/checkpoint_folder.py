"""A checkpoint folder's completion marker and the recovery of an interrupted save.

Shared by :mod:`rulelens.datasets.hf_checkpoint` (which writes checkpoint folders) and
:mod:`rulelens.datasets.checkpoint_marker` (which only reads their marker), so that neither
dataset module imports the other for it. A folder is complete when its ``_COMPLETE`` marker
(JSON metadata, written last) exists; a save writes a hidden ``.<name>.tmp-*`` sibling and
swaps it in with two renames, keeping the old folder as ``.<name>.old-*`` until the swap is done.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

COMPLETE_MARKER = "_COMPLETE"


def read_marker(path: str | Path) -> dict[str, Any] | None:
    """The ``_COMPLETE`` metadata of a checkpoint folder, or None when it is not complete."""
    marker = Path(path) / COMPLETE_MARKER
    return json.loads(marker.read_text()) if marker.is_file() else None


def hidden_siblings(path: Path, kind: str) -> list[Path]:
    """Hidden ``.<name>.tmp-*`` / ``.<name>.old-*`` folders beside ``path``, newest first."""
    if not path.parent.is_dir():
        return []
    found = [p for p in path.parent.glob(f".{path.name}.{kind}-*") if p.is_dir()]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def recover_interrupted_swap(path: Path) -> str | None:
    """Put a checkpoint back in place after a crash between the two renames of a save.

    Returns what was done (for the log), or None when there was nothing to recover.
    """
    if path.exists():
        if (path / COMPLETE_MARKER).is_file():  # a finished swap whose clean-up was cut short
            for stale in hidden_siblings(path, "old"):
                shutil.rmtree(stale, ignore_errors=True)
        return None
    for kind, what in (("tmp", "the newly saved checkpoint"), ("old", "the previous checkpoint")):
        for candidate in hidden_siblings(path, kind):
            if (candidate / COMPLETE_MARKER).is_file():
                os.rename(candidate, path)
                message = f"recovered {what} at {path} from {candidate.name} after an interrupted save"
                logging.getLogger(__name__).warning(message)
                return message
    return None
