"""The reduced-precision check: the first clause's attribution VECTOR against fp32, in nats per word.

bf16 autocast runs on the CPU, so the check and its fallback are tested on a tiny model.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

CLAUSES = ["A.1.1 Every stair shall have a handrail on one side.", "A.1.2 The riser of a step shall not exceed 190 mm."]
RULES = ["rule(A.1.1, stair, require=has(handrail))", "rule(A.1.2, step, require=riser<=190mm)"]


def test_a_tiny_tolerance_falls_back_to_fp32_for_every_clause(tiny_model, smol_tokenizer):
    from rulelens.attribution.engine import attribute_clauses

    exact = attribute_clauses(tiny_model, smol_tokenizer, CLAUSES, RULES, progress=False)
    with pytest.warns(UserWarning, match="nats per word.*recomputing in float32"):
        fallback = attribute_clauses(
            tiny_model, smol_tokenizer, CLAUSES, RULES, progress=False, dtype="bfloat16", bf16_tolerance=1e-9
        )
    assert fallback[0].stats["fell_back"] and fallback[0].stats["reduced_precision_gap"] > 1e-9
    assert [r.stats["dtype"] for r in fallback] == ["float32", "float32"]
    for a, b in zip(fallback, exact):
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)


def test_a_generous_tolerance_keeps_bf16_and_checks_only_the_first_clause(tiny_model, smol_tokenizer):
    from rulelens.attribution.engine import attribute_clauses, attribution_gap

    exact = attribute_clauses(tiny_model, smol_tokenizer, CLAUSES, RULES, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reduced = attribute_clauses(
            tiny_model, smol_tokenizer, CLAUSES, RULES, progress=False, dtype="bfloat16", bf16_tolerance=10.0
        )
    assert [r.stats["dtype"] for r in reduced] == ["bfloat16", "bfloat16"]
    first = reduced[0].stats
    assert first["fell_back"] is False and first["reduced_precision_gap"] == pytest.approx(
        attribution_gap(reduced[0], exact[0])
    )
    assert "reduced_precision_gap" not in reduced[1].stats  # one check per run, on the first clause
    assert 0 < first["reduced_precision_gap"] < 10.0


def test_the_attribution_node_takes_every_gpu_engine_option_from_parameters():
    from pathlib import Path

    import yaml

    from rulelens.attribution.settings import AttributionSettings

    conf = Path(__file__).parents[2] / "conf"
    params = yaml.safe_load((conf / "base/parameters_attribution.yml").read_text())["attribution"]
    params.update(
        dtype="bfloat16",
        bf16_tolerance=0.05,
        max_batch_tokens=16384,
        memory_cap_bytes=2e10,
        batch_size=32,
        progress=False,
    )
    options = AttributionSettings.from_params(params).engine_options()
    gpu = {
        "dtype": "bfloat16",
        "bf16_tolerance": 0.05,
        "max_batch_tokens": 16384,
        "memory_cap_bytes": 2e10,
        "batch_size": 32,
    }
    assert {key: options.get(key) for key in gpu} == gpu
    assert "progress" not in options  # a display setting, not an engine option
