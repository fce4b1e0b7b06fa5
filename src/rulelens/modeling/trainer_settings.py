"""The trainer settings of a variant: the ``training.trainer`` block with its strategy's keys, read strictly.

Every key and default lives in ``conf/base/parameters_training.yml`` (docs/configuration.md).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from rulelens.param_blocks import ParameterError, check_block

logger = logging.getLogger(__name__)


TRAINER_SOURCE = "conf/base/parameters_training.yml"  # declares every key of training.trainer


@dataclass(frozen=True)
class TrainerSettings:
    """Training parameters: every key of ``training.trainer`` (``conf/base/parameters_training.yml``).

    The values live in conf/ only: a missing key or an unknown one stops the run naming it.
    """

    max_length: int | str  # "auto": the shortest length covering max_length_coverage of the training rows
    max_length_coverage: float  # share of training rows "auto" keeps (longer rows are left out and counted)
    max_length_cap: int | None  # upper bound of "auto" (memory)
    epochs: float
    max_steps: int  # > 0 overrides epochs
    learning_rate: float
    batch_size: int
    eval_batch_size: int | None  # default: batch_size
    gradient_accumulation_steps: int
    weight_decay: float
    warmup_steps: float  # < 1: fraction of the training steps
    lr_scheduler: str
    max_grad_norm: float
    logging_steps: int
    eval_strategy: str  # "epoch", "steps" or "no"
    eval_steps: int | None
    eval_on_start: bool  # a step-0 validation loss, the baseline every curve starts from
    early_stopping_patience: int | None  # stop after this many evaluations without improvement
    early_stopping_threshold: float  # improvement (nats per rule token) that counts as one
    load_best: bool  # keep the checkpoint with the lowest validation loss (implied by early stopping)
    batching: str  # "padded" (right-padded rows) or "flattened" (one padding-free sequence per batch)
    group_by_length: bool  # batches of similar length (less padding), shuffled by the seed
    rule_logits_only: bool  # vocabulary logits only where the loss is taken (same loss, less compute)
    save_strategy: str  # "epoch", "steps", "best" (when the validation loss improves) or "no"
    save_steps: int | None
    save_total_limit: int | None
    resume: bool  # continue from the last checkpoint in output_dir when there is one
    seed: int
    gradient_checkpointing: bool  # GPU profile: trade compute for memory
    bf16: bool  # GPU profile
    optim: str  # TrainingArguments optim: adamw_torch | adamw_bnb_8bit | paged_adamw_8bit | ...
    fsdp: str  # sharded FFT under accelerate/torchrun: "full_shard auto_wrap" (+ " offload": CPU offload)
    fsdp_config: dict | None  # e.g. {transformer_layer_cls_to_wrap: [Qwen2DecoderLayer]}
    ddp_backend: str | None  # nccl on GPUs, gloo on CPUs (None: the Trainer's choice)
    clause_column: str
    rule_column: str
    max_train_examples: int | None  # first N rows (after dropping over-long ones)
    max_eval_examples: int | None
    disable_tqdm: bool

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | TrainerSettings | None) -> TrainerSettings:
        """Settings from a complete ``training.trainer`` block (a strategy's trainer keys merged over it)."""
        if isinstance(params, TrainerSettings):
            return params
        if isinstance(params, Mapping) and "learning_rate" not in params:
            raise ParameterError(
                "training.trainer.learning_rate is not set: there is no shared one, each strategy sets its own "
                f"(training.strategies.<strategy>.trainer.learning_rate in {TRAINER_SOURCE})"
            )
        check_block(params, "training.trainer", [f.name for f in fields(cls)], TRAINER_SOURCE)
        settings = cls(**params)
        settings.check()
        return settings

    def check(self) -> None:
        """Reject combinations the Trainer would only fail on (or silently ignore) later."""
        if not (self.max_length == "auto" or (isinstance(self.max_length, int) and self.max_length > 0)):
            raise ValueError(f"trainer.max_length must be a positive integer or 'auto', got {self.max_length!r}")
        if not 0 < self.max_length_coverage <= 1:
            raise ValueError(f"trainer.max_length_coverage must be in (0, 1], got {self.max_length_coverage}")
        if self.batching not in ("padded", "flattened"):
            raise ValueError(f"trainer.batching must be 'padded' or 'flattened', got {self.batching!r}")
        if self.early_stopping_patience is not None:
            if self.early_stopping_patience < 1:
                raise ValueError("trainer.early_stopping_patience must be >= 1 (or null: no early stopping)")
            if self.eval_strategy == "no":
                raise ValueError("trainer.early_stopping_patience needs evaluations: set eval_strategy to steps")
            if self.max_steps <= 0:
                raise ValueError("trainer.early_stopping_patience needs a step cap: set trainer.max_steps > 0")

    @property
    def keeps_best(self) -> bool:
        return self.load_best or self.early_stopping_patience is not None
