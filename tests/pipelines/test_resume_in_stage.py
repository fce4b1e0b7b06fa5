"""A real ``kedro run`` killed by SIGKILL in the middle of a variant's attribution resumes there.

Unit of the check: one variant's attribution store caught with some, not all, of its clauses
finished. The rerun reads those back and computes only the rest; its tables equal, to the last
bit, those of an uninterrupted attribution of the same checkpoints (``attribution.recompute``).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from rulelens.stage_store import OUTPUTS, UNITS, _unit_file
from tests.project_copy import copy_project, kedro

N_CLAUSES = 3  # conf/test: data_processing.selection.n_clauses


def _partial_stores(root: Path) -> list[tuple[str, int]]:
    """(variant, clause units) of attribution stores with some clauses finished and no outputs yet."""
    found = []
    for units in root.glob("data/07_model_output/test_profile/*/*/progress/attribution/" + UNITS):
        if (units / _unit_file(OUTPUTS)).exists():
            continue
        done = len(list(units.glob("*.pkl")))
        if 0 < done < N_CLAUSES:
            strategy, size = units.parents[2].parent.name, units.parents[2].name
            found.append((f"{strategy}.{size}", done))
    return found


def _kill_mid_attribution(process: subprocess.Popen, root: Path, seconds: float = 600) -> list[tuple[str, int]]:
    """Stop the run the moment a variant's attribution is part done, check it is, then SIGKILL it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "the run finished before it could be caught mid-attribution"
        if _partial_stores(root):
            process.send_signal(signal.SIGSTOP)  # frozen: what we see now is what the kill leaves
            caught = _partial_stores(root)
            if caught:
                process.send_signal(signal.SIGKILL)
                process.wait()
                return caught
            process.send_signal(signal.SIGCONT)
        time.sleep(0.002)
    raise AssertionError("no attribution was caught part done")


TABLES = ("attributions", "faithfulness_curves", "lds_scores")


def _tables(root: Path, variant: str) -> dict[str, pd.DataFrame]:
    folder = root / "data" / "07_model_output" / "test_profile" / Path(*variant.split("."))
    return {name: pd.read_parquet(folder / f"{name}.parquet") for name in TABLES}


def test_a_run_killed_mid_attribution_resumes_at_the_first_unfinished_clause(tmp_path):
    root = copy_project(tmp_path)
    env = dict(os.environ, KEDRO_DISABLE_TELEMETRY="true", MLFLOW_DISABLE_TELEMETRY="true", HF_HUB_OFFLINE="1")
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    first = subprocess.Popen(
        [str(Path(sys.executable).with_name("kedro")), "run", "--env", "test"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        caught = _kill_mid_attribution(first, root)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    variant, kept = caught[0]

    rerun = kedro(root, "run", "--env", "test")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    log = " ".join((rerun.stdout + rerun.stderr).split())
    assert re.search(rf"{re.escape(variant)}: resuming attribution with {kept} finished units kept", log), log[-3000:]
    assert re.search(
        rf"{re.escape(variant)}: {kept} finished units read back, {N_CLAUSES - kept + 2} computed in this run", log
    ), log[-3000:]  # the remaining clauses and the two faithfulness clauses of conf/test
    assert "not retraining" in log  # the variants the killed run had trained
    resumed = _tables(root, variant)

    fresh = kedro(root, "run", "--env", "test", "--pipelines", "attribution", "--params", "attribution.recompute=true")
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    assert "recomputing as asked" in " ".join((fresh.stdout + fresh.stderr).split())
    uninterrupted = _tables(root, variant)
    for name in TABLES:
        pd.testing.assert_frame_equal(resumed[name], uninterrupted[name], check_exact=True)
