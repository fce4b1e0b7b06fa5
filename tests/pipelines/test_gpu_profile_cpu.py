"""The GPU profile on a CPU-only machine.

- ``kedro run --env gpu`` stops before any node with a clear message (no CUDA torch), instead of
  training 0.5B-14B models on the CPU.
- conf/gpu with the CPU forced (``training.placement.device: cpu``) and its size ladder replaced
  by the tiny test models runs every pipeline end to end: bf16 mixed-precision training, bf16
  engine with its check, device/dtype tagged on the MLflow child runs.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch
import yaml

from tests.pipelines.test_nzbc_env import merge
from tests.project_copy import copy_project, kedro

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(torch.cuda.is_available(), reason="tests the CPU-only behaviour of the GPU profile"),
]

ENV = "gpu_tiny"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gpu_profile")
    root = copy_project(folder)
    conf = root / "conf"
    target = conf / ENV
    shutil.copytree(conf / "gpu", target)
    test_training = yaml.safe_load((conf / "test" / "parameters_training.yml").read_text(encoding="utf-8"))
    training = yaml.safe_load((target / "parameters_training.yml").read_text(encoding="utf-8"))
    training["training"]["sizes"] = {"tiny": test_training["training"]["sizes"]["tiny"]}
    training["training"]["base_model_defaults"]["allow_download"] = False
    training["training"]["strategies"]["lora"]["settings"]["target_modules"] = ["q_proj", "v_proj"]
    training["training"]["strategies"]["qlora"]["settings"]["target_modules"] = ["q_proj", "v_proj"]
    training = merge(
        training,
        {
            "training": {
                "placement": {"device": "cpu"},
                "trainer": {  # four steps reach every code path (bf16 autocast, checkpointing, two evaluations,
                    # the best checkpoint); the profile's 600-step cap would train for minutes on CPUs
                    # without bf16 instructions (AVX2-only), where bf16 matmuls run in software
                    "max_steps": 4,
                    "eval_steps": 2,
                    "warmup_steps": 1,
                    "max_length": 160,
                    "epochs": 1,
                    "batch_size": 4,
                    "max_train_examples": 8,
                    "max_eval_examples": 4,
                    "logging_steps": 1,
                },
            }
        },
    )
    (target / "parameters_training.yml").write_text(yaml.safe_dump(training, sort_keys=False), encoding="utf-8")
    (target / "variants.yml").write_text("strategies: [fft, lora, qlora]\nsizes: [tiny]\n", encoding="utf-8")
    shutil.copy(conf / "test" / "parameters_evaluation.yml", target / "parameters_evaluation.yml")
    attribution = yaml.safe_load((target / "parameters_attribution.yml").read_text(encoding="utf-8"))
    attribution["attribution"].update(
        progress=False, faithfulness={"n_clauses": 1, "max_k": 2, "n_random": 10, "seed": 0, "lds": False}
    )
    (target / "parameters_attribution.yml").write_text(yaml.safe_dump(attribution), encoding="utf-8")
    data = yaml.safe_load((target / "parameters_data_processing.yml").read_text(encoding="utf-8"))
    data["data_processing"]["selection"] = {"n_clauses": 2, "max_words": 40}
    (target / "parameters_data_processing.yml").write_text(yaml.safe_dump(data), encoding="utf-8")
    globals_ = yaml.safe_load((target / "globals.yml").read_text(encoding="utf-8"))
    globals_.update(dataset="gpu_tiny", environment=ENV)
    (target / "globals.yml").write_text(yaml.safe_dump(globals_), encoding="utf-8")
    yield root
    shutil.rmtree(folder, ignore_errors=True)


def test_the_gpu_env_without_cuda_stops_before_any_node(project):
    result = kedro(project, "run", "--env", "gpu", timeout=300)
    log = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0
    assert "placement.device asks for CUDA" in log and "placement.device=cpu" in log
    assert "Running node" not in log and not (project / "data" / "06_models" / "base_gpu").exists()


def test_the_gpu_env_with_the_cpu_forced_runs_the_tiny_ladder_end_to_end(project):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{project / 'mlflow_gpu_tiny.db'}"
    result = kedro(project, "run", "--env", ENV, env={"MLFLOW_TRACKING_URI": uri}, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    out = project / "data" / "07_model_output" / "gpu_tiny"
    for strategy in ("fft", "lora", "qlora"):
        evaluation = json.loads((out / strategy / "tiny" / "evaluation_metrics.json").read_text())
        attribution = json.loads((out / strategy / "tiny" / "attribution_metrics.json").read_text())
        assert evaluation["device"] == "cpu" and evaluation["dtype"] == "float32"  # auto dtype on CPU
        assert attribution["device"] == "cpu" and attribution["dtype"] in ("bfloat16", "float32")
        assert "attribution_bf16_gap_nats" in attribution  # the bf16 check ran on the first clause
        training = json.loads((out / strategy / "tiny" / "training_metrics.json").read_text())
        assert training["memory_plan_peak_gb"] > 0
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    tagged = [r for r in runs if r.data.tags.get("rulelens.level") == "variant" and r.data.tags.get("device") == "cpu"]
    assert len(tagged) >= 3
