import numpy as np
import pytest

from rulelens.statistics import (
    aopc, aopc_table, attribution_order, curves_from_scores, deletion_curves, faithfulness_summary, mean_curves,
)


def only_word_zero(kept):
    """A model whose score depends only on whether word 0 is present."""
    return 0.0 if 0 in kept else -5.0


def test_attribution_beats_random_when_ranking_is_right():
    scores = [3.0, 0.1, -0.2, 0.05, 0.0, 0.3]
    res = deletion_curves(scores, only_word_zero, max_k=None, n_random=20, seed=0)
    assert res.aopc["comprehensiveness"] == pytest.approx(5.0)  # word 0 removed at every k
    assert res.aopc["comprehensiveness"] > res.aopc["random_comprehensiveness"]
    assert res.aopc["sufficiency"] == pytest.approx(0.0)  # word 0 kept at every k
    assert res.aopc["sufficiency"] < res.aopc["random_sufficiency"]
    attr = res.curve[res.curve.order == "attribution"]
    assert list(attr["k"]) == list(range(1, 7))


def test_wrong_ranking_does_not_beat_random():
    scores = [-3.0, 1.0, 0.5, 0.4, 0.3, 0.2]  # word 0 ranked last
    res = deletion_curves(scores, only_word_zero, max_k=3, n_random=20, seed=0)
    assert res.aopc["comprehensiveness"] == 0.0
    assert res.aopc["comprehensiveness"] < res.aopc["random_comprehensiveness"]
    assert res.max_k == 3


def test_order_and_aopc_helpers():
    assert list(attribution_order([0.1, 2.0, -3.0])) == [1, 0, 2]
    assert list(attribution_order([0.1, 2.0, -3.0], rank_by="abs")) == [2, 1, 0]
    assert list(attribution_order([1.0, 1.0, 2.0])) == [2, 0, 1]  # ties: earlier word first
    assert aopc([1.0, 2.0, 3.0]) == 2.0
    pre = curves_from_scores(1.0, [0.5, 0.0], [0.9, 1.0])
    assert pre["aopc_comprehensiveness"] == pytest.approx(0.75)
    assert pre["aopc_sufficiency"] == pytest.approx(0.05)


def test_seeded_and_deduplicated_calls():
    calls = []

    def counting(kept):
        calls.append(kept)
        return float(len(kept))

    a = deletion_curves([1.0, 2.0, 3.0], counting, n_random=4, seed=7)
    assert len(calls) == len(set(calls))  # each subset scored once
    b = deletion_curves([1.0, 2.0, 3.0], counting, n_random=4, seed=7)
    assert a.curve.equals(b.curve)


def test_batch_score_fn():
    seen = []

    def batch(subsets):
        seen.append(len(subsets))
        return [only_word_zero(s) for s in subsets]

    res = deletion_curves([3.0, 0.0, 0.0, 0.0], batch_score_fn=batch, n_random=3, seed=1)
    assert len(seen) == 1
    assert res.aopc["comprehensiveness"] == pytest.approx(5.0)


def test_summary_over_clauses():
    rng = np.random.default_rng(0)
    results = {}
    for c in range(12):
        importance = rng.exponential(size=8)
        noisy = importance + rng.normal(scale=0.05, size=8)
        results[f"c{c}"] = deletion_curves(noisy, lambda kept, w=importance: float(w[list(kept)].sum()),
                                           max_k=4, n_random=5, seed=c)
    table = aopc_table(results)
    assert len(table) == 12 and (table["max_k"] == 4).all()
    summary = faithfulness_summary(table, n_resamples=300).set_index("measure")
    assert summary.loc["comprehensiveness", "difference"] > 0
    assert summary.loc["comprehensiveness", "p_value"] < 0.01
    assert summary.loc["sufficiency", "difference"] < 0
    curves = mean_curves(results)
    assert set(curves["order"]) == {"attribution", "random"} and (curves["n"] == 12).all()


def test_input_errors():
    with pytest.raises(ValueError):
        deletion_curves([1.0, 2.0])
    with pytest.raises(ValueError):
        deletion_curves([], only_word_zero)
