"""The same attribution through captum: LLMAttribution + FeatureAblation + TextTemplateInput.

Used to check the engine against an independent, widely used implementation (docs/attribution.md).
The interpretable features are the engine's word features (:mod:`rulelens.words.perturb`); the baseline is
the empty string for ``delete`` (the word and the whitespace it takes, see :mod:`rulelens.words.perturb`)
and the plain-text mask placeholder for ``mask``. Two details
keep the token sequences identical to the engine's:

* captum turns the template text into ids with ``tokenizer.encode(text)``, which adds the
  tokenizer's special tokens (a second BOS after a chat template's own, for some tokenizers).
  :class:`PromptTemplateInput` instead returns the ids of :func:`rulelens.prompts.encode_prompt`,
  the function training uses. captum accepts a tensor as model input and only wraps it.
* the target is passed as token ids, so captum does not re-tokenize the rule text.

captum's ``attribute(..., forward_in_tokens=False)`` scores ``prompt + target`` in one
teacher-forced pass (the engine's quantity). Its default ``forward_in_tokens=True`` decodes the
target one token at a time with the generation utilities; in captum 0.9.0 with transformers 5
it gives different numbers and is much slower (docs/attribution.md), so it is offered for comparison only.
"""

from __future__ import annotations

import inspect
import time
import warnings
from typing import Any

from rulelens.attribution.plan import REFERENCE, ClausePlan, Target, attribution_from_scores, reduce_scores
from rulelens.attribution.result import ClauseAttribution
from rulelens.prompts import PromptParts, PromptStyle, encode_prompt
from rulelens.words.perturb import DELETE, baseline_values


def supports_forward_in_tokens() -> bool:
    """Whether the installed captum's LLMAttribution.attribute has ``forward_in_tokens``."""
    from captum.attr import LLMAttribution

    return "forward_in_tokens" in inspect.signature(LLMAttribution.attribute).parameters


def _template_function(plan: ClausePlan):
    """captum template: the full prompt text from the feature values (no str.format braces).

    Renders through :meth:`ClauseTemplate.render`, so a deleted word (value ``""``) takes its
    whitespace exactly as in the engine."""
    prefix, suffix, template = plan.parts.prefix, plan.parts.suffix, plan.template

    def render(*values: str) -> str:
        return prefix + template.render(list(values)) + suffix

    return render


def prompt_template_input(plan: ClausePlan, tokenizer: Any):
    """A captum TextTemplateInput over the plan's word features that yields training's prompt ids."""
    import torch
    from captum.attr import TextTemplateInput

    class PromptTemplateInput(TextTemplateInput):
        """TextTemplateInput whose model input is ``encode_prompt`` ids instead of raw text."""

        def to_model_input(self, perturbed_tensor=None):
            text = super().to_model_input(perturbed_tensor)
            ids = encode_prompt(tokenizer, PromptParts(text, "", ""))
            return torch.tensor([ids])

    values = [f.text for f in plan.template.features]
    return PromptTemplateInput(
        template=_template_function(plan),
        values=values,
        baselines=baseline_values(plan.template, plan.operator, plan.mask_text),
    )


def captum_token_log_probs(
    model: Any, tokenizer: Any, plan: ClausePlan, target: Target, *, forward_in_tokens: bool = False
) -> tuple[list[float], list[float]]:
    """(word attributions, per-token log p of the unperturbed prompt) as captum computes them."""
    import torch
    from captum.attr import FeatureAblation, LLMAttribution

    llm_attr = LLMAttribution(FeatureAblation(model), tokenizer)
    recorded: list[torch.Tensor] = []
    inner = llm_attr.attr_method.forward_func

    def recording(*args: Any, **kwargs: Any) -> torch.Tensor:
        out = inner(*args, **kwargs)
        recorded.append(out.detach())
        return out

    llm_attr.attr_method.forward_func = recording  # the first call is captum's unperturbed eval
    kwargs = {"forward_in_tokens": forward_in_tokens} if supports_forward_in_tokens() else {}
    if not kwargs and not forward_in_tokens:
        raise RuntimeError("installed captum has no one-pass scoring (forward_in_tokens)")
    device = next(model.parameters()).device
    with torch.inference_mode(), warnings.catch_warnings():
        # captum re-decodes the target only to label it; its "pretty token" warnings are noise here
        warnings.filterwarnings("ignore", message=r"(\(i=|Pretty tokens)", category=UserWarning)
        result = llm_attr.attribute(
            prompt_template_input(plan, tokenizer), target=torch.tensor(list(target.ids), device=device), **kwargs
        )
    first = recorded[0].reshape(-1)  # [total, per-token...] for per-token methods
    return [float(v) for v in result.seq_attr], [float(v) for v in first[1:]]


def captum_attribution(
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
    forward_in_tokens: bool = False,
    clause_id: Any = None,
) -> ClauseAttribution:
    """Attribute ``clause`` with captum on the engine's features, target ids and prompt ids."""
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
    attributions, full_tokens = captum_token_log_probs(
        model, tokenizer, plan, target, forward_in_tokens=forward_in_tokens
    )
    scale = 1.0 if reduction == "sum" else 1.0 / len(full_tokens)  # captum differences are of sums
    stats = {"seconds": time.perf_counter() - started, "forward_in_tokens": forward_in_tokens}
    return attribution_from_scores(
        plan,
        target,
        reduce_scores(full_tokens, reduction),
        [a * scale for a in attributions],
        reduction=reduction,
        method="captum-tokens" if forward_in_tokens else "captum",
        clause_id=clause_id,
        stats=stats,
    )
