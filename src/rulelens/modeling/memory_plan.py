"""Memory plan before training: will a strategy x size variant fit the devices present?

Peak training memory of a variant, in bytes (docs/configuration.md, "Running at the published
scale", has the formulas and a hand calculation):

- weights: every base parameter at the weights' bytes (2 for bf16/fp16, 4 for fp32); QLoRA: the
  quantised linear weights at 0.5 byte + quantisation constants (fp32 absmax per 64-block:
  0.0625 byte/param; with double quantisation 0.127 bit = 0.0159 byte/param), the rest
  (embeddings, norms: ``prepare_model_for_kbit_training`` casts them to fp32) at 4 bytes;
  LoRA/QLoRA adapters at 4 bytes (peft keeps them fp32).
- gradients: trainable parameters at their own bytes (FFT: the weights' dtype; adapters: fp32).
- master copy: mixed precision with 16-bit weights keeps an fp32 copy of every trainable
  parameter (4 bytes); fp32 weights are their own master.
- optimizer state: AdamW two fp32 moments (8 bytes per trainable parameter); 8-bit optimizers
  (``adamw_bnb_8bit``, ``paged_adamw_8bit``, ...) 2 bytes; ``paged_*`` optimizers can spill their
  state to CPU memory under pressure (counted here anyway); SGD 0, Adafactor ~4.
- activations: per decoder layer, Korthikanti et al. (2022) for 16-bit activations,
  ``s*b*h*(34 + 5*a*s/h)`` bytes (s: max_length, b: batch, h: hidden, a: heads), scaled by
  act_bytes/2; with gradient checkpointing only each layer's input (``2*s*b*h`` bytes in 16-bit)
  is kept plus one layer recomputed at a time; plus fp32 logits and their gradient
  (``2*4*s*b*vocab``).
- sharding over N devices (FSDP full shard / ZeRO-3) divides weights, gradients, master copy and
  optimizer state by N (activations are per device); CPU offload moves gradients, master copy
  and optimizer state (and the FFT weights' shards) to CPU memory.

So full fine-tuning in bf16 mixed precision with AdamW costs 2 + 2 + 4 + 8 = 16 bytes per
parameter: 112 GB for a 7B model before activations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any, Mapping

from rulelens.modeling.strategies import STRATEGIES
from rulelens.param_blocks import check_block

GB = 1e9
QUANT_BYTES = 0.5  # NF4: 4 bits per weight
QUANT_CONSTANTS = {False: 4 / 64, True: 0.127 / 8}  # bytes/param: fp32 absmax per 64 weights; double quantised
ADAPTER_BYTES = 4  # peft keeps LoRA weights in fp32
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
MEMORY_PLAN_BLOCK = "training.memory_plan"
MEMORY_PLAN_SOURCE = "conf/base/parameters_training.yml"  # declares every key of training.memory_plan


@dataclass(frozen=True)
class MemoryPlanSettings:
    """Every key of ``training.memory_plan`` (``conf/base/parameters_training.yml``); the values live in conf/ only."""

    check: bool  # false: no plan, no stop
    headroom: float  # share of a device's memory the plan may use (CUDA context, fragmentation, workspaces)
    available_gb: float | None  # memory per device to plan against; None: measured

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | MemoryPlanSettings) -> MemoryPlanSettings:
        if isinstance(params, MemoryPlanSettings):
            return params
        check_block(params, MEMORY_PLAN_BLOCK, [f.name for f in fields(cls)], MEMORY_PLAN_SOURCE)
        available = params["available_gb"]
        return cls(
            check=bool(params["check"]),
            headroom=float(params["headroom"]),
            available_gb=None if available is None else float(available),
        )

    @property
    def available_bytes(self) -> float | None:
        """``available_gb`` in bytes (None or 0: measure the devices)."""
        return self.available_gb * GB if self.available_gb else None


def optimizer_bytes(optim: str) -> float:
    """Optimizer state bytes per trainable parameter for a TrainingArguments ``optim`` name."""
    name = str(optim or "adamw_torch").lower()
    if "8bit" in name:
        return 2.0
    if name.startswith("sgd"):
        return 0.0
    if "adafactor" in name:
        return 4.0
    return 8.0  # AdamW and friends: two fp32 moments


@dataclass(frozen=True)
class ModelShape:
    """What the plan needs of a model: its parameter count and transformer dimensions."""

    n_params: int
    hidden_size: int
    num_layers: int
    num_heads: int
    vocab_size: int
    intermediate_size: int | None = None
    num_kv_heads: int | None = None
    tied_embeddings: bool = False

    @property
    def embedding_params(self) -> int:
        return self.vocab_size * self.hidden_size * (1 if self.tied_embeddings else 2)

    @property
    def linear_params(self) -> int:
        """Parameters in the decoder layers' linear projections (what QLoRA quantises)."""
        return max(0, self.n_params - self.embedding_params - (2 * self.num_layers + 1) * self.hidden_size)

    @classmethod
    def from_config(cls, config: Any, n_params: int | None = None) -> ModelShape:
        text = config.get_text_config() if hasattr(config, "get_text_config") else config
        hidden, layers = int(text.hidden_size), int(text.num_hidden_layers)
        heads = int(text.num_attention_heads)
        inter = int(getattr(text, "intermediate_size", None) or 4 * hidden)
        kv = int(getattr(text, "num_key_value_heads", None) or heads)
        vocab = int(text.vocab_size)
        tied = bool(getattr(text, "tie_word_embeddings", False))
        if n_params is None:  # Llama/Qwen layout: attention + SwiGLU MLP + two norms per layer
            head_dim = getattr(text, "head_dim", None) or hidden // heads
            attention = hidden * heads * head_dim * 2 + hidden * kv * head_dim * 2
            n_params = (
                layers * (attention + 3 * hidden * inter + 2 * hidden) + hidden + vocab * hidden * (1 if tied else 2)
            )
        return cls(int(n_params), hidden, layers, heads, vocab, inter, kv, tied)


def lora_params(shape: ModelShape, r: int, target_modules: list[str] | None = None) -> int:
    """Adapter parameters: r x (in + out) per targeted projection per layer (Llama/Qwen names)."""
    h, i = shape.hidden_size, shape.intermediate_size or 4 * shape.hidden_size
    kv = (shape.num_kv_heads or shape.num_heads) * (h // shape.num_heads)
    sizes = {
        "q_proj": (h, h),
        "k_proj": (h, kv),
        "v_proj": (h, kv),
        "o_proj": (h, h),
        "gate_proj": (h, i),
        "up_proj": (h, i),
        "down_proj": (i, h),
    }
    targets = target_modules or list(sizes)
    return int(shape.num_layers * sum(r * (a + b) for name, (a, b) in sizes.items() if name in targets))


@dataclass(frozen=True)
class TrainingSetup:
    """The training options the plan depends on (from strategy + trainer settings)."""

    strategy: str = "fft"
    weights_dtype: str = "float32"
    mixed_precision: bool = False  # trainer bf16/fp16
    optim: str = "adamw_torch"
    gradient_checkpointing: bool = False
    max_length: int = 256
    batch_size: int = 4
    lora_r: int = 16
    lora_targets: tuple[str, ...] | None = None
    double_quant: bool = True
    n_shards: int = 1  # FSDP full shard / ZeRO-3 over this many devices
    cpu_offload: bool = False


@dataclass(frozen=True)
class MemoryPlan:
    """Estimated peak bytes per device, by component, against the memory available."""

    setup: TrainingSetup
    components: dict[str, float]
    available_bytes: float
    device: str
    headroom: float
    trainable_params: int = 0
    offloaded_bytes: float = 0.0
    fixes: list[str] = field(default_factory=list)

    @property
    def peak_bytes(self) -> float:
        return float(sum(self.components.values()))

    @property
    def fits(self) -> bool:
        return self.peak_bytes <= self.available_bytes * self.headroom

    def summary(self) -> str:
        parts = ", ".join(f"{k} {v / GB:.2f}" for k, v in self.components.items())
        return (
            f"{self.setup.strategy}: estimated peak {self.peak_bytes / GB:.2f} GB per device ({parts}) "
            f"against {self.available_bytes / GB:.2f} GB x {self.headroom} usable on {self.device}"
        )


def activation_bytes(shape: ModelShape, setup: TrainingSetup) -> float:
    """Activations kept for the backward pass at max_length x batch (see the module docstring)."""
    s, b, h, a = setup.max_length, setup.batch_size, shape.hidden_size, shape.num_heads
    scale = (2 if setup.mixed_precision or setup.weights_dtype != "float32" else 4) / 2
    per_layer = s * b * h * (34 + 5 * a * s / h) * scale
    if setup.gradient_checkpointing:
        layers = shape.num_layers * 2 * s * b * h * scale + per_layer  # layer inputs + one recomputed layer
    else:
        layers = shape.num_layers * per_layer
    logits = 2 * 4 * s * b * shape.vocab_size
    return float(layers + logits)


def plan_components(shape: ModelShape, setup: TrainingSetup) -> tuple[dict[str, float], int, float]:
    """(bytes per device by component, trainable parameters, bytes offloaded to CPU)."""
    w = DTYPE_BYTES[setup.weights_dtype]
    needs = STRATEGIES[setup.strategy]
    if not needs.adapters:
        trainable = shape.n_params
        weights = shape.n_params * w
        grads = trainable * w
        master = trainable * 4 if (setup.mixed_precision and w < 4) else 0
    else:
        trainable = lora_params(shape, setup.lora_r, list(setup.lora_targets) if setup.lora_targets else None)
        if needs.quantised:
            rest = shape.n_params - shape.linear_params
            base = shape.linear_params * (QUANT_BYTES + QUANT_CONSTANTS[bool(setup.double_quant)]) + rest * 4
        else:
            base = shape.n_params * w
        weights = base + trainable * ADAPTER_BYTES
        grads = trainable * ADAPTER_BYTES
        master = 0
    optimizer = trainable * optimizer_bytes(setup.optim)
    n = max(1, setup.n_shards)
    components = {
        "weights": weights / n,
        "gradients": grads / n,
        "master_copy": master / n,
        "optimizer": optimizer / n,
        "activations": activation_bytes(shape, setup),
    }
    offloaded = 0.0
    if setup.cpu_offload:
        for key in ("gradients", "master_copy", "optimizer") + (() if needs.adapters else ("weights",)):
            offloaded += components[key]
            components[key] = 0.0
    return components, trainable, offloaded


def device_memory(placement_device: str | None = None) -> tuple[float, int, str]:
    """(bytes per device, number of devices, description): CUDA totals, or available RAM on CPU."""
    import torch

    if torch.cuda.is_available() and not (placement_device or "").startswith("cpu"):
        count = torch.cuda.device_count()
        totals = [torch.cuda.get_device_properties(i).total_memory for i in range(count)]
        return float(min(totals)), count, f"{count} x {torch.cuda.get_device_name(0)}"
    import psutil

    return float(psutil.virtual_memory().available), 1, "CPU (available RAM)"


def plan(
    shape: ModelShape,
    setup: TrainingSetup,
    available_bytes: float,
    device: str = "device",
    n_devices: int = 1,
    *,
    headroom: float,
) -> MemoryPlan:
    """The plan of ``setup`` and, when it does not fit, the single options that make it fit."""
    components, trainable, offloaded = plan_components(shape, setup)
    result = MemoryPlan(setup, components, float(available_bytes), device, headroom, trainable, offloaded)
    if result.fits:
        return result
    fixes = []
    usable = available_bytes * headroom

    def fits(changed: TrainingSetup) -> bool:
        return sum(plan_components(shape, changed)[0].values()) <= usable

    if not setup.gradient_checkpointing and fits(replace(setup, gradient_checkpointing=True)):
        fixes.append("gradient checkpointing (trainer.gradient_checkpointing: true)")
    if optimizer_bytes(setup.optim) > 2 and fits(replace(setup, optim="paged_adamw_8bit")):
        fixes.append("an 8-bit / paged optimizer (trainer.optim: paged_adamw_8bit or adamw_bnb_8bit)")
    both = replace(setup, gradient_checkpointing=True, optim="paged_adamw_8bit")
    if not fixes and fits(both):
        fixes.append("gradient checkpointing together with an 8-bit optimizer")
    if not setup.cpu_offload and fits(replace(both, cpu_offload=True)):
        fixes.append("CPU offload (trainer.fsdp: 'full_shard auto_wrap offload', with gradient checkpointing)")
    for shards in range(max(2, setup.n_shards + 1), 65):
        if fits(replace(setup, n_shards=shards, gradient_checkpointing=True)):
            have = f"; {n_devices} present" if n_devices else ""
            fixes.append(
                f"sharding over {shards} GPUs (FSDP full shard: trainer.fsdp: 'full_shard auto_wrap', "
                f"launched with accelerate/torchrun{have})"
            )
            break
    if not STRATEGIES[setup.strategy].quantised and fits(replace(setup, strategy="qlora", gradient_checkpointing=True)):
        fixes.append("QLoRA (4-bit base + LoRA adapters) instead of " + setup.strategy.upper())
    return replace(result, fixes=fixes)


class MemoryPlanError(RuntimeError):
    """A variant cannot fit the devices present; raised before any training."""


def planned_length(trainer: Mapping[str, Any]) -> int:
    """The sequence length to plan memory for: ``max_length``, or for ``auto`` (sized on the data
    later) its cap, the longest it can become."""
    length = trainer.get("max_length", 256)
    if length != "auto":
        return int(length)
    cap = trainer.get("max_length_cap")
    if not cap:
        raise ValueError(
            "training.trainer.max_length is auto without max_length_cap: set a cap so that the "
            "memory plan (and the batches) have an upper bound"
        )
    return int(cap)


def setup_from_settings(
    strategy: str,
    base_model: Mapping[str, Any],
    strategy_params: Mapping[str, Any],
    trainer: Mapping[str, Any],
    n_processes: int = 1,
) -> TrainingSetup:
    """A :class:`TrainingSetup` from a variant's settings (rulelens.variant_grid)."""
    fsdp = str(trainer.get("fsdp") or "")
    shards = n_processes if ("full_shard" in fsdp or "shard_grad_op" in fsdp) else 1
    return TrainingSetup(
        strategy=strategy,
        weights_dtype=str(base_model.get("dtype") or "float32"),
        mixed_precision=bool(trainer.get("bf16") or trainer.get("fp16")),
        optim=str(trainer.get("optim") or "adamw_torch"),
        gradient_checkpointing=bool(trainer.get("gradient_checkpointing")),
        max_length=planned_length(trainer),
        batch_size=int(trainer.get("batch_size", 4)),
        lora_r=int(strategy_params.get("r", 16)),
        lora_targets=tuple(strategy_params["target_modules"]) if strategy_params.get("target_modules") else None,
        double_quant=bool(strategy_params.get("double_quant", True)),
        n_shards=shards,
        cpu_offload="offload" in fsdp,
    )


def check_variant(
    namespace: str,
    shape: ModelShape,
    setup: TrainingSetup,
    *,
    device: str | None = None,
    headroom: float,
    available_bytes: float | None = None,
) -> MemoryPlan:
    """Raise :class:`MemoryPlanError` naming the options that make it fit, when ``setup`` does not fit."""
    per_device, count, described = device_memory(device)
    if available_bytes is not None:
        per_device = float(available_bytes)
    result = plan(shape, setup, per_device, described, count, headroom=headroom)
    if not result.fits:
        options = "; or ".join(result.fixes) if result.fixes else "none of the single options (use a smaller size)"
        raise MemoryPlanError(
            f"{namespace} will not fit: {result.summary()}. Options that make it fit: {options}. "
            f"(Check off with --params training.memory_plan.check=false; docs/configuration.md, "
            f"'Running at the published scale'.)"
        )
    return result


def shape_of(location: str, n_params: int | None = None, local_files_only: bool = True) -> ModelShape:
    """The :class:`ModelShape` of a model folder or hub id from its config (no weights loaded)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(location, local_files_only=local_files_only, trust_remote_code=False)
    return ModelShape.from_config(config, n_params)


def gb(value: float) -> float:
    return round(value / GB, 3) if math.isfinite(value) else value
