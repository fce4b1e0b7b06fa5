import numpy as np
import pandas as pd
import pytest

from rulelens.statistics import (
    clause_focus,
    effective_words,
    entropy,
    focus_measures,
    gini,
    normalised_entropy,
    shares_from_scores,
    top_k_mass,
)


@pytest.mark.parametrize("n", [2, 5, 12])
def test_perfectly_focused(n):
    p = np.zeros(n)
    p[n // 2] = 1.0
    assert normalised_entropy(p) == 0.0
    assert gini(p) == pytest.approx((n - 1) / n)
    assert gini(p, corrected=True) == pytest.approx(1.0)
    assert top_k_mass(p, 1) == 1.0
    assert effective_words(p) == pytest.approx(1.0)


@pytest.mark.parametrize("n", [2, 5, 12])
def test_uniform(n):
    p = np.full(n, 1 / n)
    assert normalised_entropy(p) == pytest.approx(1.0)
    assert gini(p) == pytest.approx(0.0, abs=1e-12)
    assert effective_words(p) == pytest.approx(n)
    assert top_k_mass(p, 3) == pytest.approx(min(3, n) / n)


def test_known_values():
    p = np.array([0.5, 0.25, 0.25])
    h = -(0.5 * np.log(0.5) + 2 * 0.25 * np.log(0.25))
    assert entropy(p) == pytest.approx(h)
    assert normalised_entropy(p) == pytest.approx(h / np.log(3))
    # Gini as mean absolute difference / (2 mean): sum_ij |x_i - x_j| / (2 n^2 mean)
    diffs = np.abs(p[:, None] - p[None, :]).sum()
    assert gini(p) == pytest.approx(diffs / (2 * 3**2 * p.mean()))
    assert top_k_mass(p, 2) == pytest.approx(0.75)


def test_single_word_and_all_zero():
    assert focus_measures([1.0]) == {
        "n_words": 1,
        "entropy": 0.0,
        "normalised_entropy": 0.0,
        "gini": 0.0,
        "top_k_mass": 1.0,
        "effective_words": 1.0,
    }
    zero = shares_from_scores([0.0, 0.0, 0.0])
    assert np.isnan(zero).all()
    m = focus_measures(zero)
    assert m["n_words"] == 3
    assert all(np.isnan(v) for key, v in m.items() if key != "n_words")


def test_scale_and_sign_free():
    scores = np.array([2.0, -1.0, 0.5, 0.0])
    a = focus_measures(shares_from_scores(scores))
    b = focus_measures(shares_from_scores(-10 * scores))
    assert a == pytest.approx(b)


def test_clause_focus_table(make_long_table):
    table = make_long_table(
        {
            ("fft", "s"): {"c1": [5.0, 0, 0, 0], "c2": [1.0, -1.0, 1.0, -1.0]},
            ("lora", "s"): {"c1": [0.0, 0, 0, 0]},
        }
    )
    out = clause_focus(table, k=1)
    assert len(out) == 3
    assert {
        "strategy",
        "model_size",
        "n_params",
        "clause_id",
        "normalised_entropy",
        "gini",
        "top_k_mass",
        "effective_words",
        "n_words",
    } <= set(out.columns)
    row = out.set_index(["strategy", "clause_id"])
    assert row.loc[("fft", "c1"), "normalised_entropy"] == 0.0
    assert row.loc[("fft", "c1"), "top_k_mass"] == 1.0
    assert row.loc[("fft", "c2"), "normalised_entropy"] == pytest.approx(1.0)
    assert row.loc[("fft", "c2"), "effective_words"] == pytest.approx(4.0)
    assert np.isnan(row.loc[("lora", "c1"), "gini"])


def test_clause_focus_from_share_column_only(make_long_table):
    table = make_long_table({("fft", "s"): {"c1": [3.0, 1.0]}}).drop(columns="score")
    out = clause_focus(table)
    assert out.loc[0, "top_k_mass"] == pytest.approx(1.0)
    assert out.loc[0, "gini"] == pytest.approx(0.25)  # (2*2-3)*0.75/2 + (2*1-3)*0.25/2


def test_missing_columns_are_named():
    with pytest.raises(KeyError, match="clause_id"):
        clause_focus(pd.DataFrame({"score": [1.0]}))


def test_focus_summary_per_variant(make_long_table):
    from rulelens.statistics import focus_summary

    table = make_long_table(
        {
            ("fft", "s"): {f"c{i}": [5.0, 0, 0, 0] for i in range(5)},
            ("lora", "s"): {f"c{i}": [1.0, 1.0, 1.0, 1.0] for i in range(5)},
        }
    )
    out = focus_summary(clause_focus(table), n_resamples=100).set_index(["strategy", "metric"])
    assert out.loc[("fft", "normalised_entropy"), "mean"] == 0.0
    assert out.loc[("lora", "normalised_entropy"), "mean"] == pytest.approx(1.0)
    assert out.loc[("lora", "effective_words"), ["ci_low", "ci_high"]].tolist() == pytest.approx([4.0, 4.0])
    assert (out["n"] == 5).all()
