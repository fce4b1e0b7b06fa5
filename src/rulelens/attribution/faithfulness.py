"""Deletion curves for an attributed clause, scored by the engine (GUIDE 5.8).

:func:`rulelens.statistics.faithfulness.deletion_curves` only needs a function from kept word
positions to a score. This module builds that function from the same pieces the attribution
used: the clause's word template, the perturbation operator (a removed word is deleted or
masked exactly as in the attribution), the prompt style and the very target ids that were
scored. So ``comprehensiveness(1)`` of the attribution order equals the largest a_i, and the
score with every word kept equals the attribution's s(x).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rulelens.attribution.plan import plan_clause, reduce_scores
from rulelens.attribution.result import ClauseAttribution
from rulelens.attribution.segments import baseline_values
from rulelens.prompts import PromptStyle, encode_prompt
from rulelens.statistics.faithfulness import BatchScoreFn, DeletionCurves, deletion_curves


def subset_scorer(
    model: Any,
    tokenizer: Any,
    attribution: ClauseAttribution,
    *,
    style: PromptStyle = PromptStyle(),
    mask_token: str | None = None,
    **engine_options: Any,
) -> BatchScoreFn:
    """``kept word tuples -> scores``: each subset scored in one batched engine call."""
    from rulelens.attribution.engine import score_prompts

    plan = plan_clause(tokenizer, attribution.clause, style=style, operator=attribution.operator, mask_token=mask_token)
    if plan.template.words != attribution.words:
        raise ValueError(f"clause {attribution.clause_id!r}: the word split differs from the attribution's")
    originals = [f.text for f in plan.template.features]
    baselines = baseline_values(plan.template, plan.operator, plan.mask_text)
    full_prompt = list(plan.prompt_ids[0])

    def prompt_of(kept: tuple[int, ...]) -> list[int]:
        keep = set(kept)
        clause = plan.template.render([o if i in keep else b for i, (o, b) in enumerate(zip(originals, baselines))])
        return encode_prompt(tokenizer, plan.parts.with_clause(clause))

    def score_subsets(subsets: Sequence[tuple[int, ...]]) -> list[float]:
        prompts = [full_prompt] + [prompt_of(s) for s in subsets]
        rows, _ = score_prompts(model, prompts, list(attribution.target_ids), **engine_options)
        return [reduce_scores(list(row), attribution.reduction) for row in rows[1:]]

    return score_subsets


def clause_deletion_curves(
    model: Any,
    tokenizer: Any,
    attribution: ClauseAttribution,
    *,
    style: PromptStyle = PromptStyle(),
    max_k: int | None = 5,
    n_random: int = 3,
    seed: int | None = 0,
    rank_by: str = "score",
    mask_token: str | None = None,
    **engine_options: Any,
) -> DeletionCurves:
    """Comprehensiveness / sufficiency curves of one attributed clause against random orders."""
    if not attribution.target_ids:
        raise ValueError(f"clause {attribution.clause_id!r}: the attribution carries no target ids to score")
    scorer = subset_scorer(model, tokenizer, attribution, style=style, mask_token=mask_token, **engine_options)
    return deletion_curves(attribution.scores, max_k=max_k, n_random=n_random, seed=seed, rank_by=rank_by,
                           batch_score_fn=scorer)


def curves_frame(curves_by_clause: dict[Any, DeletionCurves]):
    """One long table: the curve rows of every clause with clause_id, n_words, max_k and full_score."""
    import pandas as pd

    columns = ["clause_id", "n_words", "max_k", "full_score", "k", "order", "comprehensiveness", "sufficiency",
               "comprehensiveness_std", "sufficiency_std"]
    frames = [
        c.curve.assign(clause_id=clause_id, n_words=c.n_words, max_k=c.max_k, full_score=c.full_score)
        for clause_id, c in curves_by_clause.items()
    ]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]
