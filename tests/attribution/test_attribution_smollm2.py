"""The one slow test: the engine on the real offline SmolLM2-135M-Instruct equals reference and captum."""

import numpy as np
import pytest


@pytest.mark.slow
def test_engine_matches_reference_and_captum_on_smollm2():
    import torch
    from transformers import AutoModelForCausalLM

    from rulelens.attribution import attribute_clause, captum_attribution, reference_attribution
    from rulelens.offline_weights import gguf_location, load_gguf_tokenizer

    folder, name = gguf_location()
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
    tokenizer = load_gguf_tokenizer()
    clause = "Q.2 Every exit door shall swing in the direction of escape."
    rule = "rule('Q.2', exit_door, require=swing == direction_of_escape)"
    engine = attribute_clause(model, tokenizer, clause, rule)
    reference = reference_attribution(model, tokenizer, clause, rule)
    captum = captum_attribution(model, tokenizer, clause, rule, forward_in_tokens=False)
    for other in (reference, captum):
        np.testing.assert_allclose(other.scores, engine.scores, atol=1e-3, rtol=0)
        assert other.full_score == pytest.approx(engine.full_score, abs=1e-3)
    greedy = attribute_clause(model, tokenizer, clause, target_mode="greedy", max_new_tokens=24)
    greedy_reference = reference_attribution(model, tokenizer, clause, target=greedy_target(greedy))
    np.testing.assert_allclose(greedy_reference.scores, greedy.scores, atol=1e-3, rtol=0)
    assert greedy.full_score > engine.full_score  # the model prefers its own output to an unseen rule format


def greedy_target(result):
    from rulelens.attribution.plan import Target

    return Target(result.target_ids, result.target_text, result.target_mode)
