"""The node-facing glue: per-clause frame, aggregate with CIs, throughput."""

from __future__ import annotations

import pandas as pd
import pytest

from rulelens.evaluation import PER_CLAUSE_COLUMNS, evaluate_model
from tests.conf_settings import conf_generation, conf_metrics, conf_prompt
from tests.evaluation.tiny_models import follow_the_batch

RULE = 'rule("A.1", room, require=room.height_m >= 2.4)'


def test_evaluate_model_on_a_scripted_model(scripted_model, smol_tokenizer, encoder):
    tok = smol_tokenizer
    model = scripted_model(tok(RULE, add_special_tokens=False)["input_ids"] + [tok.eos_token_id])
    test = pd.DataFrame(
        {
            "clause_id": ["c1", "c2", "c3"],
            "clause": ["A.1 Rooms shall be 2.4 m high.", "B.2 Doors shall be self-closing.", "C.3 Ramps 1:12."],
            "rule": [
                RULE,
                'rule("B.2", door, require=door.is_self_closing)',
                'rule("C.3", ramp, require=ramp.gradient_ratio <= 1 / 12)',
            ],
            "split": "test",
        }
    )
    per_clause, table, speed = evaluate_model(
        model,
        tok,
        test,
        style={**conf_prompt(), "system": "S"},
        generation_params=conf_generation(max_new_tokens=30, batch_size=2, constrain=False),
        metric_params=conf_metrics(n_resamples=200),
        encoder=encoder,
    )
    assert list(per_clause.columns) == PER_CLAUSE_COLUMNS
    assert per_clause["generated_rule"].tolist() == [RULE] * 3
    assert per_clause["clause_id"].tolist() == ["c1", "c2", "c3"]
    first = per_clause.iloc[0]
    assert first["exact_match"] == 1.0 and first["chrf"] == 1.0 and first["valid"]
    assert first["semantic_similarity"] == pytest.approx(1.0, abs=1e-5)
    assert (per_clause["semantic_similarity"].iloc[1:] < 0.99).all()
    assert per_clause["generated_tokens"].tolist() == [len(tok(RULE, add_special_tokens=False)["input_ids"])] * 3

    by_metric = table.set_index("metric")
    assert set(by_metric.index) == {
        "semantic_similarity",
        "chrf",
        "rouge_l",
        "exact_match",
        "valid",
        "stopped_by_repetition",
        "valid_unconstrained",
        "constrained",
    }
    assert by_metric.loc["constrained", "mean"] == 0.0 and (per_clause["constrained_steps"] == 0).all()
    assert by_metric.loc["valid_unconstrained", "mean"] == by_metric.loc["valid", "mean"] == 1.0
    assert by_metric.loc["stopped_by_repetition", "mean"] == 0.0 and set(per_clause["stop_reason"]) == {"stop_rule"}
    assert by_metric.loc["exact_match", "mean"] == pytest.approx(1 / 3) and (by_metric["n"] == 3).all()
    assert (by_metric["ci_low"] <= by_metric["mean"]).all() and (by_metric["mean"] <= by_metric["ci_high"]).all()

    assert speed["rules"] == 3 and speed["generated_tokens"] == per_clause["generated_tokens"].sum()
    assert speed["rules_per_s"] > 0 and speed["tokens_per_s"] > 0 and speed["batch_size"] == 2


def test_evaluate_model_lrml_without_embeddings(tiny_llama, smol_tokenizer):
    test = pd.DataFrame({"clause": ["A clause."], "reference_rule": ["if(a),then(obligation(b))"]})
    per_clause, table, _ = evaluate_model(
        tiny_llama(seed=0),
        smol_tokenizer,
        test,
        generation_params=conf_generation(max_new_tokens=2, constrain=False),
        metric_params=conf_metrics(embedding_model=None, n_resamples=50),
        rule_format="lrml",
    )
    assert per_clause["clause_id"].tolist() == ["0"] and per_clause["semantic_similarity"].isna().all()
    assert table.set_index("metric").loc["semantic_similarity", "n"] == 0


def test_a_looping_clause_is_counted_as_stopped_by_repetition(tiny_llama, smol_tokenizer):
    """One clause of three loops (a forced script for the second prompt); the share is 1/3."""
    tok = smol_tokenizer
    model = tiny_llama(seed=0)
    loop = tok(" and room.height_m >= 2.4", add_special_tokens=False)["input_ids"]
    done = tok(RULE, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    state = {"step": -1, "rows": []}

    def hook(module, args, kwargs, output):
        ids = kwargs.get("input_ids")
        if ids is not None and ids.shape[1] > 1:
            state["step"], state["rows"] = 0, list(state["looping"])
            follow_the_batch(output.cache, state)  # rows leave the batch as they stop
        else:
            state["step"] += 1
        logits = output.logits.clone()
        step = state["step"]
        for row, looping in enumerate(state["rows"]):
            script = (loop * 40) if looping else done
            logits[row, -1, script[min(step, len(script) - 1)]] += 1e4
        output.logits = logits
        return output

    model.register_forward_hook(hook, with_kwargs=True)
    test = pd.DataFrame(
        {"clause_id": ["c1", "c2", "c3"], "clause": ["A.1 one.", "B.2 two loops.", "C.3 three."], "rule": [RULE] * 3}
    )
    state["looping"] = [False, True, False]
    per_clause, table, _ = evaluate_model(
        model,
        tok,
        test,
        generation_params=conf_generation(max_new_tokens=80, batch_size=3, sort_by_length=False, constrain=False),
        metric_params=conf_metrics(n_resamples=100, embedding_model=None),
    )
    assert per_clause["stop_reason"].tolist() == ["stop_rule", "repetition", "stop_rule"]
    assert per_clause.loc[1, "generated_tokens"] < 80
    assert table.set_index("metric").loc["stopped_by_repetition", "mean"] == pytest.approx(1 / 3)
