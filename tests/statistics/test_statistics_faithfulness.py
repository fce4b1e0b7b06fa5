import numpy as np
import pytest

from rulelens.statistics import (
    aopc,
    aopc_table,
    attribution_order,
    curves_from_scores,
    deletion_curves,
    faithfulness_summary,
    mean_curves,
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
        results[f"c{c}"] = deletion_curves(
            noisy, lambda kept, w=importance: float(w[list(kept)].sum()), max_k=4, n_random=5, seed=c
        )
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


def _repeated_aopcs(rng, n_clauses, n_variants, shift=0.0, clause_sd=1.0, noise_sd=0.3):
    """AOPC rows for the same clauses under every variant; clause effects on the difference are shared."""
    import pandas as pd

    clause_diff = rng.normal(scale=clause_sd, size=n_clauses)
    rows = []
    for v in range(n_variants):
        for c in range(n_clauses):
            random = {m: rng.normal() for m in ("comprehensiveness", "sufficiency")}
            rows.append(
                dict(
                    strategy=f"s{v % 3}",
                    model_size=f"m{v // 3}",
                    clause_id=f"c{c}",
                    comprehensiveness=random["comprehensiveness"] + shift + clause_diff[c] + rng.normal(scale=noise_sd),
                    random_comprehensiveness=random["comprehensiveness"],
                    sufficiency=random["sufficiency"] - shift + clause_diff[c] + rng.normal(scale=noise_sd),
                    random_sufficiency=random["sufficiency"],
                )
            )
    return pd.DataFrame(rows)


def test_pooled_faithfulness_counts_clauses():
    from rulelens.statistics import pooled_faithfulness

    table = _repeated_aopcs(np.random.default_rng(0), n_clauses=6, n_variants=9, shift=2.0, clause_sd=0.1)
    out = pooled_faithfulness(table, n_resamples=200).set_index("measure")
    assert (out["n"] == 6).all() and (out["n_variants"] == 9).all() and (out["unit"] == "clause").all()
    assert out.loc["comprehensiveness", "direction"] == 1 and out.loc["sufficiency", "direction"] == -1
    # n = 6 clauses: an exact Wilcoxon can reach 2/2^6 = 0.031 at best
    assert out.loc["comprehensiveness", "p_value"] == pytest.approx(2 / 2**6)
    per_variant = faithfulness_summary(table, n_resamples=50)
    assert set(per_variant.columns) <= set(out.reset_index().columns)


@pytest.mark.slow
def test_pooled_faithfulness_null_rate():
    from rulelens.statistics import pooled_faithfulness

    hits = 0
    for seed in range(200):
        table = _repeated_aopcs(np.random.default_rng(seed), n_clauses=15, n_variants=9)
        out = pooled_faithfulness(table, n_resamples=20, seed=seed)
        hits += int(out.loc[out["measure"] == "comprehensiveness", "p_value"].iloc[0] < 0.05)
    assert hits / 200 <= 0.08


def test_summary_has_power_columns():
    rng = np.random.default_rng(1)
    table = _repeated_aopcs(rng, n_clauses=5, n_variants=1, shift=1.0, clause_sd=0.1)
    out = faithfulness_summary(table, n_resamples=50)
    assert out["mde"].isna().all() and out["note"].str.contains("not testable at this n").all()
    assert (out["mde_name"] == "d_z").all() and np.isfinite(out["effect_d"]).all()
