"""One ``kedro run`` per project data folder: an OS file lock held for the run's lifetime.

Two runs in one checkout would train the same variants and write the same tables at once
(docs/configuration.md, "One run per data folder"). The lock is an exclusive ``flock`` on
``data/.locks/<dataset>.lock``: the kernel drops it when the holder exits, killed or not, so a
lock can never outlive its process on this host. The file also records who holds it (pid, host,
start time, command) for the message a second run stops with. The file is never deleted, only
emptied on release, so two runs can never lock two different files of the same name.

A non-empty file that nobody holds was left by a run that died: it is taken over with a warning.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

LOCK_FOLDER = Path("data") / ".locks"


class RunLockedError(RuntimeError):
    """Another live run holds the data folder's lock."""


def lock_path(project_path: str | Path, dataset: str) -> Path:
    """Where the lock of ``dataset``'s data folder lives in the project."""
    return Path(project_path) / LOCK_FOLDER / f"{dataset}.lock"


def holder_record(env: str | None = None) -> dict[str, Any]:
    """Who is running: pid, host, UTC start time, the command line and the Kedro environment."""
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "",
        "env": env,
    }


def describe_holder(record: dict[str, Any] | None) -> str:
    """One line naming a lock's holder (for errors and warnings)."""
    if not record:
        return "an unknown process"
    return (
        f"pid {record.get('pid')} on {record.get('host')}, started {record.get('started')}, "
        f"command '{record.get('command')}'"
    )


def _read_record(handle) -> dict[str, Any] | None:
    handle.seek(0)
    text = handle.read().strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return {"command": f"(unreadable lock file: {text[:80]!r})"}


@dataclass
class RunLock:
    """The held lock: an open file descriptor with an exclusive ``flock`` on it."""

    path: Path
    handle: Any
    record: dict[str, Any]

    def release(self) -> None:
        """Empty the file and drop the lock (idempotent)."""
        if self.handle is None or self.handle.closed:
            return
        try:
            self.handle.seek(0)
            self.handle.truncate()
            self.handle.flush()
        finally:
            fcntl.flock(self.handle.fileno(), fcntl.LOCK_UN)
            self.handle.close()


def acquire(path: str | Path, record: dict[str, Any] | None = None, *, how_to_run_elsewhere: str = "") -> RunLock:
    """Take the lock at ``path`` or raise :class:`RunLockedError` naming the run that holds it.

    A lock file with a record whose process no longer holds the lock (killed, crashed, machine
    restarted) is taken over, with a warning naming the run that left it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = record or holder_record()
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the run's lifetime
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_record(handle)
        handle.close()
        raise RunLockedError(
            f"another run is using this data folder ({path}): {describe_holder(holder)}. "
            f"Wait for it to finish, or run elsewhere: {how_to_run_elsewhere or 'another --env with its own dataset'}."
        ) from None
    left = _read_record(handle)
    if left:
        logger.warning("Taking over the lock %s left by a run that is gone (%s)", path, describe_holder(left))
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps(record))
    handle.flush()
    os.fsync(handle.fileno())
    return RunLock(path=path, handle=handle, record=record)


def read_holder(path: str | Path) -> dict[str, Any] | None:
    """The record in a lock file (None when empty or absent); says nothing about whether it is held."""
    path = Path(path)
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as handle:
        return _read_record(handle)


__all__ = ["RunLock", "RunLockedError", "acquire", "describe_holder", "holder_record", "lock_path", "read_holder"]
