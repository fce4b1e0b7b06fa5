import numpy as np
import pytest

from rulelens.statistics import agreement_matrix, pairwise_agreement, spearman_agreement, top_k_overlap


def test_identical_attributions_agree_fully():
    a = np.array([0.5, -2.0, 1.0, 3.0, 0.1])
    assert spearman_agreement(a, a) == pytest.approx(1.0)
    assert top_k_overlap(a, a, 3) == 1.0


def test_disjoint_top_k():
    a = np.array([5.0, 4.0, 3.0, 0.1, 0.2, 0.3])
    b = -a
    assert top_k_overlap(a, b, 3) == 0.0
    assert spearman_agreement(a, b) == pytest.approx(-1.0)
    assert top_k_overlap(a, b, 6) == 1.0  # k = N: every word is in both top sets


def test_undefined_cases():
    assert np.isnan(spearman_agreement([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    assert np.isnan(top_k_overlap([1.0, 1.0, 1.0], [1.0, 2.0, 3.0], 1))
    assert top_k_overlap([1.0, 2.0], [2.0, 1.0], 5) == 1.0  # k capped at N


def test_pairwise_table_and_matrix(make_long_table):
    rng = np.random.default_rng(0)
    clauses = {f"c{i}": rng.normal(size=8) for i in range(5)}
    table = make_long_table(
        {
            ("fft", "s"): clauses,
            ("lora", "s"): {c: 3 * v for c, v in clauses.items()},  # same shares
            ("qlora", "s"): {c: 1.0 / (np.abs(v) + 0.01) for c, v in clauses.items()},  # reversed magnitude order
        }
    )
    pairs = pairwise_agreement(table, k=3)
    assert len(pairs) == 3 * 5
    same = pairs[(pairs.variant_a == "fft.s") & (pairs.variant_b == "lora.s")]
    assert np.allclose(same["spearman"], 1.0) and np.allclose(same["top_k_overlap"], 1.0)
    opposite = pairs[(pairs.variant_a == "fft.s") & (pairs.variant_b == "qlora.s")]
    assert np.allclose(opposite["spearman"], -1.0) and np.allclose(opposite["top_k_overlap"], 0.0)
    m = agreement_matrix(pairs)
    assert list(m.index) == ["fft.s", "lora.s", "qlora.s"]
    assert np.allclose(np.diag(m), 1.0) and np.allclose(m, m.T)
    assert m.loc["fft.s", "lora.s"] == pytest.approx(1.0) and m.loc["qlora.s", "fft.s"] == pytest.approx(-1.0)
    assert agreement_matrix(pairs, "top_k_overlap").loc["fft.s", "qlora.s"] == 0.0


def test_signed_scores_option(make_long_table):
    v = np.array([3.0, -3.0, 1.0, 0.5])
    table = make_long_table({("fft", "s"): {"c": v}, ("lora", "s"): {"c": -v}})
    by_share = pairwise_agreement(table, k=1)
    by_score = pairwise_agreement(table, k=1, value="score")
    assert by_share["spearman"].iloc[0] == pytest.approx(1.0)
    assert by_score["spearman"].iloc[0] == pytest.approx(-1.0)


def test_missing_word_falls_back_to_shared_words(make_long_table):
    table = make_long_table({("fft", "s"): {"c": [4.0, 3.0, 2.0, 1.0]}, ("lora", "s"): {"c": [4.0, 3.0, 2.0, 1.0]}})
    table = table.drop(index=table.index[-1])
    pairs = pairwise_agreement(table, value="score")
    assert pairs["n_words"].iloc[0] == 3 and pairs["spearman"].iloc[0] == pytest.approx(1.0)
