"""The LRML F1 score (Fuchs et al.) on hand-made pairs whose scores are worked out on paper.

Notation in the docstrings: ``rel[w1, w2]`` is a flattened term (relation and its words, its
sub-terms' words included), ``E[...]`` a leaf entity. With entity weight w, a side with t terms
and e entities has the denominator t + w * e; a matched term scores overlap / len(words), a
matched entity w * overlap / len(words).
"""

import math

import numpy as np
import pandas as pd
import pytest

from rulelens.evaluation.lrml_score import (
    Element,
    atom_words,
    f1_from,
    flatten_terms,
    lrml_corpus_scores,
    lrml_elements,
    lrml_pair_scores,
    match_score,
    parse_terms,
    strip_clue,
)
from rulelens.evaluation.metrics import aggregate, bootstrap_f1_ci, score_pairs
from tests.conf_settings import conf_metrics
from tests.project_copy import NZBC_CSV  # ../shared/datasets/nzbc-lrml/clauses.csv beside the project

RULE_A = "if(has(space,opening)),then(obligation(is(opening,external)))"


def test_words_split_camel_case_and_dots_and_keep_numbers_with_units():
    assert atom_words("space.floorArea") == ["space", "floor", "area"]
    assert atom_words("naturalVentilation") == ["natural", "ventilation"]
    assert atom_words("200 mm") == ["200 mm"]
    assert atom_words("0.2 kN") == ["0.2 kn"]
    assert atom_words("400 mmCentres") == ["400 mm", "centres"]
    assert atom_words("'0.05 * x1'") == ["0.05", "*", "x1"]
    assert atom_words("1.2.2") == ["1.2.2"]
    assert atom_words("nzbc_e2as1_f9.g") == ["nzbc", "e2as1", "f9", "g"]


def test_parse_builds_the_term_tree():
    (if_term, then_term) = parse_terms(RULE_A)
    assert (if_term.relation, then_term.relation) == ("if", "then")
    assert if_term.children[0].relation == "has" and if_term.children[0].words == ["space", "opening"]
    assert then_term.all_words() == ["opening", "external"]


def test_flatten_lists_terms_in_pre_order_then_leaf_entities():
    elements = flatten_terms(parse_terms(RULE_A))
    assert [(e.relation, e.words, e.is_entity) for e in elements] == [
        ("if", ("space", "opening"), False),
        ("has", ("space", "opening"), False),
        ("then", ("opening", "external"), False),
        ("obligation", ("opening", "external"), False),
        ("is", ("opening", "external"), False),
        ("", ("space", "opening"), True),
        ("", ("opening", "external"), True),
    ]


def test_exact_match_scores_100():
    """RULE_A: 5 terms + 2 entities; denominator 5 + 2*2 = 9; all matched fully: 5*1 + 2*2 = 9.

    precision = recall = 9/9 = 1, F1 = 100 %.
    """
    assert lrml_pair_scores(RULE_A, RULE_A) == (1.0, 1.0)
    assert lrml_corpus_scores([RULE_A], [RULE_A]) == {"lrml_f1": 100.0, "lrml_precision": 100.0, "lrml_recall": 100.0}


def test_partial_word_overlap():
    """ref obligation(has(space,opening)) vs pred obligation(has(space,window)).

    pred: obligation[space,window], has[space,window], E[space,window] (denominator 2 + 2 = 4).
    Each shares 'space' (1 of 2 words): 1/2 + 1/2 + 2*(1/2) = 2; precision = 2/4 = 0.5.
    Symmetric: recall = 0.5; F1 = 0.5.
    """
    precision, recall = lrml_pair_scores("obligation(has(space,window))", "obligation(has(space,opening))")
    assert precision == pytest.approx(0.5) and recall == pytest.approx(0.5)


def test_camel_case_words_and_unit_quantities_give_partial_credit():
    """has[space,natural,ventilation] vs has[space,mechanical,ventilation]: overlap 2 of 3.

    term 2/3 + entity 2*(2/3) = 2, over 1 + 2 = 3: 2/3 both ways. The same for
    greaterThanEqual[lap,size,'200 mm'] vs [lap,size,'150 mm'] (the quantity is one word).
    """
    for prediction, reference in [
        ("has(space,naturalVentilation)", "has(space,mechanicalVentilation)"),
        ("greaterThanEqual(lap.size,200 mm)", "greaterThanEqual(lap.size,150 mm)"),
    ]:
        precision, recall = lrml_pair_scores(prediction, reference)
        assert precision == pytest.approx(2 / 3) and recall == pytest.approx(2 / 3)


def test_nested_terms_missing_branch():
    """ref and(has(space,opening),is(opening,external)) vs pred and(has(space,opening)).

    ref: and[space,opening,opening,external], has[space,opening], is[opening,external],
    E[space,opening], E[opening,external]: denominator 3 + 2*2 = 7.
    pred: and[space,opening], has[space,opening], E[space,opening]: denominator 2 + 2 = 4.
    precision: and 2/2 + has 2/2 + E 2*(2/2) = 4; 4/4 = 1.
    recall: and 2/4 + has 1 + is 0 (no 'is' in pred) + E 2*1 + E[opening,external] 0 (the only
    pred entity is used) = 3.5; 3.5/7 = 0.5. F1 = 2*1*0.5/1.5 = 2/3.
    """
    precision, recall = lrml_pair_scores("and(has(space,opening))", "and(has(space,opening),is(opening,external))")
    assert precision == pytest.approx(1.0) and recall == pytest.approx(0.5)
    assert f1_from(precision, recall) == pytest.approx(2 / 3)


@pytest.mark.parametrize("weight, expected_recall", [(1.0, 2 / 3), (2.0, 0.75), (3.0, 0.8)])
def test_entity_weight(weight, expected_recall):
    """ref obligation(has(space,opening)) vs pred has(space,opening).

    ref: obligation[space,opening] (no 'obligation' in pred: 0), has (1), E (w * 1).
    recall = (0 + 1 + w) / (2 + w): w=1 -> 2/3, w=2 -> 3/4, w=3 -> 4/5.
    precision = (1 + w) / (1 + w) = 1 for every w.
    """
    precision, recall = lrml_pair_scores("has(space,opening)", "obligation(has(space,opening))", entity_weight=weight)
    assert precision == pytest.approx(1.0) and recall == pytest.approx(expected_recall)


def test_relation_must_match_and_each_reference_element_is_used_once():
    """pred and(has(a,b),has(a,b)) against ref has(a,b): each ref element is used once.

    pred: and[a,b,a,b] (no 'and' in ref: 0), has 1, second has 0 (ref 'has' used), E 2, second
    E 0: score 3 over 3 + 2*2 = 7 -> precision 3/7. ref: has 1 + E 2 over 1 + 2 = 3 -> recall 1.
    A different relation never matches: pred is(space,opening) vs ref has(space,opening) scores
    only its entity: 2 / (1 + 2) = 2/3 both ways.
    """
    precision, recall = lrml_pair_scores("and(has(a,b),has(a,b))", "has(a,b)")
    assert precision == pytest.approx(3 / 7) and recall == pytest.approx(1.0)
    assert lrml_pair_scores("is(space,opening)", "has(space,opening)") == pytest.approx((2 / 3, 2 / 3))


def test_malformed_predictions_score_without_crashing():
    """Unclosed brackets are closed at the end: the same tree as the reference (1, 1).

    A then( inside an unclosed if( closes the if first, so the tree equals RULE_A (1, 1).
    Stray brackets, commas and an unterminated quote without any call: no elements (0, 0).
    """
    assert lrml_pair_scores("if(and(has(space,opening)", "if(and(has(space,opening)))") == (1.0, 1.0)
    assert lrml_pair_scores("if(has(space,opening),then(obligation(is(opening,external)))", RULE_A) == (1.0, 1.0)
    for garbage in [")))(,,'(", "The space must have an opening.", "((((", "'unterminated(", "if(", ",)"]:
        precision, recall = lrml_pair_scores(garbage, RULE_A)
        assert 0.0 <= precision <= 1.0 and 0.0 <= recall <= 1.0
    assert lrml_pair_scores(")))(,,'(", RULE_A) == (0.0, 0.0)
    assert lrml_pair_scores("The space must have an opening.", RULE_A) == (0.0, 0.0)


def test_empty_prediction_scores_zero():
    """No predicted element: precision 0 (empty side), recall 0 of 9; F1 0. Corpus of the exact
    pair and the empty one: P = R = (1 + 0)/2 = 0.5, F1 = 50 %."""
    assert lrml_pair_scores("", RULE_A) == (0.0, 0.0)
    assert lrml_corpus_scores([RULE_A, ""], [RULE_A, RULE_A]) == pytest.approx(
        {"lrml_f1": 50.0, "lrml_precision": 50.0, "lrml_recall": 50.0}
    )


def test_corpus_f1_comes_from_averaged_precision_and_recall():
    """Pairs (P, R) = (1, 0.5) [nested case] and (0.5, 0.5) [partial case].

    mean P = 0.75, mean R = 0.5, F1 = 2*0.75*0.5/1.25 = 0.6 -> 60 %, not the mean of the
    per-pair F1s ((2/3 + 1/2)/2 = 58.3 %).
    """
    predictions = ["and(has(space,opening))", "obligation(has(space,window))"]
    references = ["and(has(space,opening),is(opening,external))", "obligation(has(space,opening))"]
    scores = lrml_corpus_scores(predictions, references)
    assert scores["lrml_precision"] == pytest.approx(75.0) and scores["lrml_recall"] == pytest.approx(50.0)
    assert scores["lrml_f1"] == pytest.approx(60.0)


def test_leading_clue_is_ignored():
    assert strip_clue("obligation: has(space,opening)") == "has(space,opening)"
    assert strip_clue(RULE_A) == RULE_A
    assert lrml_pair_scores("obligation: has(space,opening)", "has(space,opening)") == (1.0, 1.0)


def test_empty_prediction_entities_are_filtered_but_reference_kept():
    """pred has() -> has[] and an empty entity; the entity is dropped, 'has' shares no word: 0."""
    assert [e.relation for e in lrml_elements("has()", filter_empty=True)] == ["has"]
    assert match_score([Element("has", ())], [Element("has", ("a",))]) == 0.0


# --------------------------------------------------------------------------- metrics integration


def test_score_pairs_adds_lrml_columns_only_for_lrml():
    frame = score_pairs(
        ["obligation(has(space,window))"],
        ["obligation(has(space,opening))"],
        rule_format="lrml",
        params=conf_metrics(embedding_model=None),
    )
    assert {"lrml_precision", "lrml_recall", "lrml_clause_f1"} <= set(frame.columns)
    assert frame.loc[0, "lrml_precision"] == pytest.approx(0.5) and frame.loc[0, "lrml_clause_f1"] == pytest.approx(0.5)
    plain = score_pairs(["rule(a)"], ["rule(a)"], params=conf_metrics(embedding_model=None))
    assert not any(c.startswith("lrml") for c in plain.columns)


def test_aggregate_lrml_f1_from_means_with_bootstrap_ci():
    frame = pd.DataFrame({"lrml_precision": [1.0, 0.5], "lrml_recall": [0.5, 0.5], "lrml_clause_f1": [2 / 3, 0.5]})
    table = aggregate(
        frame, metrics=("lrml_f1", "lrml_precision", "lrml_recall"), params=conf_metrics(n_resamples=500)
    ).set_index("metric")
    assert table.loc["lrml_f1", "mean"] == pytest.approx(0.6)
    assert table.loc["lrml_precision", "mean"] == pytest.approx(0.75)
    assert table.loc["lrml_f1", "ci_low"] <= 0.6 <= table.loc["lrml_f1", "ci_high"]
    assert table.loc["lrml_f1", "n"] == 2
    # the resamples are the four combinations of two clauses; F1 of (0.5, 0.5) and (1, 0.5) bound them
    assert table.loc["lrml_f1", "ci_low"] >= 0.5 - 1e-12 and table.loc["lrml_f1", "ci_high"] <= 2 / 3 + 1e-12


def test_bootstrap_f1_is_seeded_and_handles_degenerate_input():
    rng = np.random.default_rng(1)
    p, r = rng.uniform(size=40), rng.uniform(size=40)
    assert bootstrap_f1_ci(p, r, 300, seed=3) == bootstrap_f1_ci(p, r, 300, seed=3)
    assert all(math.isnan(v) for v in bootstrap_f1_ci([], [], 10))
    assert bootstrap_f1_ci([0.0, 0.0], [1.0, 1.0], 10) == (0.0, 0.0, 0.0)


@pytest.mark.skipif(not NZBC_CSV.is_file(), reason="shared NZBC LRML dataset not available")
def test_every_nzbc_rule_scores_100_against_itself_and_less_against_another():
    rules = pd.read_csv(NZBC_CSV)["lrml"].astype(str).tolist()
    assert lrml_corpus_scores(rules, rules)["lrml_f1"] == pytest.approx(100.0)
    shifted = rules[1:] + rules[:1]
    assert lrml_corpus_scores(shifted, rules)["lrml_f1"] < 30.0
