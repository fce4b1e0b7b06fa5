"""The attribution pipeline in memory: one variant's word attributions, faithfulness checks and the
cross-variant heatmap pages, through the real ``create_pipeline()``."""

from __future__ import annotations

import pandas as pd

from rulelens.modeling.bundle import LazyModelBundle, ModelBundle
from rulelens.pipelines.attribution import create_pipeline
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
        "rule": ["rule('X.1.1', stair, require=has(handrail))", "rule('X.1.2', step, require=riser <= 190 mm)"],
    }
)


def test_a_variant_is_attributed_checked_and_drawn(tiny_llama, smol_tokenizer, tmp_path):
    params = conf_parameters("test")  # faithfulness on 2 clauses, k <= 2, 32 LDS masks
    pipeline = create_pipeline(variants=[Variant("lora", "tiny")])
    assert {node.name for node in pipeline.nodes} == {"lora.tiny.attribute_variant", "render_attribution_heatmaps"}
    out = run_in_memory(
        pipeline,
        {
            "lora.tiny.checkpoint": ModelBundle(tiny_llama(seed=0), smol_tokenizer),
            "study_clauses": STUDY,
            "lora.tiny.attribution_progress": StageStore(tmp_path / "progress"),
            **param_inputs(params, "attribution", "prompt"),
        },
    )
    words = out["lora.tiny.attributions"]
    assert set(words["clause_id"]) == set(STUDY["clause_id"]) and words["score"].notna().all()
    assert out["lora.tiny.attribution_metrics"]["attribution_normalised_entropy"] > 0
    curves, lds = out["lora.tiny.faithfulness_curves"], out["lora.tiny.lds_scores"]
    assert set(curves["variant"]) == set(lds["variant"]) == {"lora.tiny"}
    assert set(lds["clause_id"]) == set(STUDY["clause_id"]) and (lds["n_masks"] == 16).all()
    assert curves["k"].max() == 2
    assert sorted(out["attribution_heatmaps"]) == ["X.1.1.html", "X.1.2.html"]

    def no_model():
        raise AssertionError("a rerun with finished outputs must not load the model")

    again = run_in_memory(
        pipeline,
        {
            "lora.tiny.checkpoint": LazyModelBundle(no_model, smol_tokenizer),
            "study_clauses": STUDY,
            "lora.tiny.attribution_progress": StageStore(tmp_path / "progress"),
            **param_inputs(params, "attribution", "prompt"),
        },
    )
    pd.testing.assert_frame_equal(again["lora.tiny.attributions"], words)
    pd.testing.assert_frame_equal(again["lora.tiny.lds_scores"], lds)
