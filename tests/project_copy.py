"""Run the real ``kedro`` CLI on a throwaway copy of the project, as a user would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
SHARED = PROJECT.parent / "shared"
NZBC_CSV = SHARED / "datasets" / "nzbc-lrml" / "clauses.csv"


def copy_project(destination: Path) -> Path:
    """Copy conf, src, the shipped raw data and pyproject into ``destination/rulelens``.

    ``destination/shared`` links to the real ../shared so that environments that read
    ``../shared/...`` (conf/nzbc) work in the copy too.
    """
    root = destination / "rulelens"
    shutil.copytree(PROJECT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    shutil.copytree(PROJECT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copytree(PROJECT / "data" / "01_raw", root / "data" / "01_raw")
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(PROJECT / name, root / name)
    if SHARED.exists():
        (destination / "shared").symlink_to(SHARED)
    return root


def kedro(
    root: Path, *args: str, timeout: int = 1200, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``kedro <args>`` in ``root`` with telemetry off and no network; output captured."""
    env = dict(
        os.environ,
        KEDRO_DISABLE_TELEMETRY="true",
        MLFLOW_DISABLE_TELEMETRY="true",
        HF_HUB_OFFLINE="1",
        COLUMNS="250",
        **(env or {}),
    )
    env.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    kedro_bin = Path(sys.executable).with_name("kedro")
    return subprocess.run([str(kedro_bin), *args], cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
