"""Fine-tuning strategies: which weights train and in what precision the base is held.

- ``fft``: full fine-tuning, every weight trainable, base in full precision.
- ``lora``: frozen full-precision base + LoRA adapters (peft).
- ``qlora``: frozen 4-bit NF4 base (bitsandbytes, double quantisation) + LoRA adapters; the
  base is quantised while loading from the cached safetensors folder, so FFT/LoRA/QLoRA of a
  size start from byte-identical weights.

The prepared model carries ``rulelens_info`` (strategy, base location, quantisation) so a
checkpoint can record how to rebuild it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Mapping

from rulelens.modeling.base_models import BaseModelSpec, count_parameters, load_base_model, torch_dtype

logger = logging.getLogger(__name__)

STRATEGIES = ("fft", "lora", "qlora")
LLAMA_LINEAR_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
LORA_DEFAULTS: dict[str, Any] = {
    "r": 16, "alpha": 32, "dropout": 0.05, "target_modules": LLAMA_LINEAR_MODULES, "bias": "none",
}
QUANT_DEFAULTS: dict[str, Any] = {"quant_type": "nf4", "double_quant": True, "compute_dtype": "float32"}
COMMON_DEFAULTS: dict[str, Any] = {"seed": 0}  # adapter init seed; checkpointing is a trainer setting
ALLOWED_KEYS = {
    "fft": set(COMMON_DEFAULTS),
    "lora": set(COMMON_DEFAULTS) | set(LORA_DEFAULTS),
    "qlora": set(COMMON_DEFAULTS) | set(LORA_DEFAULTS) | set(QUANT_DEFAULTS),
}


@dataclass
class PreparedModel:
    """A model ready for training under one strategy, with its measured parameter counts."""

    model: Any
    tokenizer: Any
    strategy: str
    base_location: str
    base_params: int
    total_params: int
    trainable_params: int
    settings: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Flat numbers for metrics/MLflow (no model objects)."""
        return {
            "strategy": self.strategy,
            "base_params": self.base_params,
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "trainable_fraction": self.trainable_params / max(self.total_params, 1),
        }


def strategy_settings(strategy: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults merged with params; unknown keys are errors so a typo cannot change nothing silently."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    params = dict(params or {})
    unknown = sorted(set(params) - ALLOWED_KEYS[strategy])
    if unknown:
        raise ValueError(f"unknown {strategy} parameter(s) {unknown}; allowed: {sorted(ALLOWED_KEYS[strategy])}")
    defaults = dict(COMMON_DEFAULTS)
    if strategy in ("lora", "qlora"):
        defaults.update(LORA_DEFAULTS)
    if strategy == "qlora":
        defaults.update(QUANT_DEFAULTS)
    return {**defaults, **params}


def lora_config(settings: Mapping[str, Any]):
    """peft LoraConfig for a causal LM from merged settings."""
    from peft import LoraConfig

    return LoraConfig(
        task_type="CAUSAL_LM", r=int(settings["r"]), lora_alpha=float(settings["alpha"]),
        lora_dropout=float(settings["dropout"]), target_modules=list(settings["target_modules"]),
        bias=settings["bias"],
    )


def quantization_config(settings: Mapping[str, Any]):
    """4-bit NF4 BitsAndBytesConfig (double quantisation, compute dtype from settings)."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type=settings["quant_type"],
        bnb_4bit_use_double_quant=bool(settings["double_quant"]),
        bnb_4bit_compute_dtype=torch_dtype(settings["compute_dtype"]),
    )


def quantization_record(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The quantisation settings as plain JSON, stored with checkpoints to reload the same base."""
    return {key: settings[key] for key in QUANT_DEFAULTS}


def disable_cpu_4bit_repacking(model: Any) -> int:
    """Keep 4-bit layers on bitsandbytes' differentiable path; returns how many layers were touched.

    On CPUs with AVX512-BF16, bitsandbytes 0.50 repacks a Linear4bit's weights in place the first
    time it runs in eval mode without grad (e.g. the Trainer's validation pass). The repacked
    layer then takes an inference-only kernel in every later call, training included, so no
    gradient flows back through the frozen 4-bit base and LoRA adapters below it silently stop
    learning (measured: attention adapters got no gradient at all). The repacked kernel also
    rounds the block scales to bf16, so evaluation would not score the function that was trained.
    """
    import bitsandbytes as bnb

    layers = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    for layer in layers:
        layer.support_avx512bf16_for_cpu = False
    return len(layers)


def add_lora(model: Any, settings: Mapping[str, Any]):
    """Wrap ``model`` with seeded LoRA adapters; only adapter weights stay trainable."""
    import torch
    from peft import get_peft_model

    torch.manual_seed(int(settings["seed"]))
    return get_peft_model(model, lora_config(settings))


def _load_for_strategy(spec: BaseModelSpec, strategy: str, settings: Mapping[str, Any]):
    if strategy != "qlora":
        return load_base_model(spec)
    from peft import prepare_model_for_kbit_training

    model, tokenizer = load_base_model(spec, quantization_config=quantization_config(settings))
    disable_cpu_4bit_repacking(model)
    # Casts norms/embeddings to fp32 and enables input grads. Activation checkpointing is left to the
    # trainer's gradient_checkpointing flag, so there is one switch for all strategies.
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return model, tokenizer


def prepare_for_strategy(spec: BaseModelSpec | Mapping[str, Any], strategy: str,
                         params: Mapping[str, Any] | None = None) -> PreparedModel:
    """Load the base model of ``spec`` and make it trainable the way ``strategy`` prescribes."""
    spec = BaseModelSpec.from_params(spec)
    settings = strategy_settings(strategy, params)
    model, tokenizer = _load_for_strategy(spec, strategy, settings)
    base_location = str(getattr(model, "name_or_path", "") or spec.cache_folder)
    base_params = count_parameters(model)
    if strategy == "fft":
        for param in model.parameters():
            param.requires_grad_(True)
    else:
        model = add_lora(model, settings)
    model.train()
    info = {"strategy": strategy, "base_location": base_location, "size_name": spec.size_name,
            "quantization": quantization_record(settings) if strategy == "qlora" else None}
    model.rulelens_info = info
    prepared = PreparedModel(
        model=model, tokenizer=tokenizer, strategy=strategy, base_location=base_location,
        base_params=base_params, total_params=count_parameters(model),
        trainable_params=count_parameters(model, trainable_only=True), settings=settings,
    )
    logger.info("Prepared %s/%s: %s total, %s trainable parameters", spec.size_name, strategy,
                f"{prepared.total_params:,}", f"{prepared.trainable_params:,}")
    return prepared
