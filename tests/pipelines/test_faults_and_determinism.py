"""Faults a long run meets, with real processes: SIGKILL mid-training, then a rerun; and two runs of the
test profile from the same seed giving bit-identical attribution tables."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from tests.project_copy import copy_project, kedro

pytestmark = pytest.mark.slow  # real processes: the fast lane (-m "not slow") leaves it out

TRAIN_SLOWLY = [
    "--params",
    "training.trainer.max_steps=40,training.trainer.save_strategy=steps,"
    "training.trainer.early_stopping_patience=1000,"
    "training.trainer.save_steps=4",
]


def test_kill_during_training_then_rerun_resumes_and_finishes_with_the_same_fingerprint(tmp_path):
    root = copy_project(tmp_path)
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}"}
    assert kedro(root, "run", "--env", "test", "--pipelines", "data_processing", env=env).returncode == 0
    command = ["run", "--env", "test", "--pipelines", "training", "--namespaces", "fft.tiny", *TRAIN_SLOWLY]
    work = root / "data/06_models/test_profile/trainer/fft/tiny"
    process = subprocess.Popen(
        [str(os.path.join(os.path.dirname(sys.executable), "kedro")), *command],
        cwd=root,
        env=dict(
            os.environ, KEDRO_DISABLE_TELEMETRY="true", MLFLOW_DISABLE_TELEMETRY="true", HF_HUB_OFFLINE="1", **env
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while (
            not list(work.glob("checkpoint-*/trainer_state.json"))
            and time.monotonic() < deadline
            and process.poll() is None
        ):
            time.sleep(0.02)
        assert list(work.glob("checkpoint-*/trainer_state.json")), "training never wrote a Trainer checkpoint"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    interrupted = json.loads((work / "rulelens_fingerprint.json").read_text())["fingerprint"]
    checkpoint = root / "data/06_models/test_profile/fft/tiny"
    assert not (checkpoint / "_COMPLETE").exists()  # killed mid-training: no completed checkpoint

    rerun = kedro(root, *command, env=env)
    output = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0, output[-3000:]
    assert "Resuming training from" in output
    marker = json.loads((checkpoint / "_COMPLETE").read_text())
    assert marker["metadata"]["fingerprint"] == interrupted
    assert marker["metadata"]["training_metrics"]["global_step"] == 40
    assert not work.exists()  # the finished variant's Trainer folder is removed


def test_two_runs_from_the_same_seed_give_identical_attribution_tables(tmp_path):
    tables = []
    for name in ("first", "second"):
        root = copy_project(tmp_path / name)
        for stages in (["data_processing"], ["training,attribution", "--namespaces", "lora.tiny"]):
            result = kedro(root, "run", "--env", "test", "--pipelines", *stages, "--params", "tracking.enabled=false")
            assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
        tables.append(pd.read_parquet(root / "data/07_model_output/test_profile/lora/tiny/attributions.parquet"))
    pd.testing.assert_frame_equal(tables[0], tables[1], check_exact=True)  # bit for bit on CPU
