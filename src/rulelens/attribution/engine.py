"""The fast, exact attribution engine (docs/attribution.md).

For one clause and target the engine scores the original prompt and every single-word
perturbation. Perturbation i is identical to the original up to word i: the prompt template
plus the words before it. The original is run once with a KV cache, and every perturbation
reuses that cache up to the token where it first differs (``reuse_prefix="per_sequence"``,
the default); only the rest of its prompt and the target are computed, in batched forward
passes with the cache repeated along the batch. ``reuse_prefix="shared"`` caches only the
prefix common to all sequences (template + words before word 0), ``"none"`` nothing.

Exactness: the keys and values of a token prefix depend only on those tokens and their
positions, so reusing them is the same computation as recomputing them. In a batch, row k
sees the first ``cut_k`` cached slots (the rest of the cache belongs to rows that share more
and is masked out), its new tokens get positions ``cut_k, cut_k + 1, ...``, and they are
right-padded; under causal attention no real token attends to padding. The output head is
applied only at target-predicting positions (:mod:`.scoring`). Results differ from the
one-sequence reference only by floating-point summation order (about 1e-4 nats in fp32).

Batch size adapts to a memory cap: an estimate of one row's KV cache, activations and target
logits sets the batch (on CPU also a token budget per batch, beyond which GEMMs gain nothing);
an out-of-memory error halves it and retries.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch

from rulelens.attribution.plan import REFERENCE, Target, build_attribution
from rulelens.attribution.result import ClauseAttribution
from rulelens.attribution.scoring import LMParts, lm_parts, run_body, score_sequence, target_log_probs
from rulelens.prompts import PromptStyle
from rulelens.words.perturb import DELETE

DEFAULT_MEMORY_FRACTION = 0.25
DEFAULT_BF16_TOLERANCE = 0.1
CPU_BATCH_TOKENS = 2048  # CPU GEMMs are near peak by then; larger batches only add cache misses
PREFIX_MODES = ("per_sequence", "shared", "none")


# ------------------------------------------------------------------ planning helpers
def common_prefix_length(sequences: Sequence[Sequence[int]]) -> int:
    """Length of the longest token prefix shared by all ``sequences``."""
    if not sequences:
        return 0
    shortest = min(len(s) for s in sequences)
    first = sequences[0]
    for i in range(shortest):
        token = first[i]
        if any(s[i] != token for s in sequences[1:]):
            return i
    return shortest


def prefix_cuts(prompts: Sequence[Sequence[int]], mode: str = "per_sequence") -> list[int]:
    """How many leading tokens of each prompt are taken from a KV cache instead of recomputed.

    ``per_sequence``: prompt 0 (the original) is run once; every perturbation reuses the
    original's cache up to where it first differs (template + the words before its perturbed
    word). ``shared``: one prefix common to all prompts is cached for all. ``none``: no reuse.
    The last prompt token is never cut: its hidden state predicts the first target token.
    """
    if mode == "none" or not prompts:
        return [0] * len(prompts)
    if mode == "shared":
        shared = max(0, min(common_prefix_length(prompts), min(len(p) for p in prompts) - 1))
        return [shared] * len(prompts)
    if mode == "per_sequence":
        first = prompts[0]
        return [0] + [max(0, min(common_prefix_length([first, p]), len(p) - 1)) for p in prompts[1:]]
    raise ValueError(f"unknown prefix mode {mode!r}; expected one of {PREFIX_MODES}")


def prefix_mode(reuse_prefix: bool | str) -> str:
    """``True`` means per-sequence reuse (the most sharing), ``False`` none."""
    if reuse_prefix is True:
        return "per_sequence"
    if reuse_prefix is False:
        return "none"
    return reuse_prefix


def estimate_sequence_bytes(config: Any, prefix_len: int, rest_len: int, target_len: int, act_bytes: int = 4) -> int:
    """Rough peak memory of one row of a batch: its KV cache, one layer's activations, targets."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    hidden = text.hidden_size
    heads = text.num_attention_heads
    kv_heads = getattr(text, "num_key_value_heads", None) or heads
    head_dim = getattr(text, "head_dim", None) or hidden // heads
    inter = getattr(text, "intermediate_size", None) or 4 * hidden
    total = prefix_len + rest_len
    kv = 2 * text.num_hidden_layers * kv_heads * head_dim * total * act_bytes * 2  # x2: concat copies
    activations = rest_len * (6 * hidden + 3 * inter) * act_bytes + heads * rest_len * total * 4
    targets = target_len * hidden * 4 * 2  # gathered hidden states; vocab logits are made in fixed chunks
    return int(kv + activations + targets)


def default_memory_cap(device: torch.device) -> int:
    """A quarter of the free memory of ``device`` (GPU: free CUDA memory; CPU: available RAM)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * DEFAULT_MEMORY_FRACTION)
    import psutil

    return int(psutil.virtual_memory().available * DEFAULT_MEMORY_FRACTION)


def is_out_of_memory(error: BaseException) -> bool:
    """True for CUDA OOM and for CPU allocation failures (both surface as RuntimeError)."""
    if isinstance(error, getattr(torch, "OutOfMemoryError", ())):
        return True
    message = str(error).lower()
    return isinstance(error, RuntimeError) and ("out of memory" in message or "failed to allocate" in message)


def resolve_autocast_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype | None:
    """The reduced-precision autocast dtype to use, or None for fp32 (with a warning if unsupported)."""
    if dtype is None:
        return None
    resolved = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    if resolved == torch.float32:
        return None
    supported = torch.amp.autocast_mode.is_autocast_available(device.type)
    if supported and device.type == "cuda" and resolved == torch.bfloat16:
        supported = torch.cuda.is_bf16_supported()
    if not supported:
        warnings.warn(f"{resolved} autocast is not supported on {device}; using float32", stacklevel=3)
        return None
    return resolved


def _autocast(device: torch.device, dtype: torch.dtype | None):
    """An autocast context for ``dtype`` (or a disabled one for fp32)."""
    return torch.autocast(device_type=device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)


# ------------------------------------------------------------------ forward passes
KeyValues = list[tuple[torch.Tensor, torch.Tensor]]


def prefix_key_values(parts: LMParts, prefix: Sequence[int]) -> KeyValues:
    """Per-layer (keys, values) of a token prefix, computed once with batch size 1."""
    _, cache = run_body(parts, torch.tensor([list(prefix)], device=parts.device), use_cache=True)
    return cache_key_values(cache)


def cache_key_values(cache: Any) -> KeyValues:
    """The per-layer (keys, values) tensors held by a transformers cache."""
    return [(layer.keys, layer.values) for layer in cache.layers]


def batch_cache(parts: LMParts, source: KeyValues, length: int, batch: int) -> Any:
    """A fresh DynamicCache with the first ``length`` cached tokens repeated ``batch`` times.

    Fresh for every batch because the forward pass appends to (mutates) the cache.
    """
    from transformers import DynamicCache

    data = [(k[:, :, :length].expand(batch, -1, -1, -1), v[:, :, :length].expand(batch, -1, -1, -1)) for k, v in source]
    return DynamicCache(ddp_cache_data=data, config=parts.config)


def _pad_id(parts: LMParts) -> int:
    pad = getattr(parts.config, "pad_token_id", None)
    return pad if isinstance(pad, int) and 0 <= pad < parts.head.weight.shape[0] else 0


def batch_inputs(prompts, cuts, target, cached: int, device, pad_id: int = 0):
    """Right-padded new tokens, the 2D attention mask and per-row position ids of a batch.

    Row k reuses ``cuts[k]`` cached tokens out of ``cached`` cache slots: the slots beyond its
    own cut hold another sequence's tokens and are masked out; its new tokens start at
    position ``cuts[k]``. Padding sits after every real token, so causal attention keeps it
    out of every real position.
    """
    rests = [list(p[c:]) + list(target[:-1]) for p, c in zip(prompts, cuts)]
    width = max(len(r) for r in rests)
    ids = torch.full((len(rests), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rests), cached + width), dtype=torch.long)
    for row, (rest, cut) in enumerate(zip(rests, cuts)):
        ids[row, : len(rest)] = torch.tensor(rest)
        mask[row, :cut] = 1
        mask[row, cached : cached + len(rest)] = 1
    positions = torch.tensor(cuts)[:, None] + torch.arange(width)[None, :]
    return ids.to(device), mask.to(device), positions.to(device)


def score_batch(
    parts: LMParts,
    prompts: Sequence[Sequence[int]],
    cuts: Sequence[int],
    target: Sequence[int],
    source: KeyValues | None,
    keep_cache: bool = False,
) -> tuple[torch.Tensor, KeyValues | None]:
    """Per-token target log p of a batch, each row reusing ``cuts[k]`` tokens of ``source``: (B, T)."""
    device, cached = parts.device, max(cuts)
    if cached and source is None:
        raise ValueError("rows with a cached prefix need the source key/values")
    ids, mask, positions = batch_inputs(prompts, cuts, target, cached, device, _pad_id(parts))
    cache = batch_cache(parts, source, cached, len(prompts)) if cached else None
    hidden, new_cache = run_body(
        parts, ids, attention_mask=mask, position_ids=positions, cache=cache, use_cache=bool(cached or keep_cache)
    )
    # the body's output is on its last layer's device (not the inputs' one when the model is sharded)
    starts = torch.tensor([len(p) - 1 - c for p, c in zip(prompts, cuts)], device=hidden.device)
    index = starts[:, None] + torch.arange(len(target), device=hidden.device)[None, :]
    at_targets = hidden.gather(1, index[..., None].expand(-1, -1, hidden.shape[-1]))
    scores = target_log_probs(parts, at_targets, torch.tensor(list(target), device=device))
    return scores, (cache_key_values(new_cache) if keep_cache else None)


def initial_batch_size(parts, prompts, cuts, target_len, memory_cap, act_bytes) -> int:
    """As many rows as fit the memory cap (the token budget is :func:`plan_batches`' business); at least 1."""
    rest = max(len(p) - c for p, c in zip(prompts, cuts)) + target_len - 1
    per_sequence = estimate_sequence_bytes(parts.config, max(cuts), rest, target_len, act_bytes)
    size = memory_cap // max(per_sequence, 1)
    return int(max(1, min(len(prompts), size)))


def plan_batches(widths: Sequence[int], max_rows: int, max_tokens: int | None) -> list[int]:
    """Batch sizes for rows sorted longest first, each batch padded to its first row's width.

    Without a token budget: ``max_rows`` rows per batch. With one, the split that computes the
    fewest token slots (rows x width, padding included) plus a fixed cost per forward pass of
    ``max_tokens / 64`` slots (smaller passes run GEMMs below peak; 64 measured best of 4-256), every batch within
    ``max_rows`` and the budget (a row wider than the budget goes alone): exact dynamic
    programming over the O(n^2) contiguous splits, n being a clause's perturbations.
    """
    n = len(widths)
    if not max_tokens:
        return [min(max_rows, n - start) for start in range(0, n, max_rows)]
    per_pass = max_tokens / 64
    best = [0.0] + [float("inf")] * n
    size_ending = [0] * (n + 1)
    for end in range(1, n + 1):
        for start in range(end - 1, -1, -1):
            rows = end - start
            if rows > 1 and (rows > max_rows or rows * widths[start] > max_tokens):
                break  # widths[start] only grows as start moves left
            cost = best[start] + per_pass + rows * widths[start]
            if cost < best[end]:
                best[end], size_ending[end] = cost, rows
    sizes, end = [], n
    while end:
        sizes.append(size_ending[end])
        end -= size_ending[end]
    return sizes[::-1]


def score_rows(
    parts: LMParts,
    prompts: Sequence[Sequence[int]],
    cuts: Sequence[int],
    target: Sequence[int],
    source: KeyValues | None,
    batch_size: int,
    max_tokens: int | None = None,
) -> tuple[list[list[float]], list[int], int]:
    """Score rows in batches (longest first, so padding is small and an OOM comes early).

    ``batch_size`` bounds the rows per batch; with ``max_tokens`` the batches are planned by
    :func:`plan_batches`. An out-of-memory error halves the row bound and replans the rest.
    Returns the rows in input order, the batch sizes used and the padded token slots computed.
    """
    order = sorted(range(len(prompts)), key=lambda k: len(prompts[k]) - cuts[k], reverse=True)
    widths = [len(prompts[k]) - cuts[k] + len(target) - 1 for k in order]
    results: dict[int, list[float]] = {}
    used, padded, start = [], 0, 0
    plan = plan_batches(widths, batch_size, max_tokens)
    while start < len(order):
        chunk = order[start : start + plan[0]]
        try:
            scores, _ = score_batch(parts, [prompts[k] for k in chunk], [cuts[k] for k in chunk], target, source)
        except RuntimeError as error:
            if not is_out_of_memory(error) or batch_size == 1:
                raise
            batch_size = max(1, min(batch_size, len(chunk)) // 2)
            plan = plan_batches(widths[start:], batch_size, max_tokens)
            if parts.device.type == "cuda":
                torch.cuda.empty_cache()
            continue
        for k, row in zip(chunk, scores.double().tolist()):
            results[k] = row
        used.append(len(chunk))
        padded += len(chunk) * widths[start]
        start += len(chunk)
        plan = plan[1:]
    return [results[k] for k in range(len(prompts))], used, padded


def score_all(
    parts: LMParts,
    prompts: Sequence[Sequence[int]],
    target: Sequence[int],
    *,
    mode: str,
    batch_size: int | None,
    memory_cap: int,
    max_batch_tokens: int | None,
    autocast_dtype: torch.dtype | None = None,
) -> tuple[list[list[float]], dict]:
    """Per-token log p of every prompt under one prefix-reuse mode (see :func:`prefix_cuts`)."""
    cuts = prefix_cuts(prompts, mode)
    act_bytes = 2 if autocast_dtype is not None else 4
    rows: list[list[float]] = []
    with torch.inference_mode(), _autocast(parts.device, autocast_dtype):
        source, first, extra = None, 0, 0
        if mode == "per_sequence":  # the original alone; its full cache serves every perturbation
            scores, source = score_batch(parts, prompts[:1], [0], target, None, keep_cache=True)
            rows, first, extra = [scores.double()[0].tolist()], 1, len(prompts[0]) + len(target) - 1
        elif mode == "shared" and cuts and cuts[0]:
            source, extra = prefix_key_values(parts, prompts[0][: cuts[0]]), cuts[0]
        rest_prompts, rest_cuts = prompts[first:], cuts[first:]
        used, padded = [], 0
        if rest_prompts:
            if batch_size:  # a fixed number of rows per batch, as the user asked
                more, used, padded = score_rows(parts, rest_prompts, rest_cuts, target, source, batch_size)
            else:
                size = initial_batch_size(parts, rest_prompts, rest_cuts, len(target), memory_cap, act_bytes)
                more, used, padded = score_rows(
                    parts, rest_prompts, rest_cuts, target, source, size, max_tokens=max_batch_tokens
                )
            rows.extend(more)
    real = extra + sum(len(p) - c + len(target) - 1 for p, c in zip(rest_prompts, rest_cuts))
    stats = {
        "prefix_mode": mode,
        "prefix_tokens": max(cuts, default=0),
        "tokens_processed": real,
        "padded_tokens": extra + padded,
        "target_tokens": len(target),
        "batches": used,
        "sequences": len(prompts),
    }
    return rows, stats


def score_prompts(
    model: Any,
    prompts: Sequence[Sequence[int]],
    target: Sequence[int],
    *,
    memory_cap_bytes: int | None = None,
    batch_size: int | None = None,
    max_batch_tokens: int | None = None,
    reuse_prefix: bool | str = True,
    dtype: str | torch.dtype | None = None,
    bf16_tolerance: float | None = None,
) -> tuple[list[list[float]], dict]:
    """Per-token target log p for every prompt (prompt 0 is the unperturbed one).

    ``max_batch_tokens`` bounds the tokens per batch (default: 2048 on CPU, none on GPU).
    ``dtype="bfloat16"`` runs under autocast. With ``bf16_tolerance`` (nats) prompt 0's summed
    score is checked against fp32 and, beyond it, everything is recomputed in fp32 with a
    warning; :func:`attribute_clause` checks the whole attribution vector instead.
    """
    parts = model if isinstance(model, LMParts) else lm_parts(model)
    prompts = [list(p) for p in prompts]
    autocast_dtype = resolve_autocast_dtype(dtype, parts.device)
    if max_batch_tokens is None and parts.device.type == "cpu":
        max_batch_tokens = CPU_BATCH_TOKENS
    options = dict(
        mode=prefix_mode(reuse_prefix),
        batch_size=batch_size,
        max_batch_tokens=max_batch_tokens,
        memory_cap=memory_cap_bytes if memory_cap_bytes is not None else default_memory_cap(parts.device),
    )
    rows, stats = score_all(parts, prompts, target, autocast_dtype=autocast_dtype, **options)
    stats["dtype"] = str(autocast_dtype or torch.float32).replace("torch.", "")
    if autocast_dtype is not None and bf16_tolerance is not None:
        reference = float(score_sequence(parts, prompts[0], list(target)).double().sum())
        gap = abs(sum(rows[0]) - reference)
        stats["reduced_precision_gap"] = gap
        if gap > bf16_tolerance:
            warnings.warn(
                f"{stats['dtype']} score of the unperturbed prompt is {gap:.4f} nats from float32 "
                f"(tolerance {bf16_tolerance}); recomputing in float32",
                stacklevel=2,
            )
            rows, stats = score_all(parts, prompts, target, **options)
            stats.update(dtype="float32", reduced_precision_gap=gap, fell_back=True)
    return rows, stats


# ------------------------------------------------------------------ public API
def attribute_clause(
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
    memory_cap_bytes: int | None = None,
    batch_size: int | None = None,
    max_batch_tokens: int | None = None,
    reuse_prefix: bool | str = True,
    dtype: str | None = None,
    bf16_tolerance: float = DEFAULT_BF16_TOLERANCE,
    check_dtype: bool = True,
    clause_id: Any = None,
) -> ClauseAttribution:
    """Word attributions of one clause: a_i = s(x) - s(x with word i deleted or masked).

    ``target_mode="reference"`` scores ``target_rule``; ``"greedy"`` scores the model's own
    greedy output for the unperturbed prompt. ``target`` (a :class:`Target`) overrides both.
    ``dtype="bfloat16"`` (or ``"float16"``) scores under autocast; with ``check_dtype`` the
    attribution vector is recomputed in fp32 and, when any word's attribution (or the full
    score) differs by more than ``bf16_tolerance`` nats, the fp32 result is returned with a
    warning (``stats["fell_back"]``).
    """
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
    options = dict(
        memory_cap_bytes=memory_cap_bytes,
        batch_size=batch_size,
        max_batch_tokens=max_batch_tokens,
        reuse_prefix=reuse_prefix,
    )
    rows, stats = score_prompts(model, plan.prompt_ids, target.ids, dtype=dtype, **options)
    result = build_attribution(
        plan, target, rows, reduction=reduction, method="engine", clause_id=clause_id, stats=stats
    )
    if stats["dtype"] != "float32" and check_dtype:
        rows32, stats32 = score_prompts(model, plan.prompt_ids, target.ids, dtype=None, **options)
        exact = build_attribution(
            plan, target, rows32, reduction=reduction, method="engine", clause_id=clause_id, stats=stats32
        )
        gap = attribution_gap(result, exact)
        result.stats.update(reduced_precision_gap=gap, bf16_tolerance=bf16_tolerance, fell_back=False)
        if gap > bf16_tolerance:
            warnings.warn(
                f"{stats['dtype']} attributions of clause {clause_id!r} differ from float32 by up to {gap:.4f} nats "
                f"per word (tolerance {bf16_tolerance}); recomputing in float32",
                stacklevel=2,
            )
            result = exact
            result.stats.update(reduced_precision_gap=gap, bf16_tolerance=bf16_tolerance, fell_back=True)
    result.stats["seconds"] = time.perf_counter() - started
    return result


def attribution_gap(reduced: ClauseAttribution, exact: ClauseAttribution) -> float:
    """Largest per-word difference (nats) between two attribution vectors of one clause (incl. the full score)."""
    diffs = [abs(a - b) for a, b in zip(reduced.scores, exact.scores)]
    diffs.append(abs(reduced.full_score - exact.full_score))
    return float(max(diffs))


def attribute_clauses(
    model: Any,
    tokenizer: Any,
    clauses: Sequence[str],
    target_rules: Sequence[str | None] | None = None,
    *,
    clause_ids: Sequence[Any] | None = None,
    progress: bool = True,
    reuse: Callable[[Any], ClauseAttribution | None] | None = None,
    on_result: Callable[[ClauseAttribution], None] | None = None,
    **options: Any,
) -> list[ClauseAttribution]:
    """:func:`attribute_clause` for many clauses, with a progress bar (counts, rate, ETA).

    ``options`` are passed on (style, operator, target_mode, dtype, memory_cap_bytes, ...).
    A reduced ``dtype`` is checked once, on the first clause's attribution vector against fp32
    (``bf16_tolerance`` nats per word); when it fails, every clause is attributed in fp32.
    ``reuse(clause_id)`` may return a clause's finished attribution from an earlier, interrupted
    run (:mod:`rulelens.stage_store`); ``on_result`` receives each newly computed one as soon as
    it is done. The first clause's result decides the dtype either way, so a resumed run computes
    what an uninterrupted one would.
    """
    from tqdm.auto import tqdm

    rules = list(target_rules) if target_rules is not None else [None] * len(clauses)
    ids = list(clause_ids) if clause_ids is not None else list(range(len(clauses)))
    if not len(rules) == len(ids) == len(clauses):
        raise ValueError("clauses, target_rules and clause_ids must have the same length")
    results = []
    bar = tqdm(total=len(clauses), unit="clause", desc="attribution", disable=not progress)
    for index, (clause, rule, clause_id) in enumerate(zip(clauses, rules, ids)):
        result = reuse(clause_id) if reuse is not None else None
        if result is None:
            result = attribute_clause(
                model, tokenizer, clause, rule, clause_id=clause_id, check_dtype=index == 0, **options
            )
            if on_result is not None:
                on_result(result)
        if index == 0 and result.stats.get("fell_back"):
            options = {**options, "dtype": None}  # the reduced dtype failed its check: fp32 for the rest
        results.append(result)
        bar.update(1)
    bar.close()
    return results


def model_flops_per_token(model: Any) -> int:
    """2 x parameters: the usual estimate of forward FLOPs per token (for throughput reports)."""
    return 2 * sum(p.numel() for p in lm_parts(model).lm.parameters())


__all__ = [
    "attribute_clause",
    "attribute_clauses",
    "score_prompts",
    "common_prefix_length",
    "attribution_gap",
    "estimate_sequence_bytes",
    "model_flops_per_token",
]
