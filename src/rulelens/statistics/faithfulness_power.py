"""How many clauses, random orders and LDS masks do the faithfulness verdicts need? (docs/statistics.md)

Both faithfulness verdicts test over clauses (the unit of replication): per clause one number for
the attribution and one for its chance level, then a paired test over clauses. Per-clause draws
(random word orders for the deletion curves, ablation masks for the LDS) only make each clause's
numbers less noisy; clauses add replicates. Every draw costs one model call of about the same size
(the target rule dominates it), so for a fixed budget the question is how to split it between
clauses and draws. These seeded simulations answer it for the project's own tests:

- :func:`curves_power`: per clause the attribution order's AOPC and the mean AOPC of ``n_random``
  random orders (drawn around the clause's observed random mean with its observed spread across
  orders); clauses are resampled from a run's observed clauses, their attribution-minus-random
  difference scaled by ``effect_scale`` (0 = the null: the attribution order is one more random
  order). Test: the verdict's two-sided Wilcoxon signed-rank test, passed when p < alpha in the
  claimed direction.
- :func:`lds_power`: per clause an additive model built on a run's real attribution vector a
  (actual score of a mask = kept words' sum of a + noise, the noise scaled so that the LDS of a is
  ``target_lds`` on average), ``n_masks`` masks, and the LDS of the given attribution (a itself, or
  under the null a permutation of it: same values, wrong words) against its permutation baseline,
  tested with the verdict's own :func:`rulelens.statistics.lds.lds_verdict_test`.

The cost model is in :func:`faithfulness_prompts`. Pure numpy / scipy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rulelens.statistics.comparisons import wilcoxon_signed_rank


def faithfulness_prompts(max_k: int, n_random: int, n_masks: int) -> float:
    """Model calls per clause: curve subsets and masks, less those the attribution already holds.

    Per order, K 'without top-k' and K 'only top-k' subsets; k = 1 without is a single-word
    deletion (known from the attribution). Duplicates (the same single word kept by two orders) are
    ignored here, so this is an upper bound. The count does not depend on the clause's length (each
    call's size does, for all calls alike).
    """
    return (n_random + 1) * (2 * max_k - 1) + n_masks


def _passes(a, b, better: str, alpha: float) -> bool:
    """The verdict's rule: two-sided Wilcoxon p < alpha and the mean difference in the claimed direction."""
    test = wilcoxon_signed_rank(a, b)
    diff = float(np.nanmean(np.asarray(a) - np.asarray(b)))
    right_way = diff > 0 if better == "higher" else diff < 0
    return bool(np.isfinite(test["p_value"]) and test["p_value"] < alpha and right_way)


def curves_power(
    attribution_aopc: Sequence[float],
    random_mean: Sequence[float],
    random_sd: Sequence[float],
    *,
    n_clauses: int,
    n_random: int,
    better: str = "higher",
    effect_scale: float = 1.0,
    n_sims: int = 400,
    alpha: float = 0.05,
    seed: int | None = 0,
) -> float:
    """Share of seeded simulated studies whose curves verdict passes (power; under the null, the false-pass rate).

    ``attribution_aopc``, ``random_mean``, ``random_sd``: per observed clause, the attribution
    order's AOPC, the mean and the standard deviation of the random orders' AOPC. Each simulated
    study resamples ``n_clauses`` clauses, draws ``n_random`` random-order AOPCs per clause around
    its mean with its spread, and sets the attribution AOPC at ``mean + effect_scale x observed
    difference`` (``effect_scale=0``: the attribution is one more random order, the null).
    """
    a = np.asarray(attribution_aopc, dtype=float)
    mu = np.asarray(random_mean, dtype=float)
    sd = np.asarray(random_sd, dtype=float)
    keep = np.isfinite(a) & np.isfinite(mu) & np.isfinite(sd)
    a, mu, sd = a[keep], mu[keep], sd[keep]
    if a.size == 0:
        return np.nan
    rng = np.random.default_rng(seed)
    passed = 0
    for _ in range(n_sims):
        pick = rng.integers(0, a.size, n_clauses)
        baseline = mu[pick] + sd[pick] * rng.standard_normal((n_random, n_clauses)).mean(axis=0)
        if effect_scale == 0:
            attribution = mu[pick] + sd[pick] * rng.standard_normal(n_clauses)
        else:
            attribution = mu[pick] + effect_scale * (a[pick] - mu[pick])
        passed += _passes(attribution, baseline, better, alpha)
    return passed / n_sims


def additive_actual_scores(effects: np.ndarray, masks: np.ndarray, target_lds: float, rng) -> np.ndarray:
    """Mask scores of an additive model with noise: ``masks @ effects + e``.

    The noise's sd is ``c x sd(masks @ effects)`` with ``c = sqrt(1 / target_lds^2 - 1)``, so that the
    (Pearson, approximately Spearman) correlation of the true attribution's prediction with the
    scores is ``target_lds``.
    """
    predicted = masks.astype(float) @ effects
    spread = float(np.std(predicted)) or 1.0
    c = np.sqrt(max(1.0 / target_lds**2 - 1.0, 0.0))
    return predicted + c * spread * rng.standard_normal(predicted.size)


def lds_power(
    effect_vectors: Sequence[Sequence[float]],
    *,
    n_clauses: int,
    n_masks: int,
    target_lds: float = 0.9,
    null: bool = False,
    keep_prob: float = 0.5,
    n_permutations: int = 100,
    n_sims: int = 200,
    alpha: float = 0.05,
    seed: int | None = 0,
) -> float:
    """Share of seeded simulated studies whose LDS verdict passes (``null=True``: the false-pass rate).

    ``effect_vectors``: real attribution vectors (one per observed clause), resampled as the
    clauses' true additive effects. The attribution given to the LDS is the true vector, or under
    the null a random permutation of it (same values, wrong words).
    """
    from rulelens.statistics.lds import (
        ablation_masks,
        lds_verdict_test,
        linear_datamodeling_score,
        permuted_attribution_lds,
    )

    vectors = [np.asarray(v, dtype=float) for v in effect_vectors if len(v) >= 3]
    if not vectors:
        return np.nan
    rng = np.random.default_rng(seed)
    passed = 0
    for _ in range(n_sims):
        lds, baseline = [], []
        for index in rng.integers(0, len(vectors), n_clauses):
            effects = vectors[index]
            masks = ablation_masks(effects.size, n_masks=n_masks, keep_prob=keep_prob, seed=int(rng.integers(2**62)))
            actual = additive_actual_scores(effects, masks, target_lds, rng)
            given = rng.permutation(effects) if null else effects
            lds.append(linear_datamodeling_score(given, masks, actual))
            baseline.append(
                permuted_attribution_lds(
                    given, masks, actual, n_permutations=n_permutations, seed=int(rng.integers(2**62))
                )
            )
        passed += bool(lds_verdict_test(np.array(lds), np.array(baseline), alpha=alpha)["passed"])
    return passed / n_sims
