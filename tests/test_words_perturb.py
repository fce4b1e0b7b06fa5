"""Word features and perturbation operators: what exactly a deletion or a mask changes."""

import pytest

from rulelens.words import split_words
from rulelens.words.perturb import (
    DEFAULT_MASK_TEXT,
    DELETE,
    MASK,
    baseline_values,
    clause_template,
    mask_string,
    perturbed_clauses,
)

CLAUSE = "SCDF 2.3.12(b) - Minimum headroom: rooms shall be 2.0 m high."
CLAUSES = [
    CLAUSE,
    "C2.4.3 Minimum headroom in every habitable room shall be 2.4 m.",
    "X.1.2 The headroom of every room shall not be less than 2.0 m, except (a) lofts.",
    "Handrails (see clause 4.2(a)) shall be continuous; landings shall be level.",
    "Doors shall swing in the direction of escape",
    "(a) every exit shall be signed, and (b) lit",
]


def test_template_reproduces_clause_and_follows_split_words():
    template = clause_template(CLAUSE)
    assert template.render() == CLAUSE
    assert [f.word.text for f in template.features] == [w.text for w in split_words(CLAUSE)]
    assert template.fixed[-1] == "."  # final punctuation is never part of a feature


def test_deleting_the_first_word_takes_the_whitespace_after_it():
    variants = perturbed_clauses(clause_template("C2.4.3 Minimum headroom in every habitable room."), DELETE)
    assert variants[0] == "Minimum headroom in every habitable room."
    assert variants[1] == "C2.4.3 headroom in every habitable room."


def test_a_word_after_an_opening_bracket_takes_the_whitespace_after_it():
    clause = "Handrails (see clause 4) shall be continuous."
    template = clause_template(clause)
    see = [f.word.text for f in template.features].index("see")
    assert perturbed_clauses(template, DELETE)[see] == "Handrails (clause 4) shall be continuous."
    feature = template.features[see]
    assert (feature.lead, feature.trail) == ("", " ") and clause[feature.start : feature.end] == feature.removed


@pytest.mark.parametrize("clause", CLAUSES)
def test_every_single_deletion_reads_naturally(clause):
    template = clause_template(clause)
    assert template.render() == clause
    variants = perturbed_clauses(template, DELETE)
    assert len(variants) == len(split_words(clause))
    for variant, feature in zip(variants, template.features):
        assert "  " not in variant and variant == variant.strip(), (feature.word.text, variant)
        # exactly the word and the whitespace it takes are gone
        assert variant == clause[: feature.start] + clause[feature.end :]


@pytest.mark.parametrize("clause", CLAUSES)
def test_every_multi_word_deletion_reads_naturally(clause):
    import itertools

    template = clause_template(clause)
    n = len(template.features)
    subsets = [set(c) for k in (2, 3, n) for c in itertools.combinations(range(n), min(k, n))][:400]
    for removed in subsets:
        values = ["" if i in removed else f.text for i, f in enumerate(template.features)]
        text = template.render(values)
        assert "  " not in text and text == text.strip(), (removed, text)


def test_delete_removes_word_with_preceding_whitespace_only():
    variants = perturbed_clauses(clause_template(CLAUSE), DELETE)
    assert variants[3] == "SCDF 2.3.12(b) - Minimum: rooms shall be 2.0 m high."  # "headroom"
    assert variants[7] == "SCDF 2.3.12(b) - Minimum headroom: rooms shall be m high."  # "2.0"
    assert variants[-1] == "SCDF 2.3.12(b) - Minimum headroom: rooms shall be 2.0 m."  # last word
    assert all("  " not in v for v in variants[1:])


def test_mask_replaces_word_text_and_keeps_whitespace():
    variants = perturbed_clauses(clause_template(CLAUSE), MASK, "<mask>")
    assert variants[4] == "SCDF 2.3.12(b) - Minimum headroom: <mask> shall be 2.0 m high."
    assert len(variants) == len(split_words(CLAUSE))


def test_mask_keeps_the_whitespace_around_the_placeholder_for_every_word():
    template = clause_template(CLAUSE)
    variants = perturbed_clauses(template, MASK, "___")
    assert variants[0] == "___ 2.3.12(b) - Minimum headroom: rooms shall be 2.0 m high."
    assert variants[-1] == "SCDF 2.3.12(b) - Minimum headroom: rooms shall be 2.0 m ___."


def test_mask_string_defaults_to_plain_text_and_never_falls_back_to_tokenizer_tokens(smol_tokenizer):
    assert DEFAULT_MASK_TEXT == "___"
    assert mask_string(smol_tokenizer) == "___"  # not SmolLM2's unk/pad token <|endoftext|> / <|im_end|>
    assert mask_string(smol_tokenizer, "[blank]") == "[blank]"
    ids = smol_tokenizer(" " + mask_string(smol_tokenizer), add_special_tokens=False)["input_ids"]
    assert not set(ids) & set(smol_tokenizer.all_special_ids)


@pytest.mark.parametrize("bad", ["<|endoftext|>", "x<|im_end|>", "<repo_name>"])
def test_mask_string_rejects_special_tokens(smol_tokenizer, bad):
    with pytest.raises(ValueError, match="special token") as error:
        mask_string(smol_tokenizer, bad)
    assert repr(bad) in str(error.value)


def test_mask_string_rejects_text_that_tokenizes_to_a_special_id():
    class Tok:
        all_special_tokens = ["<eos>"]
        all_special_ids = [0]

        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": [0 if "EOS" in text else 5]}

        def convert_ids_to_tokens(self, i):
            return "<eos>"

    assert mask_string(Tok(), "___") == "___"
    with pytest.raises(ValueError, match=r"'EOS'.*'<eos>'"):
        mask_string(Tok(), "EOS")
    with pytest.raises(ValueError, match="empty"):
        mask_string(Tok(), " ")


def test_unknown_operator_is_rejected():
    with pytest.raises(ValueError, match="unknown operator"):
        baseline_values(clause_template(CLAUSE), "shuffle")
