"""The faithfulness power simulation gives known answers: power near 1 for a large effect, near alpha/2 under the null.

Unit of replication in every simulated study: the clause (one attribution-vs-chance pair per clause).
"""

from __future__ import annotations

import numpy as np
import pytest

from rulelens.statistics.faithfulness_power import (
    additive_actual_scores,
    curves_power,
    faithfulness_prompts,
    lds_power,
)


def _observed(n=12, effect=10.0, seed=0):
    rng = np.random.default_rng(seed)
    mu = rng.normal(10, 3, n)
    return mu + effect + rng.normal(0, 2, n), mu, np.full(n, 4.0)


def test_a_large_curve_effect_is_found_and_the_null_is_not():
    a, mu, sd = _observed()
    assert curves_power(a, mu, sd, n_clauses=8, n_random=4, n_sims=200, seed=1) > 0.95
    # null: the attribution order is one more random order; a two-sided test at 0.05 passes in
    # the claimed direction about 2.5% of the time
    assert curves_power(a, mu, sd, n_clauses=8, n_random=4, effect_scale=0.0, n_sims=400, seed=2) < 0.06


def test_more_orders_help_a_small_effect_and_fewer_clauses_hurt_it():
    a, mu, sd = _observed(effect=2.0)
    few = curves_power(a, mu, sd, n_clauses=8, n_random=1, n_sims=300, seed=3)
    many = curves_power(a, mu, sd, n_clauses=8, n_random=10, n_sims=300, seed=3)
    small = curves_power(a, mu, sd, n_clauses=6, n_random=10, n_sims=300, seed=3)
    assert many > few and many > small


def test_sufficiency_passes_only_downwards():
    a, mu, sd = _observed(effect=-10.0)
    assert curves_power(a, mu, sd, n_clauses=8, n_random=4, better="lower", n_sims=100) > 0.95
    assert curves_power(a, mu, sd, n_clauses=8, n_random=4, better="higher", n_sims=100) == 0.0


def test_additive_scores_reach_the_target_correlation():
    rng = np.random.default_rng(0)
    effects = rng.normal(1, 0.5, 25)
    masks = rng.random((4000, 25)) < 0.5
    actual = additive_actual_scores(effects, masks, 0.8, rng)
    assert np.corrcoef(masks @ effects, actual)[0, 1] == pytest.approx(0.8, abs=0.02)


def test_lds_power_finds_true_attributions_and_not_permuted_ones():
    rng = np.random.default_rng(4)
    vectors = [rng.normal(1, 0.6, 20) for _ in range(10)]
    assert lds_power(vectors, n_clauses=8, n_masks=16, target_lds=0.9, n_sims=40, n_permutations=50) > 0.9
    assert lds_power(vectors, n_clauses=8, n_masks=16, null=True, n_sims=80, n_permutations=50, seed=5) < 0.08


def test_prompt_count_follows_the_design():
    # per order: 3 'without' (k = 1 known) and 3 'only' subsets -> 5 model calls; plus the masks
    assert faithfulness_prompts(3, 4, 16) == 5 * 5 + 16
    assert faithfulness_prompts(3, 10, 32) == 11 * 5 + 32
