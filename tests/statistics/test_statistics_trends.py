import numpy as np
import pandas as pd
import pytest

from rulelens.statistics import category_size_trends, clause_category_shares, plateau_estimate, quality_plateaus

LADDER = np.array([1e8, 3e8, 1e9, 3e9, 7e9, 1.3e10, 3e10, 7e10])


def test_category_trend_per_strategy_and_pooled_counts_each_size_once(make_long_table):
    # the numerical-constraint word carries more mass at larger sizes, for every strategy
    weight = {"xs": 1.0, "s": 2.0, "m": 4.0}  # three sizes (the fixture's ladder): direction only
    variants = {
        (st, sz): {f"c{i}": [w, 1.0, 1.0, 1.0, 1.0] for i in range(4)}
        for st in ("fft", "lora")
        for sz, w in weight.items()
    }
    cats = {f"c{i}": ["numerical_constraint", "other", "other", "deontic", "other"] for i in range(4)}
    trends = category_size_trends(clause_category_shares(make_long_table(variants, categories=cats)), n_resamples=50)
    num = trends[trends.category == "numerical_constraint"].set_index("strategy")
    assert set(num.index) == {"fft", "lora", "all"}
    assert (num["slope"] > 0).all() and (num["n_sizes"] == 3).all()  # pooled: 3 sizes, not 6 variants
    assert num["rho_sizes"].to_numpy() == pytest.approx(1.0)
    assert not num["testable"].any() and not num["significant"].any()
    deontic = trends[trends.category == "deontic"].set_index("strategy")
    assert deontic.loc["all", "slope"] < 0


def test_hinge_finds_planted_knee():
    knee = 7e9
    x = np.log(LADDER)
    q = 0.55 + 0.08 * (np.minimum(x, np.log(knee)) - np.log(knee))
    res = plateau_estimate(LADDER, q, model="hinge", epsilon=0.01, n_resamples=100)
    assert res["fit_status"] == "plateau"
    assert res["status"] == "plateau"  # size means suffice: the size is the unit of the test
    assert res["plateau_n_params"] == knee
    assert res["knee_n_params"] == pytest.approx(knee, rel=1e-3)
    assert res["asymptote"] == pytest.approx(0.55)


def test_saturating_finds_planted_plateau():
    x = np.log(LADDER) - np.log(LADDER[0])
    q = 0.8 - 0.5 * np.exp(-1.2 * x)
    res = plateau_estimate(LADDER, q, model="saturating", epsilon=0.02)
    assert res["fit_status"] == "plateau"
    # within eps = 0.02 * range when 0.5 exp(-1.2 x) <= eps: the smallest such ladder size
    eps = 0.02 * (q.max() - q.min())
    expected = LADDER[np.flatnonzero(0.5 * np.exp(-1.2 * x) <= eps)[0]]
    assert res["plateau_n_params"] == expected == 3e9
    assert res["asymptote"] == pytest.approx(0.8, abs=1e-6)


def test_per_clause_noise_still_finds_knee():
    rng = np.random.default_rng(0)
    x = np.log(LADDER)
    mean = 0.6 + 0.1 * (np.minimum(x, np.log(3e9)) - np.log(3e9))
    n = np.repeat(LADDER, 50)
    q = np.repeat(mean, 50) + rng.normal(scale=0.02, size=n.size)
    res = plateau_estimate(n, q, model="hinge", epsilon=0.05)
    assert res["plateau_n_params"] == 3e9


def test_few_sizes_not_estimable():
    res = plateau_estimate([1e8, 1e9], [0.2, 0.4])
    assert res["status"] == "not estimable" and "3 model sizes" in res["reason"]


def test_still_rising_is_not_a_plateau():
    res = plateau_estimate(LADDER, np.log(LADDER), model="hinge")
    assert res["fit_status"] == "not reached" and res["plateau_size"] is None
    clauses = np.tile(np.arange(5), LADDER.size)
    res = plateau_estimate(
        np.repeat(LADDER, 5), np.repeat(np.log(LADDER), 5), model="hinge", clause_ids=clauses, n_resamples=50
    )
    assert res["status"] == "not reached" and res["plateau_size"] is None


def test_quality_plateaus_table():
    rows = []
    for strategy in ("fft", "lora"):
        for size, n in zip(["a", "b", "c", "d", "e"], LADDER[:5]):
            q = 0.5 + 0.1 * min(np.log(n), np.log(1e9))
            rows += [
                dict(strategy=strategy, model_size=size, n_params=n, clause_id=i, semantic_similarity=q)
                for i in range(3)
            ]
    out = quality_plateaus(pd.DataFrame(rows), models=("hinge",))
    assert list(out["strategy"]) == ["fft", "lora", "all"]
    assert (out["plateau_size"] == "c").all()
    small = quality_plateaus(pd.DataFrame(rows).query("model_size in ['a', 'b']"))
    assert (small["status"] == "not estimable").all()
