"""Fine-tuning strategies: which weights train and in what precision the base is held.

- ``fft``: full fine-tuning, every weight trainable, base in full precision.
- ``lora``: frozen full-precision base + LoRA adapters (peft).
- ``qlora``: frozen 4-bit NF4 base (bitsandbytes, double quantisation) + LoRA adapters; the
  base is quantised while loading from the cached safetensors folder, so FFT/LoRA/QLoRA of a
  size start from byte-identical weights.

:data:`STRATEGIES` is the one table of strategies: what each needs (adapters or full weights,
a quantised base) and so which settings keys ``training.strategies.<name>.settings`` must give.
The values live in conf/ only (docs/configuration.md); adding a strategy (e.g. DoRA: LoRA
adapters with ``use_dora``) is one entry here plus its conf block.

The prepared model carries ``rulelens_info`` (strategy, base location, quantisation) so a
checkpoint can record how to rebuild it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Mapping

from rulelens.modeling.base_models import BaseModelSpec, count_parameters, load_base_model, torch_dtype

logger = logging.getLogger(__name__)

SEED_SETTINGS = ("seed",)  # adapter init seed; checkpointing is a trainer setting
ADAPTER_SETTINGS = ("r", "alpha", "dropout", "target_modules", "bias")  # LoraConfig
QUANT_SETTINGS = ("quant_type", "double_quant", "compute_dtype")  # BitsAndBytesConfig, kept with checkpoints


@dataclass(frozen=True)
class StrategySpec:
    """What one fine-tuning strategy needs; its settings come from ``training.strategies.<name>.settings``."""

    name: str
    adapters: bool  # True: frozen base + LoRA-family adapters (peft); False: every weight trains
    quantised: bool = False  # base loaded 4-bit (bitsandbytes); only adapters can train on it
    adapter_options: Mapping[str, Any] = field(default_factory=dict)  # fixed LoraConfig options, e.g. use_dora

    def __post_init__(self) -> None:
        if self.quantised and not self.adapters:
            raise ValueError(f"{self.name}: a quantised base cannot be fully fine-tuned; it needs adapters")

    @property
    def settings_keys(self) -> tuple[str, ...]:
        """The settings keys this strategy takes, every one required."""
        return SEED_SETTINGS + (ADAPTER_SETTINGS if self.adapters else ()) + (QUANT_SETTINGS if self.quantised else ())


STRATEGIES: dict[str, StrategySpec] = {
    spec.name: spec
    for spec in (
        StrategySpec("fft", adapters=False),
        StrategySpec("lora", adapters=True),
        StrategySpec("qlora", adapters=True, quantised=True),
    )
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


def strategy_spec(strategy: str) -> StrategySpec:
    """The registry entry of ``strategy``; an unknown name is an error naming the registered ones."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {tuple(STRATEGIES)}, got {strategy!r}")
    return STRATEGIES[strategy]


def strategy_settings(strategy: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """``params`` checked against the registry: unknown keys are errors so a typo cannot change nothing
    silently, and missing keys are errors because the defaults live in conf/ only."""
    allowed = strategy_spec(strategy).settings_keys
    params = dict(params or {})
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(f"unknown {strategy} parameter(s) {unknown}; allowed: {sorted(allowed)}")
    missing = [key for key in allowed if key not in params]
    if missing:
        raise ValueError(
            f"{strategy} parameter(s) {missing} not set; training.strategies.{strategy}.settings "
            f"in parameters_training.yml needs every one of {list(allowed)}"
        )
    return {key: params[key] for key in allowed}


def lora_config(settings: Mapping[str, Any], **options: Any):
    """peft LoraConfig for a causal LM from checked settings and the strategy's fixed adapter options."""
    from peft import LoraConfig

    return LoraConfig(
        task_type="CAUSAL_LM",
        r=int(settings["r"]),
        lora_alpha=float(settings["alpha"]),
        lora_dropout=float(settings["dropout"]),
        target_modules=list(settings["target_modules"]),
        bias=settings["bias"],
        **options,
    )


def quantization_config(settings: Mapping[str, Any]):
    """4-bit NF4 BitsAndBytesConfig (double quantisation, compute dtype from settings)."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=settings["quant_type"],
        bnb_4bit_use_double_quant=bool(settings["double_quant"]),
        bnb_4bit_compute_dtype=torch_dtype(settings["compute_dtype"]),
    )


def quantization_record(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The quantisation settings as plain JSON, stored with checkpoints to reload the same base."""
    return {key: settings[key] for key in QUANT_SETTINGS}


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


def add_lora(model: Any, settings: Mapping[str, Any], **options: Any):
    """Wrap ``model`` with seeded LoRA adapters; only adapter weights stay trainable."""
    import torch
    from peft import get_peft_model

    torch.manual_seed(int(settings["seed"]))
    return get_peft_model(model, lora_config(settings, **options))


def train_every_weight(model: Any) -> Any:
    """Full fine-tuning: every weight of ``model`` trainable."""
    for param in model.parameters():
        param.requires_grad_(True)
    return model


def _load_for_strategy(spec: BaseModelSpec, strategy: StrategySpec, settings: Mapping[str, Any]):
    if not strategy.quantised:
        return load_base_model(spec)
    from peft import prepare_model_for_kbit_training

    model, tokenizer = load_base_model(spec, quantization_config=quantization_config(settings))
    disable_cpu_4bit_repacking(model)
    # Casts norms/embeddings to fp32 and enables input grads. Activation checkpointing is left to the
    # trainer's gradient_checkpointing flag, so there is one switch for all strategies.
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return model, tokenizer


def prepare_for_strategy(
    spec: BaseModelSpec | Mapping[str, Any], strategy: str, params: Mapping[str, Any] | None = None
) -> PreparedModel:
    """Load the base model of ``spec`` and make it trainable the way ``strategy`` prescribes."""
    spec = BaseModelSpec.from_params(spec)
    settings = strategy_settings(strategy, params)
    needs = strategy_spec(strategy)
    model, tokenizer = _load_for_strategy(spec, needs, settings)
    base_location = str(getattr(model, "name_or_path", "") or spec.cache_folder)
    base_params = count_parameters(model)
    model = add_lora(model, settings, **needs.adapter_options) if needs.adapters else train_every_weight(model)
    model.train()
    info = {
        "strategy": strategy,
        "base_location": base_location,
        "size_name": spec.size_name,
        "quantization": quantization_record(settings) if needs.quantised else None,
    }
    model.rulelens_info = info
    prepared = PreparedModel(
        model=model,
        tokenizer=tokenizer,
        strategy=strategy,
        base_location=base_location,
        base_params=base_params,
        total_params=count_parameters(model),
        trainable_params=count_parameters(model, trainable_only=True),
        settings=settings,
    )
    logger.info(
        "Prepared %s/%s: %s total, %s trainable parameters",
        spec.size_name,
        strategy,
        f"{prepared.total_params:,}",
        f"{prepared.trainable_params:,}",
    )
    return prepared
