"""The evaluation pipeline in memory: one variant, its size's zero-shot base and the quality table,
through the real ``create_pipeline()``."""

from __future__ import annotations

import pandas as pd

from rulelens.modeling.bundle import ModelBundle
from rulelens.pipelines.evaluation import create_pipeline
from rulelens.stage_store import StageStore
from rulelens.variant_grid import Variant
from tests.pipelines.memory_run import conf_parameters, param_inputs, run_in_memory

STUDY = pd.DataFrame(
    {
        "clause_id": ["X.1.1", "X.1.2"],
        "clause": [
            "X.1.1 Every stair shall have a handrail on one side.",
            "X.1.2 The riser of a step shall not exceed 190 mm.",
        ],
        "rule": ["rule('X.1.1', stair, require=has(handrail))", "rule('X.1.2', riser, require=riser.height_mm <= 190)"],
    }
)


def test_a_variant_and_its_zero_shot_base_are_scored_into_one_quality_table(tiny_llama, smol_tokenizer, tmp_path):
    params = conf_parameters("test")  # 24 new tokens at most
    params["training"]["base_model_defaults"]["cache_dir"] = str(tmp_path / "base")
    pipeline = create_pipeline(variants=[Variant("lora", "tiny")])
    assert {node.name for node in pipeline.nodes} == {
        "build_rule_suites",
        "lora.tiny.evaluate_variant",
        "zero_shot.tiny.evaluate_zero_shot",
        "summarise_quality",
    }
    out = run_in_memory(
        pipeline,
        {
            "lora.tiny.checkpoint": ModelBundle(tiny_llama(seed=0), smol_tokenizer),
            "study_clauses": STUDY,
            "lora.tiny.generation_progress": StageStore(tmp_path / "progress" / "lora"),
            "zero_shot.tiny.generation_progress": StageStore(tmp_path / "progress" / "zero_shot"),
            **param_inputs(params, "evaluation", "prompt", "training"),
        },
    )
    for name, strategy in (("lora.tiny", "lora"), ("zero_shot.tiny", "zero_shot")):
        rules = out[f"{name}.generated_rules"]
        assert list(rules["clause_id"]) == list(STUDY["clause_id"])
        assert set(rules["strategy"]) == {strategy} and set(rules["model_size"]) == {"tiny"}
        assert 0 <= out[f"{name}.evaluation_metrics"]["valid"] <= 1
    summary = out["rule_suite_summary"].set_index("clause_id")
    assert "not executable" in summary.loc["X.1.1", "note"]  # an invalid reference rule: no suite, said so
    assert summary.loc["X.1.2", "n_cases"] >= 2 and summary.loc["X.1.2", "kill_rate"] == 1.0
    assert set(out["rule_suites"]["clause_id"]) == {"X.1.2"}
    for name in ("lora.tiny", "zero_shot.tiny"):
        metrics = out[f"{name}.evaluation_metrics"]
        assert 0 <= metrics["exec_match"] <= metrics["exec_agreement"] <= 1
        rules = out[f"{name}.generated_rules"]
        assert {"exec_match", "equivalence", "diagnosis"} <= set(rules.columns)
    quality = out["quality_summary"]
    assert set(zip(quality["strategy"], quality["model_size"])) == {("lora", "tiny"), ("zero_shot", "tiny")}
    chrf = quality[quality["metric"] == "chrf"].set_index("strategy")["mean"]
    assert chrf["lora"] == out["lora.tiny.evaluation_metrics"]["chrf"]
