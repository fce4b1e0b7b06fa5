"""Metrics on hand-made pairs with known answers, and the bootstrap aggregation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rulelens.evaluation.metrics import (
    aggregate,
    bootstrap_mean_ci,
    chrf,
    code_tokens,
    embedding_model_folder,
    exact_match,
    lcs_length,
    rouge_l,
    score_pairs,
    semantic_similarity,
    validity,
)
from tests.conf_settings import conf_metrics

REFERENCE = 'rule("BCA F4.4", room, when=room.is_habitable, require=window.openable_area_pct >= 5)'
PARAPHRASE = 'rule("BCA F4.4", habitable_room, require=window.openable_area_pct >= 5)'
UNRELATED = 'rule("IBC 1011.5.2", stair, require=between(stair.riser_height_mm, 100, 178))'


# --------------------------------------------------------------------------- surface metrics


def test_identical_pair_scores_one():
    assert chrf(REFERENCE, REFERENCE) == 1.0
    assert rouge_l(REFERENCE, REFERENCE) == 1.0
    assert exact_match(REFERENCE, REFERENCE) == 1.0


def test_chrf_hand_computed():
    # "ab" vs "ac": unigrams P = R = 1/2, bigrams P = R = 0, no n-grams of order >= 3.
    # chrP = chrR = 1/4, so chrF = 1/4 for any beta.
    assert chrf("ab", "ac") == pytest.approx(0.25)
    # "abc" vs "ab": n=1 P 2/3 R 1; n=2 P 1/2 R 1; chrP = 7/12, chrR = 1; beta=2 -> 5PR/(4P+R)
    p, r = 7 / 12, 1.0
    assert chrf("abc", "ab") == pytest.approx(5 * p * r / (4 * p + r))
    assert chrf("abc", "ab", beta=1.0) == pytest.approx(2 * p * r / (p + r))


def test_chrf_ignores_whitespace_and_orders_recall():
    assert chrf("a b  c", "abc") == 1.0
    short, long = "room.height >= 2", "room.height_m >= 2.4 and room.is_habitable"
    # beta = 2 weights recall: missing reference content costs more than extra output.
    assert chrf(short, long) < chrf(long, short)


def test_chrf_edge_cases():
    assert chrf("", "") == 0.0  # as sacreBLEU: no n-gram order to average over
    assert chrf("", "abc") == 0.0
    assert chrf("xyz", "abc") == 0.0


def test_code_tokens_keep_numbers_and_operators():
    assert code_tokens("room.headroom_m >= 2.0") == ["room", ".", "headroom_m", ">=", "2.0"]


def test_rouge_l_hand_computed():
    assert lcs_length(list("abcd"), list("acde")) == 3
    # tokens a b c d vs a c d e: LCS 3, P = R = 3/4, F1 = 3/4
    assert rouge_l("a b c d", "a c d e") == pytest.approx(0.75)
    # P = 2/2, R = 2/4 -> F1 = 2/3
    assert rouge_l("a b", "a x b y") == pytest.approx(2 / 3)
    assert rouge_l("x y", "a b") == 0.0
    assert rouge_l("", "") == 0.0  # as rouge-score: no tokens


def test_exact_match_normalises_whitespace_only():
    assert exact_match("rule(a,  b)\n", " rule(a, b)") == 1.0
    assert exact_match("rule(a,b)", "rule(a, b)") == 0.0


def test_surface_metrics_rank_paraphrase_above_unrelated():
    assert 1.0 > chrf(PARAPHRASE, REFERENCE) > chrf(UNRELATED, REFERENCE)
    assert 1.0 > rouge_l(PARAPHRASE, REFERENCE) > rouge_l(UNRELATED, REFERENCE)
    assert exact_match(PARAPHRASE, REFERENCE) == 0.0


# --------------------------------------------------------------------------- validity


@pytest.mark.parametrize("text", [REFERENCE, PARAPHRASE, UNRELATED])
def test_valid_rulelens_rules(text):
    assert validity(text, "rulelens")


@pytest.mark.parametrize(
    "text",
    [
        "",
        'rule("BCA F4.4", room, require=room.height_m >= 2.4',  # unbalanced
        'rule("BCA F4.4", room)',  # no require=
        'rule("BCA F4.4", spaceship, require=spaceship.speed > 1)',  # unknown entity
        'rule("BCA F4.4", room, require=room.height_m >= 2.4) extra',
        'rule("BCA F4.4", room, require=room.a, require=room.b)',  # parses, but Python will not compile it
        "if(has(room,window)),then(obligation(x))",  # LRML is not the rulelens format
    ],
)
def test_invalid_rulelens_rules(text):
    assert not validity(text, "rulelens")


# --------------------------------------------------------------------------- semantic similarity


def test_embedding_folder_found_offline(tmp_path):
    folder = embedding_model_folder()
    assert (folder / "modules.json").is_file() and (folder / "model.safetensors").is_file()
    assert embedding_model_folder(str(folder)) == folder
    with pytest.raises(FileNotFoundError):
        embedding_model_folder(str(tmp_path / "missing"))


def test_semantic_similarity_orders_pairs(encoder):
    english_ref = "Habitable rooms shall have openable windows of not less than 5% of the floor area."
    english_para = "Every habitable room must have windows that open, at least 5 percent of its floor area."
    english_other = "The swimming pool fence must be at least 1.2 metres tall."
    sims = semantic_similarity(
        [REFERENCE, PARAPHRASE, UNRELATED, english_ref, english_para, english_other],
        [REFERENCE, REFERENCE, REFERENCE, english_ref, english_ref, english_ref],
        encoder,
    )
    assert sims[0] == pytest.approx(1.0, abs=1e-5) and sims[3] == pytest.approx(1.0, abs=1e-5)
    assert 0.8 < sims[1] < sims[0] and 0.8 < sims[4] < sims[3]
    assert sims[2] < sims[1] - 0.2 and sims[5] < sims[4] - 0.4


def test_score_pairs_frame(encoder):
    frame = score_pairs([REFERENCE, "garbage"], [REFERENCE, REFERENCE], params=conf_metrics(), encoder=encoder)
    assert list(frame.columns) == ["semantic_similarity", "chrf", "rouge_l", "exact_match", "valid"]
    assert frame.loc[0, "exact_match"] == 1.0 and frame.loc[0, "valid"]
    assert not frame.loc[1, "valid"] and frame.loc[1, "semantic_similarity"] < frame.loc[0, "semantic_similarity"]


def test_score_pairs_without_embedding_model():
    frame = score_pairs(
        ["if(a),then(b)"], ["if(a),then(c)"], rule_format="lrml", params=conf_metrics(embedding_model=None)
    )
    assert math.isnan(frame.loc[0, "semantic_similarity"]) and frame.loc[0, "valid"]


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_ci_contains_mean_and_narrows_with_n():
    rng = np.random.default_rng(1)
    widths = []
    for n in (20, 80, 320):
        values = rng.normal(0.6, 0.2, size=n)
        mean, low, high = bootstrap_mean_ci(values, n_resamples=2000, seed=0)
        assert mean == pytest.approx(values.mean())
        assert low < mean < high
        widths.append(high - low)
        # close to the normal-theory width 2 * 1.96 * s / sqrt(n)
        assert high - low == pytest.approx(2 * 1.96 * values.std() / np.sqrt(n), rel=0.2)
    assert widths[0] > widths[1] > widths[2]


def test_bootstrap_is_seeded_and_handles_degenerate_input():
    values = [0, 1, 1, 0, 1, 1, 1, 0]
    assert bootstrap_mean_ci(values, seed=3) == bootstrap_mean_ci(values, seed=3)
    assert bootstrap_mean_ci([0.7]) == (0.7, 0.7, 0.7)
    assert all(math.isnan(v) for v in bootstrap_mean_ci([float("nan")]))
    mean, low, high = bootstrap_mean_ci([1.0, float("nan"), 0.0], n_resamples=500)
    assert mean == 0.5 and 0.0 <= low <= high <= 1.0


def test_aggregate_tidy_frame():
    scores = pd.DataFrame({"chrf": [0.2, 0.4, 0.6], "valid": [True, False, True], "semantic_similarity": [np.nan] * 3})
    table = aggregate(scores, params=conf_metrics(n_resamples=300))
    assert list(table.columns) == ["metric", "mean", "ci_low", "ci_high", "n"]
    assert list(table["metric"]) == ["semantic_similarity", "chrf", "valid"]
    row = table.set_index("metric").loc["valid"]
    assert row["mean"] == pytest.approx(2 / 3) and row["n"] == 3
    assert table.set_index("metric").loc["semantic_similarity", "n"] == 0
