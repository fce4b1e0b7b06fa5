"""Deletion curves for an attributed clause, scored by the engine (docs/statistics.md).

:func:`rulelens.statistics.faithfulness.deletion_curves` only needs a function from kept word
positions to a score. This module builds that function from the same pieces the attribution
used: the clause's word template, the perturbation operator (a removed word is deleted or
masked exactly as in the attribution), the prompt style and the very target ids that were
scored. So ``comprehensiveness(1)`` of the attribution order equals the largest a_i, and the
score with every word kept equals the attribution's s(x).

:func:`clause_lds` scores random half-ablations of the clause the same way and computes the
linear datamodeling score (:mod:`rulelens.statistics.lds`): a faithfulness measure that is not
true by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rulelens.attribution.plan import plan_clause, reduce_scores
from rulelens.attribution.result import ClauseAttribution
from rulelens.prompts import PromptStyle, check_clause_text, encode_prompt
from rulelens.statistics.faithfulness import BatchScoreFn, DeletionCurves, deletion_curves
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

    Removed words are deleted (whitespace as in :mod:`.segments`) or replaced by ``mask_text``
    (default ``"___"``), following the attribution's operator. Each call scores the unperturbed
    prompt first (prompt 0, whose KV cache the subsets reuse) and returns the subsets' scores.
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

    def score_with_full(subsets: Sequence[tuple[int, ...]]) -> tuple[float, list[float]]:
        prompts = [full_prompt] + [prompt_of(tuple(s)) for s in subsets]
        rows, _ = score_prompts(model, prompts, list(attribution.target_ids), **engine_options)
        totals = [reduce_scores(list(row), attribution.reduction) for row in rows]
        return totals[0], totals[1:]

    score_subsets.with_full = score_with_full  # type: ignore[attr-defined]
    return score_subsets


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
    random orders do not depend on which other clauses are scored.
    """
    if not attribution.target_ids:
        raise ValueError(f"clause {attribution.clause_id!r}: the attribution carries no target ids to score")
    scorer = subset_scorer(model, tokenizer, attribution, style=style, mask_text=mask_text, **engine_options)
    return deletion_curves(
        attribution.scores, max_k=max_k, n_random=n_random, seed=seed, rank_by=rank_by, batch_score_fn=scorer
    )


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
    """One clause's linear datamodeling score, its random baseline and what it was computed from."""

    clause_id: Any
    lds: float
    lds_random: float
    full_score: float
    masks: np.ndarray  # (n_masks, n_words) bool, True = kept
    actual_scores: np.ndarray  # s(x with only the kept words), one per mask
    keep_prob: float
    n_random: int

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
            "lds_random": self.lds_random,
            "full_score": self.full_score,
        }


def clause_lds(
    model: Any,
    tokenizer: Any,
    attribution: ClauseAttribution,
    *,
    style: PromptStyle = PromptStyle(),
    n_masks: int = 32,
    keep_prob: float = 0.5,
    seed: int | None = 0,
    n_random: int = 10,
    mask_text: str | None = None,
    **engine_options: Any,
) -> ClauseLDS:
    """Linear datamodeling score of one attributed clause (:mod:`rulelens.statistics.lds`).

    ``n_masks`` random masks (each word kept with ``keep_prob``, seeded by ``seed``) are scored
    in one batched engine call (``score_prompts``; prompt 0 is the unperturbed prompt, whose
    cache the masks reuse) with the attribution's operator, reduction and target ids; removed
    words are deleted or masked with ``mask_text`` exactly as in the attribution. The random
    baseline uses ``n_random`` standard normal attributions on the same masks and scores.
    Cost: one engine call of ``1 + n_masks`` prompts per clause.
    """
    from rulelens.statistics.lds import ablation_masks, linear_datamodeling_score, random_attribution_lds

    if not attribution.target_ids:
        raise ValueError(f"clause {attribution.clause_id!r}: the attribution carries no target ids to score")
    n_words = len(attribution.words)
    masks = ablation_masks(n_words, n_masks=n_masks, keep_prob=keep_prob, seed=seed)
    scorer = subset_scorer(model, tokenizer, attribution, style=style, mask_text=mask_text, **engine_options)
    kept = [tuple(int(i) for i in np.flatnonzero(m)) for m in masks]
    full, actual = scorer.with_full(kept)
    actual = np.asarray(actual, dtype=float)
    lds = linear_datamodeling_score(attribution.scores, masks, actual)
    random_seed = None if seed is None else (int(seed) + 1) % 2**63
    baseline = random_attribution_lds(masks, actual, n_words, n_random=n_random, seed=random_seed)
    return ClauseLDS(attribution.clause_id, lds, baseline, float(full), masks, actual, float(keep_prob), int(n_random))


def lds_frame(results: Sequence[ClauseLDS]):
    """One row per clause: clause_id, n_words, n_masks, keep_prob, lds, lds_random, full_score."""
    import pandas as pd

    columns = ["clause_id", "n_words", "n_masks", "keep_prob", "lds", "lds_random", "full_score"]
    return pd.DataFrame([r.row() for r in results], columns=columns)
