"""The training pipeline in memory: one LoRA branch of the test grid through the real ``create_pipeline()``."""

from __future__ import annotations

import pandas as pd

from rulelens.datasets.checkpoint_marker import CheckpointMarkerDataset
from rulelens.modeling.bundle import ModelBundle
from rulelens.pipelines.training import create_pipeline
from rulelens.variant_grid import Variant, load_grid
from tests.pipelines.memory_run import conf_parameters, param_inputs, run_in_memory
from tests.project_copy import PROJECT

VARIANT = Variant("lora", "tiny")
ROWS = [
    (
        f"A.1.{i} The riser of step {i} shall not exceed {150 + i} mm.",
        f"rule('A.1.{i}', step, require=riser <= {150 + i} mm)",
    )
    for i in range(12)
]


def clauses() -> pd.DataFrame:
    frame = pd.DataFrame(ROWS, columns=["clause", "rule"])
    frame["clause_id"] = [f"c{i:02d}" for i in range(len(frame))]
    frame["split"] = ["train"] * 8 + ["validation"] * 2 + ["test"] * 2
    return frame


def test_one_variant_branch_trains_and_hands_on_its_checkpoint(tmp_path):
    params = conf_parameters("test")  # the tiny profile: tiny random Llama sizes, 2 optimizer steps
    training = params["training"]
    training["work_dir"] = str(tmp_path / "trainer")
    training["base_model_defaults"]["cache_dir"] = str(tmp_path / "base")
    assert VARIANT in load_grid(PROJECT / "conf", "test")
    pipeline = create_pipeline(variants=[VARIANT])
    assert {node.name for node in pipeline.nodes} == {"lora.tiny.prepare_base_model", "lora.tiny.train_variant"}
    out = run_in_memory(
        pipeline,
        {
            "clauses": clauses(),
            "lora.tiny.completed_checkpoint": CheckpointMarkerDataset(path=str(tmp_path / "checkpoint")),  # none yet
            **param_inputs(params, "training", "prompt", "data_processing"),
        },
    )
    assert out["lora.tiny.base_model"]["size"] == "tiny" and out["lora.tiny.base_model"]["n_params"] > 0
    checkpoint, metrics = out["lora.tiny.checkpoint"], out["lora.tiny.training_metrics"]
    assert isinstance(checkpoint, ModelBundle) and checkpoint.metadata["variant"] == "lora.tiny"
    assert metrics["strategy"] == "lora" and metrics["model_size"] == "tiny" and metrics["global_step"] == 2
    assert 0 < metrics["trainable_params"] < metrics["base_params"]  # adapters only
    assert checkpoint.metadata["trained_with"]["strategy_params"] == training["strategies"]["lora"]["settings"]
    history = out["lora.tiny.loss_history"]
    assert not history.empty and history["loss"].notna().any()
