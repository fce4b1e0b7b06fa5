"""A tracking server that dies mid-run costs warnings, not the run (real mlflow server, real kill)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.project_copy import copy_project, kedro
from tests.runners.processes import Processes, quiet_env, start_mlflow

pytestmark = pytest.mark.slow  # real processes: the fast lane (-m "not slow") leaves it out


def test_the_run_goes_on_and_saves_its_outputs_when_the_store_goes_away(tmp_path):
    root = copy_project(tmp_path)
    assert (
        kedro(
            root, "run", "--env", "test", "--pipelines", "data_processing", "--params", "tracking.enabled=false"
        ).returncode
        == 0
    )
    processes = Processes(tmp_path / "logs")
    try:
        uri = start_mlflow(processes, tmp_path / "mlflow")
        env = quiet_env(
            MLFLOW_TRACKING_URI=uri, MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT="5", COLUMNS="250"
        )
        run = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("kedro")),
                "run",
                "--env",
                "test",
                "--pipelines",
                "training",
                "--namespaces",
                "lora.tiny",
            ],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines = []
        for line in run.stdout:  # the parent run is open: take the server away before training logs anything
            lines.append(line)
            if "MLflow parent run" in line:
                processes.kill("mlflow")
                break
        lines += run.stdout.readlines()
        run.wait(timeout=600)
    finally:
        processes.stop_all()
    output = "".join(lines)
    assert run.returncode == 0, output[-4000:]
    assert "MLflow: could not" in output and "the run goes on" in output
    assert (root / "data/06_models/test_profile/lora/tiny/_COMPLETE").is_file()
    assert (root / "data/07_model_output/test_profile/lora/tiny/training_metrics.json").is_file()
