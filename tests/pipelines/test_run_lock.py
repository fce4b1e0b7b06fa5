"""One run per project data folder, with real processes: a second run stops at once naming the
first; a lock left by a killed run is taken over with a warning."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rulelens import run_lock
from tests.project_copy import copy_project, kedro

pytestmark = pytest.mark.slow  # real processes: the fast lane (-m "not slow") leaves it out

HOLD = textwrap.dedent(
    """
    import sys, time
    from rulelens import run_lock
    lock = run_lock.acquire(sys.argv[1])
    print("held", flush=True)
    time.sleep(120)
    """
)


def _holder(path: Path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_second_process_is_refused_with_the_holder_named(tmp_path):
    path = tmp_path / "data" / ".locks" / "x.lock"
    holder = _holder(path)
    try:
        with pytest.raises(run_lock.RunLockedError, match=f"pid {holder.pid} on "):
            run_lock.acquire(path, how_to_run_elsewhere="another --env")
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_left_by_a_killed_process_is_taken_over_with_a_warning(tmp_path, caplog):
    path = tmp_path / "x.lock"
    holder = _holder(path)
    holder.send_signal(signal.SIGKILL)  # no chance to release: the record stays in the file
    holder.wait()
    assert run_lock.read_holder(path)["pid"] == holder.pid
    with caplog.at_level("WARNING", logger="rulelens.run_lock"):
        lock = run_lock.acquire(path)
    assert f"pid {holder.pid}" in caplog.text and "gone" in caplog.text
    assert run_lock.read_holder(path)["pid"] == os.getpid()
    lock.release()
    assert run_lock.read_holder(path) is None  # released: emptied, never deleted
    run_lock.acquire(path).release()  # and free again


def _wait_for_lock(path: Path, process: subprocess.Popen, seconds: float = 120) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        record = run_lock.read_holder(path)
        if record:
            return record
        assert process.poll() is None, "the first run ended before taking its lock"
        time.sleep(0.2)
    raise AssertionError(f"no lock at {path} after {seconds} s")


# Killed within seconds of starting, the first run may be inside MLflow's first migration of a new
# sqlite store, which then cannot be opened again; the lock is what is under test here.
NO_TRACKING = ("--params", "tracking.enabled=false")


def test_two_kedro_runs_in_one_project_folder(tmp_path):
    """Two real ``kedro run`` in one copy: the second stops at once; after the first is killed
    (SIGKILL, no cleanup) the next run takes the stale lock over and runs."""
    root = copy_project(tmp_path)
    lock = run_lock.lock_path(root, "test_profile")
    env = dict(os.environ, KEDRO_DISABLE_TELEMETRY="true", MLFLOW_DISABLE_TELEMETRY="true", HF_HUB_OFFLINE="1")
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    kedro_bin = Path(sys.executable).with_name("kedro")
    first = subprocess.Popen(
        [str(kedro_bin), "run", "--env", "test", *NO_TRACKING],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        record = _wait_for_lock(lock, first)
        assert record["pid"] == first.pid and "run --env test" in record["command"]
        started = time.monotonic()
        second = kedro(root, "run", "--env", "test", "--pipelines", "data_processing", *NO_TRACKING)
        assert second.returncode != 0
        output = " ".join((second.stdout + second.stderr).split())
        assert "another run is using this data folder" in output
        assert f"pid {first.pid}" in output and record["started"] in output
        assert "Running node" not in second.stdout + second.stderr  # stopped before any node
        assert time.monotonic() - started < 120
        assert first.poll() is None  # the first run was not disturbed
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    third = kedro(root, "run", "--env", "test", "--pipelines", "data_processing", *NO_TRACKING)
    assert third.returncode == 0, third.stderr[-3000:]
    assert "left by a run that is gone" in " ".join((third.stdout + third.stderr).split())
    assert json.loads(lock.read_text() or "null") is None  # released at the end of the run
