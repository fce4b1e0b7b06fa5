"""Target modes (docs/attribution.md): what y is in s(x) = log p(y | prompt(x)).

``reference``: the given rule followed by eos, tokenized as in training.
``greedy``: the model's own greedy continuation of the *unperturbed* prompt (argmax at every
step, at most ``max_new_tokens``, eos included when produced). The greedy ids are kept as ids
and never re-tokenized from text, so the scored tokens are exactly the ones generated. The
loop calls the model's body and head directly (see :mod:`.scoring`), so no generation config
(sampling, repetition penalty) can change the result.
"""

from __future__ import annotations

from typing import Any

from rulelens.attribution.plan import GREEDY, REFERENCE, TARGET_MODES, Target, plan_clause, reference_target


def stop_ids(model: Any, tokenizer: Any) -> set[int]:
    """Token ids that end generation: the tokenizer's eos and the model's configured eos ids."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    config_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(config_eos, int):
        ids.add(config_eos)
    elif config_eos:
        ids.update(int(i) for i in config_eos)
    return ids


def greedy_ids(model: Any, prompt_ids: list[int], max_new_tokens: int, stop: set[int]) -> list[int]:
    """Greedy continuation of ``prompt_ids`` with a KV cache, up to and including a stop id."""
    import torch

    from rulelens.attribution.scoring import head_logits, lm_parts, run_body

    parts = lm_parts(model)
    device = parts.device
    generated: list[int] = []
    with torch.inference_mode():
        hidden, cache = run_body(parts, torch.tensor([list(prompt_ids)], device=device), use_cache=True)
        for step in range(max_new_tokens):
            token = int(head_logits(parts, hidden[:, -1]).argmax(dim=-1)[0])
            generated.append(token)
            if token in stop or step == max_new_tokens - 1:
                break
            position = torch.tensor([[len(prompt_ids) + step]], device=device)
            hidden, cache = run_body(
                parts, torch.tensor([[token]], device=device), position_ids=position, cache=cache, use_cache=True
            )
    return generated


def resolve_target(
    model: Any,
    tokenizer: Any,
    prompt_ids: list[int],
    rule: str | None,
    mode: str = REFERENCE,
    max_new_tokens: int = 128,
) -> Target:
    """The target of one clause under ``mode`` (see module docstring)."""
    if mode == REFERENCE:
        if rule is None:
            raise ValueError("target_mode='reference' needs the reference rule")
        return reference_target(tokenizer, rule)
    if mode == GREEDY:
        ids = greedy_ids(model, prompt_ids, max_new_tokens, stop_ids(model, tokenizer))
        return Target(tuple(ids), tokenizer.decode(ids, skip_special_tokens=True), GREEDY)
    raise ValueError(f"unknown target mode {mode!r}; expected one of {TARGET_MODES}")


def plan_with_target(model: Any, tokenizer: Any, clause: str, target_rule: str | None, *, style, operator: str,
                     mask_token: str | None, target: Target | None, target_mode: str, max_new_tokens: int):
    """(perturbation plan, target) for one clause: the step every implementation starts with,
    so the engine, the reference and the captum adapter score exactly the same inputs."""
    plan = plan_clause(tokenizer, clause, style=style, operator=operator, mask_token=mask_token)
    if target is None:
        target = resolve_target(model, tokenizer, list(plan.prompt_ids[0]), target_rule, target_mode, max_new_tokens)
    return plan, target
