"""Do the attributions mean something? Deletion curves against a random order (docs/statistics.md).

For a clause with N words, a model score s (e.g. log p(rule | clause), nats) and an order of the
words (most important first), with T_k the first k words of the order (ERASER, DeYoung et al. 2020):

- comprehensiveness(k) = s(x) - s(x without T_k): how much the score drops when the top-k words
  are deleted. Higher = the attribution found words the model needs.
- sufficiency(k)       = s(x) - s(only T_k):     how much is lost keeping only the top-k words.
  Lower = the top-k words alone nearly suffice.

AOPC (area over the perturbation curve, Samek et al. 2017) summarises a curve as its mean over
k = 1..K. (Samek et al. average over k = 0..K with a zero term at k = 0, i.e. multiply by
K / (K + 1); the ranking of orders is the same.) The same curves for random word orders (seeded,
averaged over R orders) are the baseline: an attribution is informative when its
comprehensiveness AOPC is above random and its sufficiency AOPC below.

The model enters only through ``score_fn(kept_word_positions) -> float``: positions index the
clause's words (0..N-1, the order of ``scores``), the tuple is sorted and may be empty. The
attribution pipeline wraps its scorer (prompt built from the kept words, teacher-forced target)
in such a function; ``batch_score_fn`` (list of tuples -> list of floats) lets it batch instead.
Every distinct subset is scored once.

Unit of replication: the clause. Within one variant, ``faithfulness_summary`` pairs attribution
and random AOPC by clause. Across variants, the same clauses recur in every variant, so
``pooled_faithfulness`` first averages each clause over the variants and tests over distinct
clauses: counting variant x clause rows as independent would shrink p by sqrt(variants).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rulelens.statistics._frames import require
from rulelens.statistics.bootstrap import bootstrap_mean_ci, bootstrap_paired_difference_ci
from rulelens.statistics.comparisons import effect_direction, wilcoxon_signed_rank
from rulelens.statistics.power import minimum_detectable_effect, standardized_effect

ScoreFn = Callable[[tuple[int, ...]], float]
BatchScoreFn = Callable[[list[tuple[int, ...]]], Sequence[float]]
DEFAULT_MAX_K = 10
AOPC_KEYS = ("comprehensiveness", "sufficiency", "random_comprehensiveness", "random_sufficiency")


@dataclass(frozen=True, eq=False)
class DeletionCurves:
    """One clause's deletion curves and AOPC numbers.

    ``curve`` has columns k, order ("attribution" | "random"), comprehensiveness, sufficiency
    (random rows are means over the R orders, with their standard deviations in *_std).
    ``aopc`` maps AOPC_KEYS to floats.
    """

    curve: pd.DataFrame
    aopc: dict
    full_score: float
    n_words: int
    max_k: int
    n_random: int


def attribution_order(scores, rank_by: str = "score") -> np.ndarray:
    """Word positions from most to least important; ties keep the earlier position first.

    ``rank_by="score"``: largest signed a_i first (words that support the target most; deleting
    them should lower s). ``"abs"``: largest |a_i| first (matches the shares used for focus).
    """
    a = np.asarray(scores, dtype=float)
    if rank_by == "abs":
        a = np.abs(a)
    elif rank_by != "score":
        raise ValueError(f"rank_by must be 'score' or 'abs', got {rank_by!r}")
    a = np.where(np.isfinite(a), a, -np.inf)
    return np.lexsort((np.arange(a.size), -a))


def aopc(drops) -> float:
    """Mean of a curve's values over k = 1..K (NaN for an empty curve)."""
    d = np.asarray(drops, dtype=float)
    return float(d.mean()) if d.size else np.nan


def _subsets(order: np.ndarray, n_words: int, max_k: int) -> tuple[list, list]:
    """Kept-word tuples for 'without top-k' and 'only top-k', k = 1..max_k."""
    everything = set(range(n_words))
    without, only = [], []
    for k in range(1, max_k + 1):
        top = set(int(i) for i in order[:k])
        without.append(tuple(sorted(everything - top)))
        only.append(tuple(sorted(top)))
    return without, only


def _evaluate(subsets: list[tuple[int, ...]], score_fn: ScoreFn | None, batch_score_fn: BatchScoreFn | None) -> dict:
    """Score each distinct subset once."""
    unique = list(dict.fromkeys(subsets))
    if batch_score_fn is not None:
        values = list(batch_score_fn(unique))
        if len(values) != len(unique):
            raise ValueError(f"batch_score_fn returned {len(values)} scores for {len(unique)} subsets")
    else:
        values = [score_fn(s) for s in unique]
    return {s: float(v) for s, v in zip(unique, values)}


@dataclass(frozen=True, eq=False)
class CurvePlan:
    """Which word subsets one clause's deletion curves need, before anything is scored.

    Separating the plan from the scoring lets a caller score the curves' subsets together with
    other subsets of the same clause (the LDS masks) in one batched model call, and skip subsets
    whose score it already knows (the full clause, single-word deletions).
    """

    n_words: int
    max_k: int
    n_random: int
    orders: tuple[tuple[str, np.ndarray], ...]  # ("attribution" | "random", word positions)
    without: tuple[tuple[tuple[int, ...], ...], ...]  # per order: kept words after removing the top k
    only: tuple[tuple[tuple[int, ...], ...], ...]  # per order: only the top k kept

    @property
    def full(self) -> tuple[int, ...]:
        return tuple(range(self.n_words))

    def subsets(self) -> list[tuple[int, ...]]:
        """Every distinct kept-word tuple the curves need, the full clause first."""
        needed = [self.full] + [s for without, only in zip(self.without, self.only) for s in (*without, *only)]
        return list(dict.fromkeys(needed))


def plan_deletion_curves(
    scores, max_k: int | None = DEFAULT_MAX_K, n_random: int = 10, seed: int | None = 0, rank_by: str = "score"
) -> CurvePlan:
    """The attribution order and ``n_random`` seeded random orders, with their kept-word subsets."""
    if n_random < 0:
        raise ValueError(f"n_random must be >= 0, got {n_random}")
    a = np.asarray(scores, dtype=float).ravel()
    n = a.size
    if n == 0:
        raise ValueError("a clause with no words has no deletion curve")
    k_max = n if max_k is None else max(1, min(int(max_k), n))
    rng = np.random.default_rng(seed)
    orders = [("attribution", attribution_order(a, rank_by))]
    orders += [("random", rng.permutation(n)) for _ in range(n_random)]
    planned = [_subsets(order, n, k_max) for _, order in orders]
    return CurvePlan(
        n_words=n,
        max_k=k_max,
        n_random=n_random,
        orders=tuple(orders),
        without=tuple(tuple(w) for w, _ in planned),
        only=tuple(tuple(o) for _, o in planned),
    )


def curves_from_values(plan: CurvePlan, values: Mapping[tuple[int, ...], float]) -> DeletionCurves:
    """The curves and AOPC numbers of ``plan`` from the scores of its subsets (kept tuple -> s)."""
    full = float(values[plan.full])
    ks = np.arange(1, plan.max_k + 1)
    comp: dict[str, list] = {"attribution": [], "random": []}
    suff: dict[str, list] = {"attribution": [], "random": []}
    for (name, _), without, only in zip(plan.orders, plan.without, plan.only):
        comp[name].append([full - values[s] for s in without])
        suff[name].append([full - values[s] for s in only])
    rows = [
        pd.DataFrame(
            {
                "k": ks,
                "order": "attribution",
                "comprehensiveness": comp["attribution"][0],
                "sufficiency": suff["attribution"][0],
                "comprehensiveness_std": 0.0,
                "sufficiency_std": 0.0,
            }
        )
    ]
    n_random = plan.n_random
    if n_random:
        rc, rs = np.array(comp["random"]), np.array(suff["random"])
        rows.append(
            pd.DataFrame(
                {
                    "k": ks,
                    "order": "random",
                    "comprehensiveness": rc.mean(axis=0),
                    "sufficiency": rs.mean(axis=0),
                    "comprehensiveness_std": rc.std(axis=0),
                    "sufficiency_std": rs.std(axis=0),
                }
            )
        )
    curve = pd.concat(rows, ignore_index=True)
    summary = {
        "comprehensiveness": aopc(comp["attribution"][0]),
        "sufficiency": aopc(suff["attribution"][0]),
        "random_comprehensiveness": aopc(np.mean(comp["random"], axis=0)) if n_random else np.nan,
        "random_sufficiency": aopc(np.mean(suff["random"], axis=0)) if n_random else np.nan,
    }
    return DeletionCurves(curve, summary, full, plan.n_words, plan.max_k, n_random)


def deletion_curves(
    scores,
    score_fn: ScoreFn | None = None,
    max_k: int | None = DEFAULT_MAX_K,
    n_random: int = 10,
    seed: int | None = 0,
    rank_by: str = "score",
    batch_score_fn: BatchScoreFn | None = None,
) -> DeletionCurves:
    """Comprehensiveness and sufficiency curves for k = 1..K, attribution order vs random orders.

    ``scores``: the clause's a_i in word order. K = min(max_k, N) (``max_k=None``: K = N).
    Cost: 1 + 2K (attribution) + 2K R (random) model calls at most, fewer after de-duplication.
    """
    if score_fn is None and batch_score_fn is None:
        raise ValueError("pass score_fn or batch_score_fn")
    plan = plan_deletion_curves(scores, max_k=max_k, n_random=n_random, seed=seed, rank_by=rank_by)
    return curves_from_values(plan, _evaluate(plan.subsets(), score_fn, batch_score_fn))


def curves_from_scores(full_score: float, without_top_k, only_top_k) -> dict:
    """AOPC from precomputed scores: ``without_top_k[k-1] = s(x without T_k)``, ``only_top_k[k-1] = s(only T_k)``.

    For callers that scored the perturbed clauses themselves (e.g. in one big batch). Returns
    ``{"k", "comprehensiveness", "sufficiency", "aopc_comprehensiveness", "aopc_sufficiency"}``.
    """
    w = np.asarray(without_top_k, dtype=float)
    o = np.asarray(only_top_k, dtype=float)
    comp, suff = full_score - w, full_score - o
    return {
        "k": np.arange(1, max(w.size, o.size) + 1),
        "comprehensiveness": comp,
        "sufficiency": suff,
        "aopc_comprehensiveness": aopc(comp),
        "aopc_sufficiency": aopc(suff),
    }


def aopc_table(results: Mapping) -> pd.DataFrame:
    """One row per clause: clause_id, n_words, max_k and the four AOPC numbers."""
    rows = [{"clause_id": cid, "n_words": r.n_words, "max_k": r.max_k, **r.aopc} for cid, r in results.items()]
    return pd.DataFrame(rows, columns=["clause_id", "n_words", "max_k", *AOPC_KEYS])


def mean_curves(results: Mapping) -> pd.DataFrame:
    """Mean curves over clauses per (order, k); ``n`` = clauses long enough to reach that k."""
    if not results:
        return pd.DataFrame(columns=["order", "k", "n", "comprehensiveness", "sufficiency"])
    frame = pd.concat([r.curve.assign(clause_id=cid) for cid, r in results.items()], ignore_index=True)
    return (
        frame.groupby(["order", "k"], sort=True)
        .agg(
            n=("clause_id", "nunique"),
            comprehensiveness=("comprehensiveness", "mean"),
            sufficiency=("sufficiency", "mean"),
        )
        .reset_index()
    )


def _measure_row(measure: str, better: str, a, r, n_resamples: int, confidence: float, seed) -> dict:
    """One measure's attribution-vs-random comparison over paired values (one pair per clause)."""
    a = np.asarray(a, dtype=float)
    r = np.asarray(r, dtype=float)
    mean, low, high = bootstrap_mean_ci(a, n_resamples, confidence, seed)
    diff, dlow, dhigh = bootstrap_paired_difference_ci(a, r, n_resamples, confidence, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        random_mean = float(np.nanmean(r)) if np.isfinite(r).any() else np.nan
    test = wilcoxon_signed_rank(a, r)
    mde = minimum_detectable_effect(test["n"], test="wilcoxon_paired")
    note = test["note"] if np.isfinite(mde["mde"]) else "; ".join(filter(None, [test["note"], mde["note"]]))
    return dict(
        measure=measure,
        better=better,
        n=test["n"],
        aopc_attribution=mean,
        ci_low=low,
        ci_high=high,
        aopc_random=random_mean,
        difference=diff,
        difference_ci_low=dlow,
        difference_ci_high=dhigh,
        test=test["test"],
        statistic=test["statistic"],
        p_value=test["p_value"],
        effect_size=test["effect_size"],
        effect_size_name=test["effect_size_name"],
        direction=effect_direction(test["effect_size"]),
        effect_d=standardized_effect(a, r, paired=True),
        mde=mde["mde"],
        mde_name=mde["mde_name"],
        note=note,
    )


MEASURES = (("comprehensiveness", "higher"), ("sufficiency", "lower"))


def faithfulness_summary(
    aopcs: pd.DataFrame, n_resamples: int = 2000, confidence: float = 0.95, seed: int | None = 0
) -> pd.DataFrame:
    """Attribution vs random AOPC over clauses, paired by clause (for ONE variant: rows must be distinct clauses).

    One row per measure (comprehensiveness, sufficiency): n, mean attribution AOPC with CI, mean
    random AOPC, the paired difference attribution - random with a bootstrap CI, and a Wilcoxon
    signed-rank test with rank-biserial effect, its sign (``direction``), the observed d_z
    (``effect_d``) and the d_z the test detects with 80% power (``mde``). ``better`` says in which
    direction the attribution should win (comprehensiveness: higher; sufficiency: lower). Across
    variants use :func:`pooled_faithfulness`, whose unit is the clause.
    """
    rows = []
    for i, (measure, better) in enumerate(MEASURES):
        sub = None if seed is None else [seed, i]
        rows.append(
            _measure_row(measure, better, aopcs[measure], aopcs[f"random_{measure}"], n_resamples, confidence, sub)
        )
    return pd.DataFrame(rows)


def pooled_faithfulness(
    aopcs: pd.DataFrame,
    clause_col: str = "clause_id",
    variant_cols: Sequence[str] = ("strategy", "model_size", "target_mode", "operator"),
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Attribution vs random AOPC across variants with the clause as the unit of replication.

    The same clauses are attributed by every variant, so variant x clause rows are not
    independent: a clause on which deletion hurts a lot does so under every variant. Per clause,
    the attribution and random AOPC are averaged over the variants that attributed it (rows where
    both are finite); the Wilcoxon test, rank-biserial effect and bootstrap CI then run over those
    clause means (n = distinct clauses). Columns: those of :func:`faithfulness_summary` plus
    ``unit`` ("clause") and ``n_variants``.
    """
    require(
        aopcs, [clause_col, *[m for m, _ in MEASURES], *[f"random_{m}" for m, _ in MEASURES]], "pooled_faithfulness"
    )
    variant_cols = [c for c in variant_cols if c in aopcs.columns]
    rows = []
    for i, (measure, better) in enumerate(MEASURES):
        pairs = aopcs[[clause_col, *variant_cols, measure, f"random_{measure}"]]
        pairs = pairs[
            np.isfinite(pairs[measure].to_numpy(dtype=float))
            & np.isfinite(pairs[f"random_{measure}"].to_numpy(dtype=float))
        ]
        per_clause = pairs.groupby(clause_col, sort=True)[[measure, f"random_{measure}"]].mean()
        n_variants = int(len(pairs[variant_cols].drop_duplicates())) if variant_cols else int(len(pairs) > 0)
        sub = None if seed is None else [seed, i]
        row = _measure_row(
            measure, better, per_clause[measure], per_clause[f"random_{measure}"], n_resamples, confidence, sub
        )
        rows.append({**row, "unit": "clause", "n_variants": n_variants})
    return pd.DataFrame(rows)
