"""Deletion curves scored by the engine agree with the attribution they test."""

from __future__ import annotations

import numpy as np
import pytest

from rulelens.attribution import attribute_clause
from rulelens.attribution.faithfulness import (
    clause_deletion_curves,
    clause_lds,
    curves_frame,
    lds_frame,
    subset_scorer,
)
from rulelens.attribution.plan import plan_clause
from rulelens.attribution.reference import reference_token_log_probs
from rulelens.prompts import PromptStyle, encode_prompt
from rulelens.words.perturb import baseline_values

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


@pytest.mark.parametrize("operator", ["delete", "mask"])
def test_lds_mask_scores_equal_the_one_sequence_reference(operator, tiny_model, smol_tokenizer, clause, rule):
    attribution = attribute_clause(tiny_model, smol_tokenizer, clause, rule, operator=operator)
    result = clause_lds(tiny_model, smol_tokenizer, attribution, n_masks=32, keep_prob=0.5, seed=5, n_permutations=20)
    assert result.masks.shape == (32, len(attribution.words)) and result.actual_scores.shape == (32,)
    assert result.full_score == pytest.approx(attribution.full_score, abs=TOLERANCE)
    plan = plan_clause(smol_tokenizer, clause, style=PromptStyle(), operator=operator)
    originals = [f.text for f in plan.template.features]
    baselines = baseline_values(plan.template, operator, plan.mask_text)
    for mask, actual in zip(result.masks, result.actual_scores):
        text = plan.template.render([o if keep else b for o, b, keep in zip(originals, baselines, mask)])
        prompt = encode_prompt(smol_tokenizer, plan.parts.with_clause(text))
        expected = sum(reference_token_log_probs(tiny_model, prompt, list(attribution.target_ids)))
        assert actual == pytest.approx(expected, abs=TOLERANCE)
    assert -1 <= result.lds <= 1 and -1 <= result.lds_permuted <= 1


def test_lds_is_seeded_and_framed(tiny_model, smol_tokenizer, clause, rule):
    attribution = attribute_clause(tiny_model, smol_tokenizer, clause, rule)
    first = clause_lds(tiny_model, smol_tokenizer, attribution, n_masks=8, seed=2, n_permutations=10)
    again = clause_lds(tiny_model, smol_tokenizer, attribution, n_masks=8, seed=2, n_permutations=10)
    np.testing.assert_array_equal(first.masks, again.masks)
    assert first.lds == pytest.approx(again.lds) and first.lds_permuted == again.lds_permuted
    frame = lds_frame([first])
    assert list(frame.columns) == ["clause_id", "n_words", "n_masks", "keep_prob", "lds", "lds_permuted", "full_score"]
    assert frame.iloc[0]["n_masks"] == 8 and frame.iloc[0]["n_words"] == len(attribution.words)
    assert lds_frame([]).empty


def test_one_engine_call_gives_what_separate_full_scoring_gives(tiny_model, smol_tokenizer, clause, rule):
    """Curves and LDS from the shared call (known subsets reused) equal scoring every subset afresh."""
    from rulelens.attribution.faithfulness import clause_faithfulness, known_subset_scores
    from rulelens.statistics.faithfulness import deletion_curves
    from rulelens.statistics.lds import ablation_masks, linear_datamodeling_score

    attribution = attribute_clause(tiny_model, smol_tokenizer, clause, rule)
    shared = clause_faithfulness(
        tiny_model, smol_tokenizer, attribution, max_k=3, n_random=4, curves_seed=3, n_masks=12, lds_seed=4
    )
    scorer = subset_scorer(tiny_model, smol_tokenizer, attribution)
    fresh = deletion_curves(attribution.scores, max_k=3, n_random=4, seed=3, batch_score_fn=scorer)
    np.testing.assert_allclose(
        shared.curves.curve[["comprehensiveness", "sufficiency"]].to_numpy(),
        fresh.curve[["comprehensiveness", "sufficiency"]].to_numpy(),
        atol=TOLERANCE,
    )
    masks = ablation_masks(len(attribution.words), n_masks=12, seed=4)
    actual = scorer([tuple(int(i) for i in np.flatnonzero(m)) for m in masks])
    np.testing.assert_allclose(shared.lds.actual_scores, actual, atol=TOLERANCE)
    assert shared.lds.lds == pytest.approx(linear_datamodeling_score(attribution.scores, masks, actual), abs=1e-6)
    # the single-word deletions (every curve's k = 1 point) and s(x) were not scored again
    known = set(known_subset_scores(attribution))
    assert shared.subsets_scored < shared.subsets_needed
    assert shared.stats["sequences"] == shared.subsets_scored + 1  # + the unperturbed prompt (cache source)
    assert len(known) == len(attribution.words) + 1
