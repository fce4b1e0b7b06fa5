"""Sharded full fine-tuning path: two CPU processes (gloo) under torchrun, via Kedro.

On CPUs accelerate 1.15 does not shard: with ``fsdp`` set it still wraps the model in DDP
(MULTI_CPU; FSDP is enabled only for GPU-type backends), so this tests the multi-process
launch, the post-training gather (``save_model`` + reload) and rank-0-only checkpointing and
tracking with DDP; FSDP sharding itself needs GPUs (scripts/gpu_smoke.sh).

The documented launch, ``torchrun --nproc_per_node N --no-python kedro run --pipeline training
--namespaces fft.<size> --params "training.trainer.fsdp=full_shard auto_wrap"``, on the tiny
test profile in a throwaway project copy: both ranks train their shard, the weights are
gathered once, and only rank 0 writes the checkpoint (exactly one, complete, loadable) and
talks to MLflow.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.project_copy import copy_project, kedro

pytestmark = pytest.mark.slow  # real processes: the fast lane (-m "not slow") leaves it out


@pytest.fixture(scope="module")
def sharded_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sharded")
    root = copy_project(folder)
    (root / "conf" / "test" / "variants.yml").write_text("strategies: [fft]\nsizes: [tiny]\n", encoding="utf-8")
    prepared = kedro(root, "run", "--env", "test", "--pipeline", "data_processing")
    assert prepared.returncode == 0, prepared.stderr[-3000:]
    env = dict(
        os.environ,
        KEDRO_DISABLE_TELEMETRY="true",
        MLFLOW_DISABLE_TELEMETRY="true",
        HF_HUB_OFFLINE="1",
        MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlflow.db'}",
        OMP_NUM_THREADS="1",
    )
    torchrun = Path(sys.executable).with_name("torchrun")
    kedro_bin = Path(sys.executable).with_name("kedro")
    command = [
        str(torchrun),
        "--nproc_per_node",
        "2",
        "--master_port",
        "29517",
        "--no-python",
        str(kedro_bin),
        "run",
        "--env",
        "test",
        "--pipeline",
        "training",
        "--namespaces",
        "fft.tiny",
        "--params",
        "training.trainer.fsdp=full_shard auto_wrap,training.trainer.ddp_backend=gloo",
    ]
    result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    yield root, result
    shutil.rmtree(folder, ignore_errors=True)


def test_two_processes_train_and_write_exactly_one_loadable_checkpoint(sharded_run):
    import json

    from rulelens.datasets import HFCheckpointDataset

    root, result = sharded_run
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-5000:]
    flat = " ".join(log.split())  # rich wraps long log lines
    assert "Rank 1: MLflow tracking is left" in flat, flat[-3000:]
    assert "Rank 1: not the main process;" in flat
    assert "accelerate runs" in flat  # the warning that CPUs get DDP, not FSDP
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    parents = [r for r in runs if r.data.tags.get("kedro.pipeline") == "training"]
    children = [r for r in runs if r.data.tags.get("rulelens.level") == "variant"]
    assert len(parents) == 1 and len(children) == 1  # rank 0's only (the other parent is data_processing's)
    models = root / "data" / "06_models" / "test_profile" / "fft"
    assert sorted(p.name for p in models.iterdir()) == ["tiny"]  # one folder, no hidden .tmp/.old leftovers
    bundle = HFCheckpointDataset(str(models / "tiny")).load()
    assert bundle.metadata["kind"] == "full" and bundle.model.config.num_hidden_layers == 2
    metrics = json.loads(
        (root / "data" / "07_model_output" / "test_profile" / "fft" / "tiny" / "training_metrics.json").read_text()
    )
    # the test profile's step cap (2), each step one batch of 4 per process; both processes stepped together
    assert metrics["global_step"] == 2 and metrics["stopped_by"] == "step_cap"
