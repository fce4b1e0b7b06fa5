"""Constrained decoding through the real ``generate``: the model's greedy token unless it dooms the
rule, and exact unconstrained validity from the same run."""

from __future__ import annotations

import pandas as pd
import pytest

from rulelens.data.rule_format import is_valid_rule
from rulelens.data.rule_grammar import grammar_tokenizer, rule_matcher
from rulelens.evaluation import evaluate_model
from rulelens.evaluation.constrained import RowGrammar, keeps_rule_possible
from rulelens.evaluation.generation import STOP_REPETITION, GenerationParams, generate_rules
from tests.conf_settings import conf_generation, conf_metrics
from tests.evaluation.tiny_models import follow_the_batch

HEAD = 'rule("X", room, require=room.a >= 1'
CLAUSES = ["A.1 one.", "B.2 two.", "C.3 three.", "D.4 four."]


def ids_of(tokenizer, text):
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def ranked_logits(logits, rows, step):
    """``logits`` with each row's scripts ranked: the first +1e4, the second +5e3, ... at ``step``."""
    logits = logits.clone()
    for row, scripts in enumerate(rows):
        for rank, script in enumerate(scripts):
            token = script if isinstance(script, int) else script[min(step, len(script) - 1)]
            logits[row, -1, token] += 1e4 / 2**rank
    return logits


@pytest.fixture
def ranked_model(tiny_llama):
    """A tiny Llama whose scores are steered per row: the first script +1e4, the second +5e3, ...

    ``rows[r] = (first, second, ...)``; each is a token script or a single token id that holds
    its rank at every step. Rows are batch positions (generate with sort_by_length off).
    """

    def build(rows):
        model = tiny_llama(seed=0)
        state = {"step": -1, "rows": []}

        def hook(module, args, kwargs, output):
            ids = kwargs.get("input_ids")
            if ids is not None and ids.shape[1] > 1:
                state["step"], state["rows"] = 0, list(rows)
                follow_the_batch(output.cache, state)
            else:
                state["step"] += 1
            output.logits = ranked_logits(output.logits, state["rows"], state["step"])
            return output

        model.register_forward_hook(hook, with_kwargs=True)
        return model

    return build


def test_the_constraint_changes_only_doomed_tokens_and_gives_the_unconstrained_validity(
    ranked_model, smol_tokenizer, encoder
):
    tok = smol_tokenizer
    eos = tok.eos_token_id
    valid = ids_of(tok, HEAD + ")") + [eos]
    route, room = ids_of(tok, 'rule("X", route, require=route.a >= 1)'), ids_of(tok, HEAD + ")")
    modulo, divide = ids_of(tok, HEAD + " % 2)"), ids_of(tok, HEAD + " / 2)")
    assert len(route) == len(room) and len(modulo) == len(divide)  # the scripts align step by step
    close = ids_of(tok, ")")[0]
    rows = [
        (valid, close),  # already valid: never touched
        (route + [eos], room + [eos]),  # an entity outside the vocabulary, twice
        (modulo + [eos], divide + [eos]),  # an operator the format forbids
        (ids_of(tok, HEAD) + [eos], close),  # ends before the rule is closed
    ]
    test = pd.DataFrame({"clause_id": ["a", "b", "c", "d"], "clause": CLAUSES, "rule": [HEAD + ")"] * 4})
    settings = conf_generation(max_new_tokens=40, batch_size=4, sort_by_length=False, constrain=False)
    metrics = conf_metrics(n_resamples=100)

    free, free_table, _ = evaluate_model(
        ranked_model(rows), tok, test, generation_params=settings, metric_params=metrics, encoder=encoder
    )
    held, held_table, _ = evaluate_model(
        ranked_model(rows),
        tok,
        test,
        generation_params={**settings, "constrain": True},
        metric_params=metrics,
        encoder=encoder,
    )
    assert free["valid"].tolist() == [True, False, False, False]
    assert (free["constrained_steps"] == 0).all()
    assert held["generated_rule"].tolist() == [
        HEAD + ")",
        HEAD + ")",
        HEAD + " / 2)",
        HEAD + ")",
    ]
    assert held["valid"].all() and held["constrained_steps"].tolist()[0] == 0
    assert held["constrained_steps"].tolist()[1] == 2 and (held["constrained_steps"].iloc[1:] > 0).all()
    # one run gives both: valid and unchanged == valid without the constraint
    unchanged = held["constrained_steps"] == 0
    assert held.loc[unchanged, "generated_rule"].tolist() == free.loc[unchanged, "generated_rule"].tolist()
    by_metric = held_table.set_index("metric")["mean"]
    assert by_metric["valid"] == 1.0 and by_metric["constrained"] == 0.75
    assert by_metric["valid_unconstrained"] == free_table.set_index("metric").loc["valid", "mean"] == 0.25


def test_a_loop_ends_the_row_as_it_would_unconstrained(ranked_model, smol_tokenizer):
    """The greedy token that fires the repetition stop is kept: the row ends there, its loop not
    respelled into a longer run to max_new_tokens (and the rule stays what the model wrote).

    5-grams over a 4-token loop: the first to occur 3 times ends on the ' and' that starts the
    fourth repeat, where ')' would have closed a valid rule.
    """
    tok = smol_tokenizer
    loop = ids_of(tok, " and room.a")
    assert len(loop) == 4
    looping = ids_of(tok, HEAD) + loop * 40
    close = ids_of(tok, ")")[0]
    settings = conf_generation(
        max_new_tokens=120, batch_size=1, repetition_ngram=5, repetition_max_repeats=3, constrain=False
    )
    free = generate_rules(ranked_model([(looping, close)]), tok, CLAUSES[:1], params=settings).items[0]
    held = generate_rules(
        ranked_model([(looping, close)]), tok, CLAUSES[:1], params={**settings, "constrain": True}
    ).items[0]
    assert free.stop_reason == STOP_REPETITION and not is_valid_rule(free.text)
    assert held.stop_reason == STOP_REPETITION and held.constrained_steps == 0
    assert held.token_ids == free.token_ids and held.text == free.text
    assert len(held.token_ids) < 40


def test_the_last_token_must_finish_a_valid_rule(ranked_model, smol_tokenizer):
    tok = smol_tokenizer
    head = ids_of(tok, HEAD)
    close = ids_of(tok, ")")[0]
    script = head + ids_of(tok, " and room.b >= 2)")
    settings = conf_generation(max_new_tokens=len(head) + 1, batch_size=1, constrain=False)
    free = generate_rules(ranked_model([(script, close)]), tok, CLAUSES[:1], params=settings).items[0]
    held = generate_rules(
        ranked_model([(script, close)]), tok, CLAUSES[:1], params={**settings, "constrain": True}
    ).items[0]
    assert not is_valid_rule(free.text)
    assert held.text == HEAD + ")" and held.constrained_steps == 1


def test_keeps_rule_possible_judges_each_way_a_row_can_end(smol_tokenizer):
    tok = smol_tokenizer
    eos = frozenset({tok.eos_token_id})
    params = GenerationParams.from_params(conf_generation(constrain=True, max_new_tokens=64))

    def decode(ids):
        return tok.decode(list(ids), skip_special_tokens=True)

    head = ids_of(tok, HEAD)
    state = RowGrammar(rule_matcher(grammar_tokenizer(tok)))
    assert state.catch_up(head)

    def possible(token, settings=params):
        return keeps_rule_possible(head, token, decode, eos, settings, state.allows, is_valid_rule)

    assert possible(ids_of(tok, ")")[0])  # closes a valid rule
    assert not possible(tok.eos_token_id)  # eos with the rule open
    assert possible(ids_of(tok, " and")[0])  # goes on: the grammar allows it
    assert not possible(ids_of(tok, " %")[0])  # the grammar has no %
    assert not possible(ids_of(tok, "\n")[0])  # the stop string cuts the rule open
    closes_and_more = ids_of(tok, ").")
    assert len(closes_and_more) == 1 and not state.allows(closes_and_more[0])  # the grammar has no '.' there
    assert possible(closes_and_more[0])  # but the stop rule cuts the row after ')': a valid rule
    short = GenerationParams.from_params(conf_generation(constrain=True, max_new_tokens=len(head) + 1))
    assert not possible(ids_of(tok, " and")[0], short)  # no token left to close


def test_the_constraint_needs_a_top_k_of_two_or_more():
    GenerationParams.from_params(conf_generation(constrain=True, balanced_call=None))  # any declared format (LRML too)
    with pytest.raises(ValueError, match="constraint_top_k"):
        GenerationParams.from_params(conf_generation(constrain=True, constraint_top_k=1))


def test_a_special_token_is_never_the_replacement(ranked_model, smol_tokenizer):
    """A special token decodes to nothing: taking it instead would stall the row, so the next is taken."""
    tok = smol_tokenizer
    special = next(i for i in tok.all_special_ids if i != tok.eos_token_id)
    route, room = ids_of(tok, 'rule("X", route, require=route.a >= 1)'), ids_of(tok, HEAD + ")")
    model = ranked_model([(route + [tok.eos_token_id], special, room + [tok.eos_token_id])])
    item = generate_rules(model, tok, CLAUSES[:1], params=conf_generation(max_new_tokens=40, constrain=True)).items[0]
    assert item.text == HEAD + ")" and special not in item.token_ids and item.constrained_steps == 2


@pytest.mark.parametrize(
    ("rule_format", "head"),
    [("rulelens", HEAD), ("lrml", "if(has(space,window)),then(obligation(has(space,door))")],
)
def test_whitespace_is_not_the_replacement_while_a_token_that_closes_the_rule_is(
    ranked_model, smol_tokenizer, rule_format, head
):
    """The model ends a rule that is one ')' short; its next choice is a space, then ')'. The space
    would leave the rule where it was (the end of sequence would come back at the next step, the row
    padding itself with spaces into the repetition stop), so the constraint takes ')'."""
    tok = smol_tokenizer
    space = ids_of(tok, " ")
    assert len(space) == 1
    close = ids_of(tok, ")")[0]
    model = ranked_model([(ids_of(tok, head) + [tok.eos_token_id], space[0], close)])
    settings = conf_generation(max_new_tokens=60, constrain=True, balanced_call=None, repetition_ngram=4)
    item = generate_rules(model, tok, CLAUSES[:1], params=settings, rule_format=rule_format).items[0]
    assert item.text == head + ")" and item.stop_reason == "eos" and item.constrained_steps == 1


@pytest.fixture
def clause_keyed_model(tiny_llama):
    """A tiny Llama steered per clause, wherever the clause sits in a batch: ``scripts[clause] = (first,
    second, ...)``, ranked as in ``ranked_model``; the clause of each row is read from its prompt."""

    def build(scripts, tokenizer):
        model = tiny_llama(seed=0)
        state = {"step": -1, "rows": []}

        def hook(module, args, kwargs, output):
            ids = kwargs.get("input_ids")
            if ids is not None and ids.shape[1] > 1:
                state["step"] = 0
                prompts = tokenizer.batch_decode(ids, skip_special_tokens=True)
                state["rows"] = [scripts[next(c for c in scripts if c in prompt)] for prompt in prompts]
                follow_the_batch(output.cache, state)
            else:
                state["step"] += 1
            output.logits = ranked_logits(output.logits, state["rows"], state["step"])
            return output

        model.register_forward_hook(hook, with_kwargs=True)
        return model

    return build


def test_regenerated_unconstrained_rules_are_the_plain_runs_and_get_their_own_lrml_score(
    clause_keyed_model, smol_tokenizer
):
    """Only the rule the constraint changed is generated again, in a batch of its own; the LRML scores
    of the rules as the model writes them unconstrained sit beside the constrained ones'."""
    tok = smol_tokenizer
    eos = tok.eos_token_id
    whole = "if(has(space,window)),then(obligation(has(space,door)))"
    short = whole[:-1]  # one ')' short: the model's end of sequence dooms it
    scripts = {
        CLAUSES[0]: (ids_of(tok, whole) + [eos], ids_of(tok, ")")[0]),
        CLAUSES[1]: (ids_of(tok, short) + [eos], ids_of(tok, ")")[0]),
        CLAUSES[2]: (ids_of(tok, "if(has(space,window)),then(obligation(has(space,wall)))") + [eos], eos),
    }
    test = pd.DataFrame({"clause_id": ["a", "b", "c"], "clause": CLAUSES[:3], "rule": [whole] * 3})
    settings = conf_generation(max_new_tokens=40, balanced_call=None, constrain=False)
    metrics = conf_metrics(n_resamples=100, embedding_model=None)
    free, free_table, _ = evaluate_model(
        clause_keyed_model(scripts, tok),
        tok,
        test,
        generation_params=settings,
        metric_params=metrics,
        rule_format="lrml",
    )
    held, held_table, speed = evaluate_model(
        clause_keyed_model(scripts, tok),
        tok,
        test,
        generation_params={**settings, "constrain": True, "regenerate_unconstrained": True},
        metric_params=metrics,
        rule_format="lrml",
    )
    assert free["generated_rule"].tolist() == [whole, short, scripts_text(tok, scripts[CLAUSES[2]][0])]
    assert held["generated_rule"].tolist()[1] == whole and held["constrained_steps"].tolist() == [0, 1, 0]
    assert held["unconstrained_rule"].tolist() == free["generated_rule"].tolist()
    assert speed["regenerated_rules"] == 1 and speed["unconstrained_seconds"] > 0
    for column in ("lrml_published_clause_f1", "lrml_clause_f1", "lrml_published_precision"):
        assert held[f"{column}_unconstrained"].tolist() == free[column].tolist()
    held_means, free_means = held_table.set_index("metric")["mean"], free_table.set_index("metric")["mean"]
    assert held_means["lrml_f1_published_unconstrained"] == pytest.approx(free_means["lrml_f1_published"])
    assert "unconstrained_rule" not in free and "lrml_f1_published_unconstrained" not in free_means


def scripts_text(tokenizer, script):
    return tokenizer.decode(script, skip_special_tokens=True)
