import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rulelens.statistics import (
    RESULT_COLUMNS,
    compare_strategies,
    epsilon_squared,
    friedman,
    holm_adjust,
    kendalls_w,
    kruskal_wallis,
    mann_whitney,
    rank_biserial_paired,
    rank_biserial_unpaired,
    wilcoxon_signed_rank,
)


def per_clause(values_by_strategy: dict, size="s", ids=None) -> pd.DataFrame:
    rows = []
    for strategy, values in values_by_strategy.items():
        clause_ids = ids[strategy] if ids else [f"c{i}" for i in range(len(values))]
        for cid, v in zip(clause_ids, values):
            rows.append(dict(strategy=strategy, model_size=size, n_params=360_000_000, clause_id=cid, gini=v))
    return pd.DataFrame(rows)


def test_holm_hand_computed():
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> running max 0.06
    p = [0.01, 0.04, 0.03, 0.005]
    np.testing.assert_allclose(holm_adjust(p), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm_adjust([0.5, 0.9]), [1.0, 1.0])
    out = holm_adjust([0.02, np.nan, 0.01])
    np.testing.assert_allclose(out, [0.02, np.nan, 0.02])  # m = 2 finite p-values
    assert holm_adjust([]).size == 0


def test_holm_never_below_raw():
    p = np.random.default_rng(0).uniform(size=20)
    assert np.all(holm_adjust(p) >= p)


def test_kendalls_w_perfect_agreement():
    rng = np.random.default_rng(0)
    matrix = np.sort(rng.normal(size=(15, 4)), axis=1)  # every clause ranks the groups the same way
    res = friedman(matrix)
    assert res["effect_size"] == pytest.approx(1.0)
    assert res["effect_size_name"] == "kendalls_w"
    assert res["p_value"] < 1e-6
    assert kendalls_w(res["statistic"], 15, 4) == pytest.approx(1.0)


def test_friedman_degenerate():
    res = friedman(np.ones((10, 3)))
    assert (res["statistic"], res["p_value"], res["effect_size"]) == (0.0, 1.0, 0.0)
    assert res["note"]
    assert np.isnan(friedman(np.ones((10, 2)))["p_value"])  # needs >= 3 groups


def test_rank_biserial():
    a = np.arange(1.0, 11.0)
    assert rank_biserial_paired(a + 1, a) == 1.0
    assert rank_biserial_paired(a, a + 1) == -1.0
    assert rank_biserial_paired(a, a) == 0.0
    # Kerby's example shape: differences +1, +2, -3 -> ranks 1, 2, 3 -> (3 - 3) / 6 = 0
    assert rank_biserial_paired([1, 2, 0], [0, 0, 3]) == pytest.approx(0.0)
    assert rank_biserial_unpaired([5, 6, 7], [1, 2, 3]) == 1.0
    assert rank_biserial_unpaired([1, 2], [1, 2]) == 0.0


def test_wilcoxon_all_zero_differences():
    res = wilcoxon_signed_rank([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert (res["p_value"], res["effect_size"], res["statistic"]) == (1.0, 0.0, 0.0)


def test_identical_strategies_not_different():
    base = np.random.default_rng(1).uniform(size=30)
    out = compare_strategies(per_clause({"fft": base, "lora": base, "qlora": base}), ["gini"], n_resamples=200)
    assert list(out.columns) == RESULT_COLUMNS
    assert (out["p_value"] >= 0.05).all()
    assert np.allclose(out["effect_size"], 0.0)
    assert out.loc[out.group_a != "", "mean_difference"].abs().max() == 0.0


def test_planted_difference_detected():
    rng = np.random.default_rng(2)
    a = rng.normal(size=30)
    b = a + 1.0 + rng.normal(scale=0.1, size=30)  # clear shift on every clause
    c = a + rng.normal(scale=0.1, size=30)
    out = compare_strategies(per_clause({"fft": a, "lora": b, "qlora": c}), ["gini"], n_resamples=500)
    omnibus = out[out.test == "friedman"].iloc[0]
    assert omnibus["p_value"] < 0.01 and omnibus["n"] == 30
    pair = out[(out.group_a == "fft") & (out.group_b == "lora")].iloc[0]
    assert pair["test"] == "wilcoxon"
    assert pair["p_value"] < 0.01
    assert pair["p_adjusted"] >= pair["p_value"]
    assert pair["effect_size"] == pytest.approx(-1.0)  # fft below lora on every clause
    assert pair["ci_low"] < -0.9 and pair["ci_high"] > -1.1 and pair["ci_high"] < 0
    pairs = out[out.test == "wilcoxon"]
    assert (pairs["p_adjusted"] >= pairs["p_value"]).all()
    assert pairs["p_adjusted"].to_numpy() == pytest.approx(holm_adjust(pairs["p_value"].to_numpy()))


def test_unpaired_uses_kruskal_wallis():
    rng = np.random.default_rng(3)
    values = {"fft": rng.normal(size=25) + 2.0, "lora": rng.normal(size=20), "qlora": rng.normal(size=22)}
    ids = {s: [f"{s}-{i}" for i in range(len(v))] for s, v in values.items()}  # different clauses
    out = compare_strategies(per_clause(values, ids=ids), ["gini"], n_resamples=200)
    omnibus = out.iloc[0]
    assert omnibus["test"] == "kruskal_wallis" and omnibus["n"] == 67
    assert omnibus["p_value"] < 0.01
    assert 0 < omnibus["effect_size"] <= 1 and omnibus["effect_size_name"] == "epsilon_squared"
    h = stats.kruskal(*values.values()).statistic
    assert omnibus["effect_size"] == pytest.approx(epsilon_squared(h, 67))
    pair = out[(out.group_a == "fft") & (out.group_b == "lora")].iloc[0]
    assert pair["test"] == "mann_whitney" and pair["effect_size"] > 0.5


def test_unpaired_degenerate():
    assert kruskal_wallis([[1.0, 1.0], [1.0]])["p_value"] == 1.0
    assert mann_whitney([2.0, 2.0], [2.0])["effect_size"] == 0.0


def test_two_strategies_and_nan_handling():
    base = np.arange(10, dtype=float)
    shifted = base + 1
    shifted[0] = np.nan  # an all-zero attribution clause: drops out of the pairs
    out = compare_strategies(per_clause({"fft": shifted, "lora": base}), ["gini"], n_resamples=100)
    assert "3 groups" in out.iloc[0]["note"]
    pair = out.iloc[1]
    assert pair["n"] == 9 and pair["effect_size"] == 1.0 and pair["p_adjusted"] == pair["p_value"]


def test_per_size_and_by_columns():
    rng = np.random.default_rng(4)
    frames = []
    for size in ("xs", "m"):
        for category in ("deontic", "other"):
            t = per_clause({s: rng.uniform(size=12) for s in ("fft", "lora", "qlora")}, size=size)
            frames.append(t.assign(category=category))
    out = compare_strategies(pd.concat(frames), ["gini"], by=["category"], n_resamples=100)
    assert len(out) == 2 * 2 * 4
    assert set(out["size"]) == {"xs", "m"} and "category" in out.columns


def test_duplicates_rejected():
    t = per_clause({"fft": [1.0, 2.0], "lora": [1.0, 3.0], "qlora": [0.0, 1.0]})
    with pytest.raises(ValueError, match="duplicate"):
        compare_strategies(pd.concat([t, t]), ["gini"])


def test_direction_follows_the_rank_statistic_not_the_mean():
    # fft is below lora on 9 of 10 clauses, but one huge outlier makes the mean difference positive
    lora = np.linspace(0.4, 0.6, 10)
    fft = lora - 0.05
    fft[0] = lora[0] + 100.0
    out = compare_strategies(per_clause({"fft": fft, "lora": lora}), ["gini"], n_resamples=100)
    pair = out[out["group_a"] == "fft"].iloc[0]
    assert pair["mean_difference"] > 0 and pair["effect_size"] < 0
    assert pair["direction"] == -1
    assert pair["mde_name"] == "d_z" and np.isfinite(pair["mde"]) and np.isfinite(pair["effect_d"])
    omnibus = out[out["group_a"] == ""].iloc[0]
    assert np.isnan(omnibus["direction"]) and np.isnan(omnibus["mde"])


def test_pair_mde_uses_the_holm_family():
    rng = np.random.default_rng(3)
    values = {s: rng.normal(size=12) for s in ("fft", "lora", "qlora")}
    out = compare_strategies(per_clause(values), ["gini"], n_resamples=50)
    from rulelens.statistics import minimum_detectable_effect

    expected = minimum_detectable_effect(12, test="wilcoxon_paired", n_comparisons=3)["mde"]
    assert out.loc[out["group_a"] != "", "mde"].to_numpy() == pytest.approx([expected] * 3)


def test_holm_equals_statsmodels_on_random_families(monkeypatch):
    """The hand-written Holm is statsmodels' multipletests(method="holm") (NaNs left out of the family)."""
    import gc

    from statsmodels.stats.multitest import multipletests

    # statsmodels' Holm branch calls gc.collect() on every call (up to 0.4 s in a busy test worker);
    # the values do not depend on it
    monkeypatch.setattr(gc, "collect", lambda *args: 0)
    rng = np.random.default_rng(4)
    for _ in range(300):
        p = rng.uniform(size=int(rng.integers(1, 12))) ** 3
        if rng.uniform() < 0.3:
            p[rng.integers(0, p.size, size=2)] = p[0]  # ties
        p[rng.uniform(size=p.size) < 0.15] = np.nan
        finite = np.isfinite(p)
        expected = np.full(p.shape, np.nan)
        if finite.any():
            expected[finite] = multipletests(p[finite], method="holm")[1]
        np.testing.assert_allclose(holm_adjust(p), expected, rtol=0, atol=1e-12)
