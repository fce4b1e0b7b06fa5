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


def test_base_parameters_ask_for_the_powered_defaults():
    """The sizes justified by the power simulation in docs/statistics.md (scripts/power_faithfulness.py)."""
    settings = _params()["faithfulness"]
    assert settings["n_clauses"] >= 8 and settings["max_k"] == 3 and settings["n_random"] >= 3
    assert settings["lds"]["keep_prob"] == 0.5 and settings["lds"]["n_masks"] >= 16
    assert settings["lds"]["n_permutations"] >= 100
    assert _params()["mask_text"] == "___"


def test_node_writes_lds_scores_and_metrics(tiny_model, smol_tokenizer):
    checkpoint = SimpleNamespace(model=tiny_model, tokenizer=smol_tokenizer)
    selected = pd.DataFrame(CLAUSES, columns=["clause_id", "clause", "rule"])
    params = _params(n_clauses=2, n_random=2, max_k=2, lds={"n_masks": 32, "n_permutations": 20})
    lora_s = Variant("lora", "s")
    table, metrics, curves, lds = attribute_variant(checkpoint, selected, params, conf_prompt(), variant=lora_s)
    assert list(lds.columns) == LDS_COLUMNS
    assert len(lds) == 2 and set(lds["clause_id"]) <= {"c1", "c2", "c3"} and set(lds["variant"]) == {"lora.s"}
    assert (lds["n_masks"] == 32).all() and (lds["keep_prob"] == 0.5).all()
    assert np.isfinite(lds[["lds", "lds_permuted", "full_score"]].to_numpy()).all()
    assert metrics["faithfulness_lds"] == pytest.approx(lds["lds"].mean())
    assert metrics["faithfulness_lds_permuted"] == pytest.approx(lds["lds_permuted"].mean())
    assert set(curves["clause_id"]) == set(lds["clause_id"])
    full = table.drop_duplicates("clause_id").set_index("clause_id")["full_score"]
    np.testing.assert_allclose(lds.set_index("clause_id")["full_score"], full.loc[lds["clause_id"]], atol=1e-3)
    # the cost is counted: some subsets were known from the attribution (single-word deletions)
    assert metrics["faithfulness_clauses"] == 2
    assert 0 < metrics["faithfulness_subsets_scored"] < metrics["faithfulness_subsets"]
    assert metrics["faithfulness_tokens"] > 0 and metrics["attribution_tokens"] > 0


def test_faithfulness_clauses_are_drawn_over_the_strata(tiny_model, smol_tokenizer):
    """Not the first clauses by id: one clause of each stratum when n equals the number of strata."""
    from rulelens.pipelines.attribution.nodes import faithfulness_results

    selected = pd.DataFrame(CLAUSES, columns=["clause_id", "clause", "rule"]).assign(stratum=["a", "a", "b"])
    results = [SimpleNamespace(clause_id=c) for c in selected["clause_id"]]
    chosen = faithfulness_results(results, selected, _settings(n_clauses=2))
    assert len(chosen) == 2 and "c3" in {r.clause_id for r in chosen}
    again = faithfulness_results(results, selected, _settings(n_clauses=2))
    assert [r.clause_id for r in again] == [r.clause_id for r in chosen]


def test_a_clause_gets_the_same_randomness_whatever_else_is_selected(tiny_model, smol_tokenizer):
    from rulelens.attribution import attribute_clauses

    checkpoint = SimpleNamespace(model=tiny_model, tokenizer=smol_tokenizer)
    ids, clauses, rules = zip(*CLAUSES)
    results = attribute_clauses(tiny_model, smol_tokenizer, clauses, rules, clause_ids=ids, progress=False)
    params = _params(n_clauses=3, n_random=3, max_k=2, lds={"n_masks": 8, "n_permutations": 20})
    settings = AttributionSettings.from_params(params)
    curves_all, lds_all, _ = faithfulness_outputs(checkpoint, results, settings, PromptStyle())
    curves_one, lds_one, _ = faithfulness_outputs(checkpoint, results[2:], settings, PromptStyle())
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
    curves, lds, _ = faithfulness_outputs(checkpoint, results, _settings(n_random=1, max_k=1, lds=False), PromptStyle())
    assert lds.empty and not curves.empty


def test_a_missing_parameter_stops_the_node_before_any_clause_is_attributed():
    params = _params()
    del params["faithfulness"]["lds"]["keep_prob"]
    checkpoint = SimpleNamespace(model=None, tokenizer=None)  # never touched: the settings fail first
    selected = pd.DataFrame(CLAUSES, columns=["clause_id", "clause", "rule"])
    with pytest.raises(ParameterError, match=r"attribution\.faithfulness\.lds\.keep_prob"):
        attribute_variant(checkpoint, selected, params, conf_prompt(), variant=Variant("lora", "s"))
