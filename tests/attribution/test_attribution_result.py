"""ClauseAttribution: the table the pipeline saves and the HTML heatmaps."""

import html
import math

import pytest

from rulelens.attribution.result import FRAME_COLUMNS, ClauseAttribution, attributions_frame, render_variants_html
from rulelens.words import split_words

CLAUSE = "A.1 Doors shall be at least 900 mm wide & <clear>."


def make(scores=None, method="engine"):
    words = tuple(split_words(CLAUSE))
    scores = scores or [0.5 * (i - 3) for i in range(len(words))]
    return ClauseAttribution(
        CLAUSE, words, tuple(scores), -12.0, "delete", "reference", "rule(A.1)", clause_id="c1", method=method
    )


def test_frame_has_columns_and_shares_sum_to_one():
    frame = make().to_frame()
    assert list(frame.columns) == FRAME_COLUMNS
    assert frame["share"].sum() == pytest.approx(1.0)
    assert (frame["word"] == [w.text for w in split_words(CLAUSE)]).all()
    assert attributions_frame([make(), make()]).shape[0] == 2 * len(frame)


def test_shares_are_nan_when_no_word_matters():
    zero = make([0.0] * len(split_words(CLAUSE)))
    assert all(math.isnan(s) for s in zero.shares)


def test_html_is_self_contained_and_shows_every_word_with_values():
    page = make().to_html()
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert "http" not in page and "<script" not in page
    for word in split_words(CLAUSE):
        assert f">{html.escape(word.text)}</span>" in page
    assert "score: +1.0000 nats" in page and " &amp; " in page


def test_variants_render_side_by_side_on_one_scale():
    page = render_variants_html({"fft.s": make(), "lora.s": make([1.0] * len(split_words(CLAUSE)), "captum")})
    assert page.count("<tr>") == 2 and "fft.s" in page and "lora.s" in page
    with pytest.raises(ValueError, match="same clause"):
        other = ClauseAttribution("B", (), (), 0.0, "delete", "reference", "")
        render_variants_html({"a": make(), "b": other})
