"""Deletion curves for an attributed clause, scored by the engine (docs/statistics.md).

:func:`rulelens.statistics.faithfulness.deletion_curves` only needs a function from kept word
positions to a score. This module builds that function from the same pieces the attribution
used: the clause's word template, the perturbation operator (a removed word is deleted or
masked exactly as in the attribution), the prompt style and the very target ids that were
scored. So ``comprehensiveness(1)`` of the attribution order equals the largest a_i, and the
score with every word kept equals the attribution's s(x).

:func:`clause_faithfulness` scores a clause's deletion-curve subsets and its LDS masks
(:mod:`rulelens.statistics.lds`, a faithfulness measure that is not true by construction) in
ONE batched, prefix-reusing engine call, after removing duplicates and the subsets whose score
the attribution already holds: the full clause (s(x)) and every single-word deletion
(s(x) - a_i), which is every curve's k = 1 comprehensiveness point (docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rulelens.attribution.plan import plan_clause, reduce_scores
from rulelens.attribution.result import ClauseAttribution
from rulelens.prompts import PromptStyle, check_clause_text, encode_prompt
from rulelens.statistics.faithfulness import BatchScoreFn, DeletionCurves, curves_from_values, plan_deletion_curves
from rulelens.words.perturb import baseline_values


def subset_scorer(
    model: Any,
    tokenizer: Any,
    attribution: ClauseAttribution,
    *,
    style: PromptStyle = PromptStyle(),
    mask_text: str | None = None,
    **engine_options: Any,
) -> BatchScoreFn:
    """``kept word tuples -> scores``: each subset scored in one batched engine call.

    Removed words are deleted (whitespace as in :mod:`rulelens.words.perturb`) or replaced by
    ``mask_text`` (default ``"___"``), following the attribution's operator. Each call scores the
    unperturbed prompt first (prompt 0, whose KV cache the subsets reuse) and returns the subsets'
    scores; ``.with_full(subsets)`` returns ``(s(x), scores, engine stats)``.
    """
    from rulelens.attribution.engine import score_prompts

    plan = plan_clause(tokenizer, attribution.clause, style=style, operator=attribution.operator, mask_text=mask_text)
    if plan.template.words != attribution.words:
        raise ValueError(f"clause {attribution.clause_id!r}: the word split differs from the attribution's")
    originals = [f.text for f in plan.template.features]
    baselines = baseline_values(plan.template, plan.operator, plan.mask_text)
    full_prompt = list(plan.prompt_ids[0])

    def prompt_of(kept: tuple[int, ...]) -> list[int]:
        keep = set(kept)
        clause = plan.template.render([o if i in keep else b for i, (o, b) in enumerate(zip(originals, baselines))])
        check_clause_text(tokenizer, clause, plan.parts)
        return encode_prompt(tokenizer, plan.parts.with_clause(clause))

    def score_subsets(subsets: Sequence[tuple[int, ...]]) -> list[float]:
        return score_with_full(subsets)[1]

    def score_with_full(subsets: Sequence[tuple[int, ...]]) -> tuple[float, list[float], dict]:
        prompts = [full_prompt] + [prompt_of(tuple(s)) for s in subsets]
        rows, stats = score_prompts(model, prompts, list(attribution.target_ids), **engine_options)
        totals = [reduce_scores(list(row), attribution.reduction) for row in rows]
        return totals[0], totals[1:], stats

    score_subsets.with_full = score_with_full  # type: ignore[attr-defined]
    return score_subsets


def known_subset_scores(attribution: ClauseAttribution) -> dict[tuple[int, ...], float]:
    """Subset scores the attribution already holds: s(x) and s(x without word i) = s(x) - a_i.

    Keyed by the kept word positions; words whose a_i is not finite are left out (scored again).
    """
    n = len(attribution.words)
    known = {tuple(range(n)): float(attribution.full_score)}
    for i, a in enumerate(attribution.scores):
        if np.isfinite(a):
            known[tuple(j for j in range(n) if j != i)] = float(attribution.full_score) - float(a)
    return known


@dataclass(frozen=True, eq=False)
class ClauseFaithfulness:
    """One clause's deletion curves and LDS, and what scoring them cost."""

    curves: DeletionCurves | None
    lds: ClauseLDS | None
    subsets_needed: int  # distinct kept-word subsets the curves and masks need
    subsets_scored: int  # of those, scored by the model (the rest the attribution already held)
    stats: dict  # the engine call's stats (tokens_processed, padded_tokens, batches, ...)


def clause_faithfulness(
    model: Any,
    tokenizer: Any,
    attribution: ClauseAttribution,
    *,
    style: PromptStyle = PromptStyle(),
    mask_text: str | None = None,
    max_k: int | None = 3,
    n_random: int = 10,
    curves_seed: int | None = 0,
    n_masks: int | None = 32,
    keep_prob: float = 0.5,
    n_permutations: int = 100,
    lds_seed: int | None = 0,
    rank_by: str = "score",
    **engine_options: Any,
) -> ClauseFaithfulness:
    """Deletion curves (``max_k`` None or >= 1) and LDS (``n_masks`` None: off) of one clause, one engine call.

    Pass per-clause seeds (:func:`rulelens.statistics.lds.clause_seed`) so that a clause's random
    orders and masks do not depend on which other clauses are scored. The subsets of the curves
    and of the masks are pooled and de-duplicated; those the attribution already holds
    (:func:`known_subset_scores`) are not scored again; the rest go through one batched
    :func:`rulelens.attribution.engine.score_prompts` call that reuses the unperturbed prompt's KV
    cache up to each subset's first removed word.
    """
    from rulelens.statistics.lds import ablation_masks

    if not attribution.target_ids:
        raise ValueError(f"clause {attribution.clause_id!r}: the attribution carries no target ids to score")
    n_words = len(attribution.words)
    plan = None if max_k is None else plan_deletion_curves(attribution.scores, max_k, n_random, curves_seed, rank_by)
    masks = None if n_masks is None else ablation_masks(n_words, n_masks=n_masks, keep_prob=keep_prob, seed=lds_seed)
    mask_subsets = [] if masks is None else [tuple(int(i) for i in np.flatnonzero(m)) for m in masks]
    needed = list(dict.fromkeys((plan.subsets() if plan is not None else []) + mask_subsets))
    known = known_subset_scores(attribution)
    to_score = [s for s in needed if s not in known]
    values = dict(known)
    stats: dict = {"tokens_processed": 0, "padded_tokens": 0, "sequences": 0}
    if to_score:
        scorer = subset_scorer(model, tokenizer, attribution, style=style, mask_text=mask_text, **engine_options)
        _, scored, stats = scorer.with_full(to_score)
        values.update(zip(to_score, (float(v) for v in scored)))
    curves = None if plan is None else curves_from_values(plan, values)
    lds = None
    if masks is not None:
        actual = np.array([values[s] for s in mask_subsets], dtype=float)
        lds = lds_from_scores(attribution, masks, actual, keep_prob, n_permutations, lds_seed)
    return ClauseFaithfulness(curves, lds, len(needed), len(to_score), stats)


def clause_deletion_curves(
    model: Any,
    tokenizer: Any,
    attribution: ClauseAttribution,
    *,
    style: PromptStyle = PromptStyle(),
    max_k: int | None = 3,
    n_random: int = 10,
    seed: int | None = 0,
    rank_by: str = "score",
    mask_text: str | None = None,
    **engine_options: Any,
) -> DeletionCurves:
    """Comprehensiveness / sufficiency curves of one attributed clause against random orders.

    Pass a per-clause ``seed`` (:func:`rulelens.statistics.lds.clause_seed`) so that a clause's
    random orders do not depend on which other clauses are scored. ``max_k=None``: K = N.
    """
    k = len(attribution.words) if max_k is None else max_k
    return clause_faithfulness(
        model,
        tokenizer,
        attribution,
        style=style,
        mask_text=mask_text,
        max_k=k,
        n_random=n_random,
        curves_seed=seed,
        n_masks=None,
        rank_by=rank_by,
        **engine_options,
    ).curves


def curves_frame(curves_by_clause: dict[Any, DeletionCurves]):
    """One long table: the curve rows of every clause with clause_id, n_words, max_k and full_score."""
    import pandas as pd

    columns = [
        "clause_id",
        "n_words",
        "max_k",
        "full_score",
        "k",
        "order",
        "comprehensiveness",
        "sufficiency",
        "comprehensiveness_std",
        "sufficiency_std",
    ]
    frames = [
        c.curve.assign(clause_id=clause_id, n_words=c.n_words, max_k=c.max_k, full_score=c.full_score)
        for clause_id, c in curves_by_clause.items()
    ]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


@dataclass(frozen=True, eq=False)
class ClauseLDS:
    """One clause's linear datamodeling score, its permutation baseline and what it was computed from."""

    clause_id: Any
    lds: float
    lds_permuted: float
    full_score: float
    masks: np.ndarray  # (n_masks, n_words) bool, True = kept
    actual_scores: np.ndarray  # s(x with only the kept words), one per mask
    keep_prob: float
    n_permutations: int

    @property
    def n_words(self) -> int:
        return int(self.masks.shape[1])

    @property
    def n_masks(self) -> int:
        return int(self.masks.shape[0])

    def row(self) -> dict:
        return {
            "clause_id": self.clause_id,
            "n_words": self.n_words,
            "n_masks": self.n_masks,
            "keep_prob": float(self.keep_prob),
            "lds": self.lds,
            "lds_permuted": self.lds_permuted,
            "full_score": self.full_score,
        }


def lds_from_scores(
    attribution: ClauseAttribution,
    masks: np.ndarray,
    actual: np.ndarray,
    keep_prob: float,
    n_permutations: int,
    seed: int | None,
) -> ClauseLDS:
    """The clause's LDS and its permutation baseline from the masks' actual scores (no model calls)."""
    from rulelens.statistics.lds import linear_datamodeling_score, permuted_attribution_lds

    lds = linear_datamodeling_score(attribution.scores, masks, actual)
    baseline_seed = None if seed is None else (int(seed) + 1) % 2**63
    baseline = permuted_attribution_lds(
        attribution.scores, masks, actual, n_permutations=n_permutations, seed=baseline_seed
    )
    return ClauseLDS(
        attribution.clause_id,
        lds,
        baseline,
        float(attribution.full_score),
        masks,
        actual,
        float(keep_prob),
        int(n_permutations),
    )


def clause_lds(
    model: Any,
    tokenizer: Any,
    attribution: ClauseAttribution,
    *,
    style: PromptStyle = PromptStyle(),
    n_masks: int = 32,
    keep_prob: float = 0.5,
    seed: int | None = 0,
    n_permutations: int = 100,
    mask_text: str | None = None,
    **engine_options: Any,
) -> ClauseLDS:
    """Linear datamodeling score of one attributed clause (:mod:`rulelens.statistics.lds`).

    ``n_masks`` random masks (each word kept with ``keep_prob``, seeded by ``seed``) are scored
    in one batched engine call with the attribution's operator, reduction and target ids; removed
    words are deleted or masked with ``mask_text`` exactly as in the attribution. The chance level
    is the LDS of the same attribution values permuted over the clause's words (``n_permutations``
    seeded permutations, on the same masks and scores).
    """
    return clause_faithfulness(
        model,
        tokenizer,
        attribution,
        style=style,
        mask_text=mask_text,
        max_k=None,
        n_masks=n_masks,
        keep_prob=keep_prob,
        n_permutations=n_permutations,
        lds_seed=seed,
        **engine_options,
    ).lds


def lds_frame(results: Sequence[ClauseLDS]):
    """One row per clause: clause_id, n_words, n_masks, keep_prob, lds, lds_permuted, full_score."""
    import pandas as pd

    columns = ["clause_id", "n_words", "n_masks", "keep_prob", "lds", "lds_permuted", "full_score"]
    return pd.DataFrame([r.row() for r in results], columns=columns)
