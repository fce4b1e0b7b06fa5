"""The attribution node: word table, metrics, deletion curves and LDS per variant, seeded per clause."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml

from rulelens.attribution.settings import AttributionSettings
from rulelens.param_blocks import ParameterError
from rulelens.pipelines.attribution.nodes import LDS_COLUMNS, attribute_variant, faithfulness_outputs
from rulelens.prompts import PromptStyle
from rulelens.variant_grid import Variant
from tests.conf_settings import conf_prompt

CLAUSES = [
    (
        "c1",
        "X.1.2 The headroom of every room shall not be less than 2.0 m.",
        "rule('X.1.2', room, require=headroom >= 2.0)",
    ),
    ("c2", "Q.2 Every exit door shall swing in the direction of escape.", "rule('Q.2', exit_door, require=swing)"),
    ("c3", "B.4 Stairs shall have handrails on both sides.", "rule('B.4', stair, require=handrails == 2)"),
]


def _params(**faithfulness):
    """conf/base's attribution block with faithfulness keys (and LDS keys) replaced."""
    from pathlib import Path

    with open(Path(__file__).parents[2] / "conf/base/parameters_attribution.yml") as handle:
        params = yaml.safe_load(handle)["attribution"]
    params["progress"] = False
    lds = faithfulness.pop("lds", params["faithfulness"]["lds"])
    if isinstance(lds, dict):
        lds = {**params["faithfulness"]["lds"], **lds}
    params["faithfulness"] = {**params["faithfulness"], **faithfulness, "lds": lds}
    return params


def _settings(**faithfulness) -> AttributionSettings:
    return AttributionSettings.from_params(_params(**faithfulness))


def test_base_parameters_ask_for_the_issue_defaults():
    settings = _params()["faithfulness"]
    assert settings["n_random"] >= 10 and settings["max_k"] == 3
    assert settings["lds"] == {"n_masks": 32, "keep_prob": 0.5, "n_random": 10}
    assert _params()["mask_text"] == "___"


def test_node_writes_lds_scores_and_metrics(tiny_model, smol_tokenizer):
    checkpoint = SimpleNamespace(model=tiny_model, tokenizer=smol_tokenizer)
    selected = pd.DataFrame(CLAUSES, columns=["clause_id", "clause", "rule"])
    params = _params(n_clauses=2, n_random=2, max_k=2, lds={"n_masks": 32, "n_random": 3})
    lora_s = Variant("lora", "s")
    table, metrics, curves, lds = attribute_variant(checkpoint, selected, params, conf_prompt(), variant=lora_s)
    assert list(lds.columns) == LDS_COLUMNS
    assert list(lds["clause_id"]) == ["c1", "c2"] and set(lds["variant"]) == {"lora.s"}
    assert (lds["n_masks"] == 32).all() and (lds["keep_prob"] == 0.5).all()
    assert np.isfinite(lds[["lds", "lds_random", "full_score"]].to_numpy()).all()
    assert metrics["faithfulness_lds"] == pytest.approx(lds["lds"].mean())
    assert metrics["faithfulness_lds_random"] == pytest.approx(lds["lds_random"].mean())
    assert set(curves["clause_id"]) == {"c1", "c2"}
    full = table.drop_duplicates("clause_id").set_index("clause_id")["full_score"]
    np.testing.assert_allclose(lds.set_index("clause_id")["full_score"], full.loc[["c1", "c2"]], atol=1e-3)


def test_a_clause_gets_the_same_randomness_whatever_else_is_selected(tiny_model, smol_tokenizer):
    from rulelens.attribution import attribute_clauses

    checkpoint = SimpleNamespace(model=tiny_model, tokenizer=smol_tokenizer)
    ids, clauses, rules = zip(*CLAUSES)
    results = attribute_clauses(tiny_model, smol_tokenizer, clauses, rules, clause_ids=ids, progress=False)
    params = _params(n_clauses=3, n_random=3, max_k=2, lds={"n_masks": 8, "n_random": 2})
    settings = AttributionSettings.from_params(params)
    curves_all, lds_all = faithfulness_outputs(checkpoint, results, settings, PromptStyle())
    curves_one, lds_one = faithfulness_outputs(checkpoint, results[2:], settings, PromptStyle())
    pd.testing.assert_frame_equal(
        lds_all[lds_all["clause_id"] == "c3"].reset_index(drop=True), lds_one.reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(
        curves_all[curves_all["clause_id"] == "c3"].reset_index(drop=True), curves_one.reset_index(drop=True)
    )


def test_lds_can_be_switched_off(tiny_model, smol_tokenizer):
    from rulelens.attribution import attribute_clauses

    checkpoint = SimpleNamespace(model=tiny_model, tokenizer=smol_tokenizer)
    results = attribute_clauses(tiny_model, smol_tokenizer, [CLAUSES[0][1]], [CLAUSES[0][2]], progress=False)
    curves, lds = faithfulness_outputs(checkpoint, results, _settings(n_random=1, max_k=1, lds=False), PromptStyle())
    assert lds.empty and not curves.empty


def test_a_missing_parameter_stops_the_node_before_any_clause_is_attributed():
    params = _params()
    del params["faithfulness"]["lds"]["keep_prob"]
    checkpoint = SimpleNamespace(model=None, tokenizer=None)  # never touched: the settings fail first
    selected = pd.DataFrame(CLAUSES, columns=["clause_id", "clause", "rule"])
    with pytest.raises(ParameterError, match=r"attribution\.faithfulness\.lds\.keep_prob"):
        attribute_variant(checkpoint, selected, params, conf_prompt(), variant=Variant("lora", "s"))
