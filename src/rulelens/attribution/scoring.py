"""Teacher-forced target scoring, log p(y | prompt), with logits only at target positions.

A causal LM is split into its *body* (the transformer, which returns final-normed hidden
states) and its *head* (the output embedding). The body runs over every position, because
later positions attend to earlier ones, but the head, a ``hidden x vocab`` matmul and the
largest single layer of a small model, is applied only at the positions that predict target
tokens. Works for plain Hugging Face models, peft-wrapped models (LoRA layers are injected
into the body's modules, so unwrapping keeps them active) and bitsandbytes 4-bit models
(quantised linears are ordinary modules of the body).

Only the attribution engine and its helpers import this module (it imports torch).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch

HEAD_CHUNK_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class LMParts:
    """The pieces of a causal LM that the scorer calls directly."""

    lm: Any
    body: torch.nn.Module
    head: torch.nn.Module
    cache_kwarg: str
    logit_scale: float | None = None
    softcap: float | None = None

    @property
    def config(self) -> Any:
        return self.lm.config

    @property
    def device(self) -> torch.device:
        """Where inputs go: the input embedding's device (the first layer's, when the model is
        spread over several GPUs with ``device_map="auto"``; accelerate moves activations on)."""
        embeddings = self.lm.get_input_embeddings() if hasattr(self.lm, "get_input_embeddings") else None
        weight = getattr(embeddings, "weight", None)
        return weight.device if weight is not None else next(self.lm.parameters()).device


def unwrap_peft(model: Any) -> Any:
    """The underlying transformers model of a peft wrapper (adapters stay injected)."""
    while hasattr(model, "get_base_model"):
        inner = model.get_base_model()
        if inner is model:
            break
        model = inner
    return model


def _body_of(lm: Any) -> torch.nn.Module:
    """The transformer stack of a ``*ForCausalLM`` (the module that returns hidden states)."""
    body = lm.get_decoder() if hasattr(lm, "get_decoder") else None
    if body is None or body is lm:
        body = getattr(lm, getattr(lm, "base_model_prefix", "model"), None)
    if body is None or body is lm:
        raise TypeError(f"cannot find the transformer body of {type(lm).__name__}")
    return body


def _cache_kwarg(body: torch.nn.Module) -> str:
    """Name of the KV-cache argument: ``cache`` in transformers >= 5.2x, else ``past_key_values``."""
    params = inspect.signature(body.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def lm_parts(model: Any) -> LMParts:
    """Split ``model`` (plain, peft or quantised) into body and output head."""
    lm = unwrap_peft(model)
    body = _body_of(lm)
    head = lm.get_output_embeddings()
    if head is None:
        raise TypeError(f"{type(lm).__name__} has no output embedding; is it a causal LM?")
    scale = getattr(lm, "logit_scale", None)
    softcap = getattr(lm.config, "final_logit_softcapping", None)
    return LMParts(
        lm, body, head, _cache_kwarg(body), float(scale) if isinstance(scale, (int, float)) else None, softcap
    )


def run_body(
    parts: LMParts,
    input_ids: torch.Tensor,
    *,
    attention_mask: torch.Tensor | None = None,
    position_ids: torch.Tensor | None = None,
    cache: Any = None,
    use_cache: bool = False,
) -> tuple[torch.Tensor, Any]:
    """Final hidden states (batch, length, hidden) and the (updated) KV cache."""
    kwargs = {parts.cache_kwarg: cache} if cache is not None else {}
    out = parts.body(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        use_cache=use_cache,
        **kwargs,
    )
    new_cache = getattr(out, "cache", None)
    if new_cache is None:
        new_cache = getattr(out, "past_key_values", None)
    return out.last_hidden_state, new_cache


def head_logits(parts: LMParts, hidden: torch.Tensor) -> torch.Tensor:
    """fp32 logits from hidden states, with the model's own logit scaling or soft-capping."""
    logits = parts.head(hidden).float()
    if parts.logit_scale is not None:
        logits = logits * parts.logit_scale
    if parts.softcap:
        logits = torch.tanh(logits / parts.softcap) * parts.softcap
    return logits


def target_log_probs(
    parts: LMParts, hidden: torch.Tensor, target_ids: torch.Tensor, chunk_bytes: int = HEAD_CHUNK_BYTES
) -> torch.Tensor:
    """log p(target_t | ...) for hidden states at the target-predicting positions: (B, T).

    The vocabulary-sized logits are made a few hundred positions at a time, so that a large
    batch never holds a (B, T, vocab) tensor (hundreds of MB that only cost cache misses).
    """
    batch, length, width = hidden.shape
    flat_hidden = hidden.reshape(batch * length, width)
    # a sharded model's head may live on another device than its input embedding
    flat_target = target_ids.to(parts.head.weight.device).reshape(1, length).expand(batch, length).reshape(-1)
    step = max(1, chunk_bytes // (4 * parts.head.weight.shape[0]))
    pieces = []
    for start in range(0, flat_hidden.shape[0], step):
        logits = head_logits(parts, flat_hidden[start : start + step])
        picked = logits.gather(-1, flat_target[start : start + step, None].to(logits.device)).squeeze(-1)
        pieces.append(picked - torch.logsumexp(logits, dim=-1))
    return torch.cat(pieces).reshape(batch, length)


def score_sequence(model: Any, prompt_ids: list[int], target_ids: list[int]) -> torch.Tensor:
    """Per-token log p of ``target_ids`` after ``prompt_ids`` for one sequence, no cache: (T,)."""
    parts = model if isinstance(model, LMParts) else lm_parts(model)
    device = parts.device
    ids = torch.tensor([list(prompt_ids) + list(target_ids)[:-1]], device=device)
    with torch.inference_mode():
        hidden, _ = run_body(parts, ids)
        start = len(prompt_ids) - 1
        at_targets = hidden[:, start : start + len(target_ids)]
        return target_log_probs(parts, at_targets, torch.tensor(list(target_ids), device=device))[0].to(device)
