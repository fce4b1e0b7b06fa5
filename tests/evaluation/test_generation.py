"""Greedy batched generation: stop rules, max_new_tokens, left padding, wrapped models."""

from __future__ import annotations

import pytest

from rulelens.evaluation.generation import (
    STOP_EOS,
    STOP_LENGTH,
    STOP_REPETITION,
    STOP_RULE,
    GenerationParams,
    balanced_call_end,
    clean_text,
    generate_rules,
    repetition_stop,
    stop_length,
    stop_string_start,
    text_stop_position,
)
from rulelens.param_blocks import ParameterError
from rulelens.prompts import PromptStyle, build_prompt, encode_prompt
from tests.conf_settings import conf_generation
from tests.evaluation.tiny_models import four_bit_model, peft_model

CLAUSES = [
    "A.1 Rooms shall be 2.4 m high.",
    "B.2.3(b) Every stair serving more than three storeys shall have handrails on both sides.",
    "C.4 Doors shall be self-closing.",
    "D.5.6 The gradient of an accessible ramp shall not be steeper than 1:12 over its full length.",
]
COMPLETE = 'rule("X.1(b)", room, require=room.a >= 1)'


def ids_of(tokenizer, text):
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def plain(**overrides):
    """conf/base's ``evaluation.generation`` without the constraint: these tests check the model's own
    greedy output and the stops (tests/evaluation/test_constrained.py covers the constraint)."""
    return conf_generation(**{"constrain": False, **overrides})


def settings(**overrides):
    return GenerationParams.from_params(plain(**overrides))


# --------------------------------------------------------------------------- pure stop rule


def test_balanced_call_end_skips_strings_and_nesting():
    assert balanced_call_end(COMPLETE + " and more") == len(COMPLETE)
    assert balanced_call_end('rule("X.1(b)", room, require=between(room.a, 1, 2)') is None
    assert balanced_call_end("rule('a)', b)") == len("rule('a)', b)")
    assert balanced_call_end('rule("a\\")", b)') == len('rule("a\\")", b)')  # escaped quote
    assert balanced_call_end("subrule(x) rule(y)") == len("subrule(x) rule(y)")  # whole-word name
    assert balanced_call_end("no call here") is None


def test_stop_strings_ignore_leading_whitespace():
    assert stop_string_start("\n\nrule(a)\nmore", ["\n"]) == len("\n\nrule(a)")
    assert stop_string_start("rule(a", ["\n"]) is None


def test_text_stop_position_takes_the_first_stop():
    params = settings()
    assert text_stop_position("rule(a)\nrule(b)", params) == len("rule(a)")
    assert text_stop_position("rule(a,\nb)", params) == len("rule(a,")
    assert text_stop_position("rule(a,", params) is None
    assert text_stop_position("rule(a)", settings(balanced_call=None)) is None
    assert clean_text("  rule(a) trailing", params) == "rule(a)"


def test_stop_length_on_token_sequences(smol_tokenizer):
    tok = smol_tokenizer
    eos = frozenset({tok.eos_token_id})
    params = settings()

    def decode(ids):
        return tok.decode(list(ids), skip_special_tokens=True)

    head = ids_of(tok, COMPLETE)
    tail = ids_of(tok, " and then(more)")
    # the stop rule fires at the token that closes the call; later tokens are not counted
    assert stop_length(head + tail, decode, eos, params) == (len(head), STOP_RULE)
    # eos first: counted as a produced token, nothing after it
    partial = ids_of(tok, 'rule("X", room')
    assert stop_length(partial + [tok.eos_token_id] + tail, decode, eos, params) == (len(partial) + 1, STOP_EOS)
    # padding (pad == eos for SmolLM2) after a stop-rule stop does not change the count
    assert stop_length(head + [tok.pad_token_id] * 3, decode, eos, params) == (len(head), STOP_RULE)
    # nothing fires: every token counts
    assert stop_length(partial, decode, eos, params) == (len(partial), STOP_LENGTH)
    # newline stop after some output
    words = ids_of(tok, "room height")
    assert stop_length(words + ids_of(tok, "\nnext"), decode, eos, params)[1] == STOP_RULE


# --------------------------------------------------------------------------- through model.generate


def test_generation_stops_at_the_stop_rule(scripted_model, smol_tokenizer):
    tok = smol_tokenizer
    head = ids_of(tok, COMPLETE)
    model = scripted_model(head + ids_of(tok, " and then(more) and more"))
    out = generate_rules(model, tok, CLAUSES[:1], params=plain(max_new_tokens=40))
    item = out.items[0]
    assert item.text == COMPLETE and item.stop_reason == STOP_RULE and item.n_tokens == len(head)
    assert model.calls == len(head)  # generate itself ended early, not at max_new_tokens


def test_generation_stops_at_eos(scripted_model, smol_tokenizer):
    tok = smol_tokenizer
    partial = ids_of(tok, 'rule("X", room')
    model = scripted_model(partial + [tok.eos_token_id] + ids_of(tok, ", more)"))
    item = generate_rules(model, tok, CLAUSES[:2], params=plain(max_new_tokens=40)).items[1]
    assert item.text == 'rule("X", room' and item.stop_reason == STOP_EOS
    assert item.n_tokens == len(partial) + 1 and item.token_ids[-1] == tok.eos_token_id
    assert model.calls == len(partial) + 1


def test_generation_respects_max_new_tokens(scripted_model, tiny_llama, smol_tokenizer):
    tok = smol_tokenizer
    model = scripted_model(ids_of(tok, "rule(a, b, c, d, e, f, g"))
    item = generate_rules(model, tok, CLAUSES[:1], params=plain(max_new_tokens=5)).items[0]
    assert item.n_tokens == 5 and item.stop_reason == STOP_LENGTH
    random_model = tiny_llama(seed=0, tie_word_embeddings=False)
    out = generate_rules(random_model, tok, CLAUSES, params=plain(max_new_tokens=3, batch_size=4))
    assert all(n <= 3 for n in out.token_counts) and len(out.texts) == len(CLAUSES)


def test_batched_equals_one_at_a_time(tiny_llama, smol_tokenizer):
    model = tiny_llama(seed=0, tie_word_embeddings=False)
    params = plain(max_new_tokens=8, balanced_call=None, stop_strings=[])
    single = generate_rules(model, smol_tokenizer, CLAUSES, params={**params, "batch_size": 1})
    batched = generate_rules(model, smol_tokenizer, CLAUSES, params={**params, "batch_size": 3})
    unsorted = generate_rules(
        model, smol_tokenizer, CLAUSES, params={**params, "batch_size": 4, "sort_by_length": False}
    )
    assert [i.token_ids for i in batched.items] == [i.token_ids for i in single.items]
    assert [i.token_ids for i in unsorted.items] == [i.token_ids for i in single.items]
    assert len({i.token_ids for i in single.items}) > 1  # the clauses really produce different outputs


def test_generation_uses_the_training_prompt(scripted_model, smol_tokenizer):
    """The prompt fed to generate is encode_prompt(build_prompt(...)), chat template included."""
    tok = smol_tokenizer
    seen = []
    model = scripted_model([tok.eos_token_id])
    model.register_forward_pre_hook(lambda m, a, k: seen.append(k["input_ids"][0].tolist()), with_kwargs=True)
    style = PromptStyle(system="S", instruction="Clause: ")
    generate_rules(model, tok, CLAUSES[:1], style, plain())
    assert seen[0] == encode_prompt(tok, build_prompt(tok, CLAUSES[0], style))


def test_peft_model_generation_is_deterministic(tiny_llama, smol_tokenizer, tmp_path):
    model = peft_model(tiny_llama, tmp_path)
    params = plain(max_new_tokens=6, batch_size=2)
    first = generate_rules(model, smol_tokenizer, CLAUSES[:3], params=params)
    second = generate_rules(model, smol_tokenizer, CLAUSES[:3], params=params)
    assert first.items == second.items and all(0 < n <= 6 for n in first.token_counts)


def test_four_bit_model_generates(tiny_llama, smol_tokenizer, tmp_path):
    model = four_bit_model(tiny_llama, tmp_path)
    out = generate_rules(model, smol_tokenizer, CLAUSES[:2], params=plain(max_new_tokens=4, batch_size=2))
    assert all(0 < n <= 4 for n in out.token_counts)


def test_params_from_mapping():
    params = GenerationParams.from_params(conf_generation(stop_strings=["\n", "###"], batch_size=2))
    assert params.stop_strings == ("\n", "###") and params.batch_size == 2
    assert GenerationParams.from_params(params) is params
    with pytest.raises(ValueError):
        GenerationParams.from_params(conf_generation(max_new_tokens=0))


def test_params_are_read_strictly_from_the_conf_block():
    """Every key comes from conf (no code defaults): a missing or misspelt key fails naming it and the file."""
    block = conf_generation()
    del block["sort_by_length"]
    with pytest.raises(
        ParameterError,
        match=r"missing key\(s\) evaluation\.generation\.sort_by_length\b.*conf/base/parameters_evaluation\.yml",
    ):
        GenerationParams.from_params(block)
    with pytest.raises(
        ParameterError,
        match=r"unknown key evaluation\.generation\.max_tokens "
        r"\(did you mean evaluation\.generation\.max_new_tokens\?\)",
    ):
        GenerationParams.from_params({**conf_generation(), "max_tokens": 8})
    with pytest.raises(ParameterError, match=r"evaluation\.generation must be a block of settings"):
        GenerationParams.from_params(None)
    with pytest.raises(KeyError, match="max_tokens"):
        conf_generation(max_tokens=8)  # the test helper refuses keys conf does not declare


# --------------------------------------------------------------------------- repetition stop

LOOP = " and room.height_m >= 2.4"


def test_repetition_stop_is_pure_and_monotone():
    ids = [1, 2, 3] + [7, 8, 9] * 10
    end = repetition_stop(ids, 3, 4)
    # windows (7,8,9) end at 6, 9, 12, 15: the 4th occurrence fires
    assert end == 15
    assert all(repetition_stop(ids[:k], 3, 4) == end for k in range(end, len(ids) + 1))
    assert all(repetition_stop(ids[:k], 3, 4) is None for k in range(end))
    assert repetition_stop([5] * 10, 8, 3) == 10  # one token repeated: overlapping windows count
    assert repetition_stop(ids, None, 4) is None and repetition_stop(ids, 3, None) is None


def test_repetition_stop_in_stop_length(smol_tokenizer):
    tok = smol_tokenizer
    eos = frozenset({tok.eos_token_id})
    params = settings(repetition_ngram=4, repetition_max_repeats=3)

    def decode(ids):
        return tok.decode(list(ids), skip_special_tokens=True)

    head, loop = ids_of(tok, 'rule("X", room, require=room.a >= 1'), ids_of(tok, LOOP)
    looping = head + loop * 12
    n, reason = stop_length(looping, decode, eos, params)
    assert reason == STOP_REPETITION and n == repetition_stop(looping, 4, 3) < len(looping)
    # the stop rule closing first still wins; off switches the repetition stop off
    complete = ids_of(tok, COMPLETE)
    assert stop_length(complete + loop * 12, decode, eos, params) == (len(complete), STOP_RULE)
    off = settings(repetition_ngram=None)
    assert stop_length(looping, decode, eos, off) == (len(looping), STOP_LENGTH)
    with pytest.raises(ValueError):
        GenerationParams.from_params(conf_generation(repetition_ngram=4, repetition_max_repeats=1))


def test_shipped_corpus_rules_never_trigger_the_repetition_stop(smol_tokenizer):
    """Real rules repeat short runs (``', '``, ``room.``) but never loop: fed as generations, none stops."""
    from pathlib import Path

    import pandas as pd
    import yaml

    root = Path(__file__).resolve().parents[2]
    generation = yaml.safe_load((root / "conf/base/parameters_evaluation.yml").read_text())["evaluation"]["generation"]
    params = GenerationParams.from_params(generation)
    assert params.repetition_on
    rules = pd.read_csv(root / "data/01_raw/building_code_rules.csv")["rule"].astype(str)
    fired = [
        r
        for r in rules
        if repetition_stop(ids_of(smol_tokenizer, r), params.repetition_ngram, params.repetition_max_repeats)
    ]
    assert fired == []
    # the settings are not vacuous: a rule that loops is caught within max_new_tokens
    looping = ids_of(smol_tokenizer, 'rule("X", room, require=room.a >= 1' + LOOP * 20)
    assert repetition_stop(looping, params.repetition_ngram, params.repetition_max_repeats) <= params.max_new_tokens


def test_a_looping_model_stops_early_through_generate(scripted_model, smol_tokenizer):
    tok = smol_tokenizer
    head, loop = ids_of(tok, 'rule("X", room, require=room.a >= 1'), ids_of(tok, LOOP)
    model = scripted_model(head + loop * 40)
    params = plain(max_new_tokens=200, repetition_ngram=8, repetition_max_repeats=5)
    out = generate_rules(model, tok, CLAUSES[:1], params=params)
    item = out.items[0]
    expected = repetition_stop(head + loop * 40, 8, 5)
    assert item.stop_reason == STOP_REPETITION and item.n_tokens == expected < 200
    assert model.calls == expected  # generate itself ended at the loop, not at max_new_tokens
    assert item.text.startswith('rule("X", room') and LOOP.strip() in item.text
    # off: the same model runs to max_new_tokens
    model = scripted_model(head + loop * 40)
    item = generate_rules(
        model, tok, CLAUSES[:1], params={**params, "repetition_ngram": None, "max_new_tokens": 60}
    ).items[0]
    assert item.stop_reason == STOP_LENGTH and item.n_tokens == 60


def test_a_resumed_generation_reads_finished_batches_back(tiny_llama, smol_tokenizer, tmp_path, monkeypatch):
    """Batches kept in a stage store are read back, not generated again: the same rules, no model call."""
    from rulelens.evaluation.generation import generate_rules
    from rulelens.stage_store import StageStore

    clauses = ["Stairs shall have a handrail.", "Doors shall be 810 mm wide.", "Rooms need windows."]
    params = conf_generation(max_new_tokens=6, batch_size=2, constrain=False)
    model = tiny_llama(seed=0)
    store = StageStore(tmp_path / "g").open({"run": 1})
    first = generate_rules(model, smol_tokenizer, clauses, params=params, progress=store)
    assert store.keys_done() == 2  # two batches of at most 2 rows

    def refuse(*args, **kwargs):
        raise AssertionError("a finished batch was generated again")

    monkeypatch.setattr("rulelens.evaluation.generation.generate_batch", refuse)
    resumed = StageStore(tmp_path / "g").open({"run": 1})
    again = generate_rules(model, smol_tokenizer, clauses, params=params, progress=resumed)
    assert again.items == first.items and resumed.reused == 2
    assert again.extra == first.extra
