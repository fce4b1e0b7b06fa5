"""Deletion curves scored by the engine agree with the attribution they test."""

from __future__ import annotations

import numpy as np
import pytest

from rulelens.attribution import attribute_clause
from rulelens.attribution.faithfulness import clause_deletion_curves, curves_frame, subset_scorer
from rulelens.attribution.reference import reference_token_log_probs
from rulelens.attribution.plan import plan_clause
from rulelens.prompts import PromptStyle, encode_prompt

TOLERANCE = 1e-3


@pytest.mark.parametrize("operator", ["delete", "mask"])
def test_first_point_of_the_curve_is_the_top_word_score(operator, tiny_model, smol_tokenizer, clause, rule):
    attribution = attribute_clause(tiny_model, smol_tokenizer, clause, rule, operator=operator)
    curves = clause_deletion_curves(tiny_model, smol_tokenizer, attribution, max_k=4, n_random=2, seed=1)
    assert curves.full_score == pytest.approx(attribution.full_score, abs=TOLERANCE)
    first = curves.curve[(curves.curve["order"] == "attribution") & (curves.curve["k"] == 1)].iloc[0]
    # deleting only the top word is exactly that word's single-word perturbation
    assert first["comprehensiveness"] == pytest.approx(max(attribution.scores), abs=TOLERANCE)
    assert curves.max_k == 4 and set(curves.curve["order"]) == {"attribution", "random"}


def test_subset_scores_equal_the_one_sequence_reference(tiny_model, smol_tokenizer, clause, rule):
    attribution = attribute_clause(tiny_model, smol_tokenizer, clause, rule)
    kept = (0, 2, 5, 7)
    [score] = subset_scorer(tiny_model, smol_tokenizer, attribution)([kept])
    plan = plan_clause(smol_tokenizer, clause, style=PromptStyle())
    words = plan.template.features
    values = [f.text if i in kept else "" for i, f in enumerate(words)]
    prompt = encode_prompt(smol_tokenizer, plan.parts.with_clause(plan.template.render(values)))
    expected = sum(reference_token_log_probs(tiny_model, prompt, list(attribution.target_ids)))
    assert score == pytest.approx(expected, abs=TOLERANCE)


def test_curves_frame_keeps_every_clause(tiny_model, smol_tokenizer, clause, rule):
    attribution = attribute_clause(tiny_model, smol_tokenizer, clause, rule)
    curves = {"a": clause_deletion_curves(tiny_model, smol_tokenizer, attribution, max_k=3, n_random=1)}
    frame = curves_frame(curves)
    assert list(frame["clause_id"].unique()) == ["a"]
    assert len(frame) == 6 and np.isfinite(frame["comprehensiveness"]).all()
    assert curves_frame({}).empty


def test_attribution_without_target_ids_is_refused(tiny_model, smol_tokenizer, clause, rule):
    from dataclasses import replace

    attribution = replace(attribute_clause(tiny_model, smol_tokenizer, clause, rule), target_ids=())
    with pytest.raises(ValueError, match="no target ids"):
        clause_deletion_curves(tiny_model, smol_tokenizer, attribution)
