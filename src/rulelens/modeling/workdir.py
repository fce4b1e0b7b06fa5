"""The Trainer's scratch folder of one variant: resumable only by the run that started it.

HF Trainer writes ``checkpoint-N`` folders while it trains, so an interrupted run can resume.
Resuming is only right when the interrupted run trained the same thing: the folder keeps the
fingerprint of its inputs (:mod:`rulelens.modeling.fingerprint`), and a run with other inputs,
or an explicit retrain, starts in an emptied folder from the base model.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

logger = logging.getLogger(__name__)
FINGERPRINT_FILE = "rulelens_fingerprint.json"


def work_dir_fingerprint(work_dir: str | Path) -> str | None:
    """The fingerprint an earlier (possibly interrupted) run left in ``work_dir``, or None."""
    path = Path(work_dir) / FINGERPRINT_FILE
    try:
        return json.loads(path.read_text())["fingerprint"]
    except (OSError, ValueError, KeyError):
        return None


def prepare_work_dir(work_dir: str | Path, fingerprint: str, fresh: bool = False) -> bool:
    """Make ``work_dir`` ready for training with ``fingerprint``; True when it may be resumed from.

    The folder is emptied when ``fresh`` (a retrain), or when it holds another run's (or no)
    fingerprint: its Trainer checkpoints belong to other inputs and must not be resumed.
    """
    work_dir = Path(work_dir)
    resumable = work_dir.is_dir() and not fresh and work_dir_fingerprint(work_dir) == fingerprint
    if work_dir.is_dir() and not resumable:
        if any(work_dir.iterdir()):
            reason = "retrain requested" if fresh else "its inputs differ from this run's"
            logger.warning(
                "Discarding the Trainer folder %s (%s); training starts from the base model", work_dir, reason
            )
        shutil.rmtree(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    (work_dir / FINGERPRINT_FILE).write_text(json.dumps({"fingerprint": fingerprint}))
    return resumable


def remove_work_dir(work_dir: str | Path | None) -> None:
    """Delete a finished variant's Trainer folder (its checkpoint is safely saved elsewhere)."""
    if work_dir and Path(work_dir).is_dir() and (Path(work_dir) / FINGERPRINT_FILE).is_file():
        shutil.rmtree(work_dir, ignore_errors=True)
