"""The plain reference implementation: every sequence scored on its own, full logits.

Deliberately naive, so that it is easy to check by eye and independent of the engine's
tricks: one ``model(input_ids)`` call per sequence (the model's own forward, adapters and
quantisation included), the whole logits tensor, ``log_softmax``, pick the target tokens.
The engine must reproduce these numbers; tests and the benchmark compare them.
"""

from __future__ import annotations

import time
from typing import Any

from rulelens.attribution.plan import REFERENCE, Target, build_attribution
from rulelens.attribution.result import ClauseAttribution
from rulelens.prompts import PromptStyle
from rulelens.words.perturb import DELETE


def reference_token_log_probs(model: Any, prompt_ids: list[int], target_ids: list[int]) -> list[float]:
    """log p(target_t | prompt, target_<t) from one full forward pass of ``prompt + target``."""
    import torch

    device = next(model.parameters()).device
    ids = torch.tensor([list(prompt_ids) + list(target_ids)], device=device)
    with torch.inference_mode():
        logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0].float()
    start = len(prompt_ids) - 1
    log_probs = torch.log_softmax(logits[start : start + len(target_ids)], dim=-1)
    picked = log_probs[torch.arange(len(target_ids)), torch.tensor(list(target_ids), device=device)]
    return [float(v) for v in picked]


def reference_attribution(
    model: Any,
    tokenizer: Any,
    clause: str,
    target_rule: str | None = None,
    *,
    style: PromptStyle = PromptStyle(),
    operator: str = DELETE,
    target_mode: str = REFERENCE,
    target: Target | None = None,
    mask_token: str | None = None,
    reduction: str = "sum",
    max_new_tokens: int = 128,
    clause_id: Any = None,
) -> ClauseAttribution:
    """Attribute ``clause`` by scoring the original and each perturbation one at a time."""
    from rulelens.attribution.plan import plan_with_target

    started = time.perf_counter()
    plan, target = plan_with_target(
        model,
        tokenizer,
        clause,
        target_rule,
        style=style,
        operator=operator,
        mask_token=mask_token,
        target=target,
        target_mode=target_mode,
        max_new_tokens=max_new_tokens,
    )
    rows = [reference_token_log_probs(model, list(p), list(target.ids)) for p in plan.prompt_ids]
    tokens = sum(len(p) + len(target.ids) for p in plan.prompt_ids)
    stats = {"seconds": time.perf_counter() - started, "tokens_processed": tokens, "sequences": len(rows)}
    return build_attribution(
        plan, target, rows, reduction=reduction, method="reference", clause_id=clause_id, stats=stats
    )
