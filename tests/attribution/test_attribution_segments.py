"""Word features and perturbation operators: what exactly a deletion or a mask changes."""

import pytest

from rulelens.attribution.segments import (
    DELETE, MASK, baseline_values, clause_template, mask_string, perturbed_clauses,
)
from rulelens.words import split_words

CLAUSE = "SCDF 2.3.12(b) - Minimum headroom: rooms shall be 2.0 m high."


def test_template_reproduces_clause_and_follows_split_words():
    template = clause_template(CLAUSE)
    assert template.render() == CLAUSE
    assert [f.word.text for f in template.features] == [w.text for w in split_words(CLAUSE)]
    assert template.fixed[-1] == "."  # final punctuation is never part of a feature


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


def test_mask_string_falls_back_from_mask_to_unk_to_pad():
    class Tok:
        mask_token = None
        unk_token = None
        pad_token = "<pad>"

    assert mask_string(Tok()) == "<pad>"
    Tok.unk_token = "<unk>"
    assert mask_string(Tok()) == "<unk>"
    assert mask_string(Tok(), "[X]") == "[X]"


def test_unknown_operator_is_rejected():
    with pytest.raises(ValueError, match="unknown operator"):
        baseline_values(clause_template(CLAUSE), "shuffle")
