"""Supervised fine-tuning (clause -> rule) with the Hugging Face Trainer: the loss, the Trainer, its
arguments and checkpoints, and the one training entry point :func:`train_sft`.

Examples are tokenized with exactly the prompt functions that evaluation and attribution use
(:mod:`rulelens.prompts`): ``input_ids = prompt ids + rule ids (+ eos)`` and the loss is taken
on the rule tokens only. Over-long examples are dropped and counted, never truncated, because
a cut rule would teach the model to stop early without anyone noticing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from rulelens.modeling.sft_examples import (
    IGNORE_INDEX,
    LengthGroupedBatches,
    batch_collator,
    prepare_examples,
)
from rulelens.modeling.trainer_settings import TrainerSettings
from rulelens.modeling.training_record import (
    PeakMemory,
    _first_last,
    _loss_history_callback,
    history_frame,
    stopping_metrics,
)
from rulelens.prompts import PromptStyle

logger = logging.getLogger(__name__)


class SFTResult(NamedTuple):
    """What training returns; a tuple so a Kedro node can map it onto three outputs."""

    model: Any
    metrics: dict[str, Any]
    history: Any  # pandas DataFrame: step, epoch, split, loss


def rule_token_loss(
    model: Any, inputs: Mapping[str, Any], num_items_in_batch: Any = None, rule_logits_only: bool = True
) -> tuple[Any, Any]:
    """Next-token cross-entropy over the rule tokens, the loss the model's own ``labels`` path gives.

    With ``rule_logits_only`` the vocabulary projection runs only at the positions whose next
    token is a rule token (``logits_to_keep`` as a mask): about a third of a prompt + rule row, and
    the projection onto ~50k tokens is a large share of a small model's compute. ``use_cache`` is
    off so that a flattened batch gets its per-example attention mask from the position ids.
    """
    import torch
    import torch.nn.functional as F

    labels = inputs["labels"]
    forward = {key: value for key, value in inputs.items() if key != "labels"}
    next_is_rule = torch.zeros_like(labels, dtype=torch.bool)
    next_is_rule[..., :-1] = labels[..., 1:] != IGNORE_INDEX
    if rule_logits_only:
        outputs = model(**forward, logits_to_keep=next_is_rule, use_cache=False)
        logits, targets = outputs.logits, labels[..., 1:][next_is_rule[..., :-1]]
    else:
        outputs = model(**forward, use_cache=False)
        logits, targets = outputs.logits[..., :-1, :], labels[..., 1:]
    logits = logits.reshape(-1, logits.shape[-1]).float()
    loss = F.cross_entropy(logits, targets.reshape(-1).to(logits.device), ignore_index=IGNORE_INDEX, reduction="sum")
    divisor = num_items_in_batch if num_items_in_batch is not None else (targets != IGNORE_INDEX).sum()
    return loss / divisor, outputs


def sft_trainer_class():
    """The Hugging Face Trainer with the rule-token loss and length-grouped batches."""
    from transformers import Trainer

    class RuleSFTTrainer(Trainer):
        def __init__(self, *args: Any, rule_logits_only: bool = True, group_by_length: bool = False, **kwargs: Any):
            self.rule_logits_only, self.group_by_length = rule_logits_only, group_by_length
            super().__init__(*args, **kwargs)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss, outputs = rule_token_loss(model, inputs, num_items_in_batch, self.rule_logits_only)
            return (loss, outputs) if return_outputs else loss

        def _get_train_sampler(self, train_dataset=None):
            dataset = train_dataset if train_dataset is not None else self.train_dataset
            if not self.group_by_length or self.args.world_size > 1:
                return super()._get_train_sampler(train_dataset)
            return LengthGroupedBatches(
                [len(e["input_ids"]) for e in dataset],
                self.args.train_batch_size * self.args.gradient_accumulation_steps,
                self.args.seed,
            )

    return RuleSFTTrainer


TRAINER_STATE = "trainer_state.json"  # the Trainer writes it last into a checkpoint-N folder


def last_checkpoint(output_dir: str | Path) -> str | None:
    """The newest *complete* ``checkpoint-N`` folder in output_dir, or None.

    A process killed while the Trainer saves leaves a ``checkpoint-N`` without its state file;
    resuming from it would fail, so such folders are removed (with a warning) and the newest
    complete one is used.
    """
    import re
    import shutil

    folder = Path(output_dir)
    if not folder.is_dir():
        return None
    numbered = [
        (int(m.group(1)), p)
        for p in folder.iterdir()
        if p.is_dir() and (m := re.fullmatch(r"checkpoint-(\d+)", p.name))
    ]
    for _, path in sorted(numbered, reverse=True):
        if (path / TRAINER_STATE).is_file():
            return str(path)
        logger.warning("Removing the incomplete Trainer checkpoint %s (interrupted while saving)", path)
        shutil.rmtree(path, ignore_errors=True)
    return None


def training_arguments(
    settings: TrainerSettings, output_dir: str | Path, has_eval: bool, resuming: bool, use_cpu: bool = False
):
    """TrainingArguments from settings; reporting is off (the Kedro/MLflow layer logs).

    ``use_cpu``: train on the CPU even where CUDA is available (``placement.device: cpu``).
    ``fsdp``/``fsdp_config``/``optim``/``ddp_backend`` pass through: under ``accelerate launch``
    or ``torchrun`` the Trainer shards (FSDP) or replicates (DDP) the model over the processes.
    """
    from transformers import TrainingArguments

    eval_strategy = settings.eval_strategy if has_eval else "no"
    keep_best = settings.keeps_best and has_eval
    if settings.early_stopping_patience is not None and not has_eval:
        raise ValueError("trainer.early_stopping_patience needs validation rows (the split has none left)")
    # Keeping the best checkpoint: save_strategy "best" writes one only when the validation loss
    # improves; "steps" (every save_steps, a multiple of eval_steps) also keeps the latest for resuming.
    best = (
        {"load_best_model_at_end": True, "metric_for_best_model": "eval_loss", "greater_is_better": False}
        if keep_best
        else {}
    )
    if keep_best:
        save_strategy = "best" if settings.save_strategy == "no" else settings.save_strategy  # the best needs a save
    else:
        save_strategy = "no" if settings.save_strategy == "best" else settings.save_strategy
    sharding: dict[str, Any] = {"fsdp": settings.fsdp} if settings.fsdp else {}
    if settings.fsdp and settings.fsdp_config is not None:
        sharding["fsdp_config"] = dict(settings.fsdp_config)
    return TrainingArguments(
        optim=settings.optim,
        ddp_backend=settings.ddp_backend,
        use_cpu=use_cpu,
        **sharding,
        output_dir=str(output_dir),
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps,
        learning_rate=settings.learning_rate,
        per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=settings.eval_batch_size or settings.batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        weight_decay=settings.weight_decay,
        warmup_steps=settings.warmup_steps,
        lr_scheduler_type=settings.lr_scheduler,
        max_grad_norm=settings.max_grad_norm,
        logging_strategy="steps",
        logging_steps=settings.logging_steps,
        eval_strategy=eval_strategy,
        eval_steps=settings.eval_steps,
        eval_on_start=bool(settings.eval_on_start and has_eval and not resuming),
        save_strategy=save_strategy,
        save_steps=settings.save_steps,
        **best,
        save_total_limit=settings.save_total_limit,
        prediction_loss_only=True,
        seed=settings.seed,
        data_seed=settings.seed,
        activation_checkpointing=settings.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if settings.gradient_checkpointing else None,
        bf16=settings.bf16,
        include_num_input_tokens_seen="non_padding",
        report_to="none",
        remove_unused_columns=False,
        disable_tqdm=settings.disable_tqdm,
        dataloader_num_workers=0,
    )


def _run_metrics(
    trainer: Any, history: Any, memory: PeakMemory, wall_time: float, eval_time: float, frame: Any
) -> dict[str, Any]:
    """Cost and loss figures of one train() call (tokens/s over optimisation time, evals subtracted)."""
    tokens = int(trainer.state.num_input_tokens_seen - history.tokens_at_start)
    metrics = {
        "global_step": int(trainer.state.global_step),
        "epochs_trained": float(trainer.state.epoch or 0.0),
        "wall_time_s": wall_time,
        "eval_time_s": eval_time,
        "train_tokens": tokens,
        "tokens_per_s": tokens / max(wall_time - eval_time, 1e-9),
        "peak_rss_mb": memory.peak_rss / 2**20,
        **_first_last(frame, "train"),
        **_first_last(frame, "validation"),
    }
    if memory.cuda_peak is not None:
        metrics["cuda_peak_mb"] = memory.cuda_peak / 2**20
    return metrics


def train_sft(
    model: Any,
    train_frame: Any,
    validation_frame: Any,
    params: Mapping[str, Any] | None,
    output_dir: str | Path,
    prompt_style: PromptStyle | Mapping[str, Any] | None = None,
    tokenizer: Any = None,
    callbacks: list[Any] | None = None,
    use_cpu: bool | None = None,
) -> SFTResult:
    """Fine-tune ``model`` (a PreparedModel or a model + ``tokenizer``) on clause/rule frames.

    Checkpoints go to ``output_dir``; when ``resume`` is on and a checkpoint exists there,
    training continues from the newest one. Extra Trainer ``callbacks`` (e.g. live MLflow
    logging) are passed through. ``use_cpu`` (default: the run's placement is the CPU) keeps
    training off a GPU. Returns the trained model, metrics and loss history.

    Under a multi-process launch every rank trains; with FSDP the full weights are gathered
    once after training (a collective) and the returned model is the unsharded one on the main
    process (the checkpoint dataset saves on rank 0 only).
    """
    from transformers import set_seed

    settings = TrainerSettings.from_params(params)
    style = prompt_style if isinstance(prompt_style, PromptStyle) else PromptStyle.from_params(prompt_style)
    prepared = model if hasattr(model, "trainable_params") else None
    if prepared is not None:
        model, tokenizer = prepared.model, prepared.tokenizer
    if tokenizer is None:
        raise ValueError("train_sft needs a tokenizer (pass a PreparedModel or tokenizer=...)")
    train_examples, eval_examples, counts = prepare_examples(train_frame, validation_frame, tokenizer, style, settings)

    resume_from = last_checkpoint(output_dir) if settings.resume else None
    if resume_from:
        logger.info("Resuming training from %s", resume_from)
    if use_cpu is None:
        from rulelens.modeling.placement import run_placement

        use_cpu = not run_placement().is_cuda
    set_seed(settings.seed)
    history = _loss_history_callback()
    stopping = early_stopping_callback(settings) if eval_examples else None
    trainer = sft_trainer_class()(
        rule_logits_only=settings.rule_logits_only,
        group_by_length=settings.group_by_length,
        model=model,
        args=training_arguments(settings, output_dir, bool(eval_examples), bool(resume_from), use_cpu),
        data_collator=batch_collator(settings, tokenizer),
        train_dataset=train_examples,
        eval_dataset=eval_examples or None,
        processing_class=tokenizer,
        callbacks=[history, *([stopping] if stopping else []), *(callbacks or [])],
    )
    if settings.fsdp and not getattr(trainer, "is_fsdp_enabled", False):
        logger.warning(
            "trainer.fsdp=%r is set but accelerate runs %s (on CPUs accelerate replicates with DDP; "
            "FSDP shards only over GPUs)",
            settings.fsdp,
            getattr(getattr(trainer.accelerator, "state", None), "distributed_type", "no distribution"),
        )
    with PeakMemory() as memory:
        started = time.perf_counter()
        trainer.train(resume_from_checkpoint=resume_from)
        wall_time = time.perf_counter() - started
        last_eval_step = max((r["step"] for r in history.rows if r["split"] == "validation"), default=-1)
        eval_time = history.eval_seconds  # validation passes inside train()
        if eval_examples and last_eval_step != trainer.state.global_step and not settings.keeps_best:
            trainer.evaluate()  # the curve always ends with the final model's validation loss

    model = (gather_sharded_model(trainer, output_dir) if settings.fsdp else trainer.model).eval()
    frame = history_frame(history.rows)
    metrics = {
        "total_params": prepared.total_params if prepared else _count(model),
        "trainable_params": prepared.trainable_params if prepared else _count(model, True),
        **counts,
        **_run_metrics(trainer, history, memory, wall_time, eval_time, frame),
        **stopping_metrics(trainer.state, settings, frame, stopping),
        "resumed_from": resume_from or "",
    }
    if prepared is not None:
        metrics.update(base_params=prepared.base_params, strategy=prepared.strategy)
    return SFTResult(model=model, metrics=metrics, history=frame)


def early_stopping_callback(settings: TrainerSettings):
    """HF's EarlyStoppingCallback when ``early_stopping_patience`` is set (its counter is saved with
    Trainer checkpoints, so a resumed run keeps counting), else None."""
    if settings.early_stopping_patience is None:
        return None
    from transformers import EarlyStoppingCallback

    return EarlyStoppingCallback(settings.early_stopping_patience, settings.early_stopping_threshold)


def gather_sharded_model(trainer: Any, output_dir: str | Path):
    """The full model after FSDP training: every rank joins ``save_model`` (it gathers the shards),
    the main process writes them and reloads an unsharded copy on the CPU for the checkpoint."""
    import torch

    from rulelens.modeling.placement import is_main_process

    folder = Path(output_dir) / "gathered"
    trainer.save_model(str(folder))  # collective under FSDP; only the main process writes
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
    if not is_main_process():
        return trainer.model
    model = trainer.model
    if hasattr(model, "peft_config"):  # adapters are small: DDP is the way to spread LoRA, FSDP is for FFT
        logger.warning("FSDP with a peft adapter: keeping the trainer's model; prefer DDP for LoRA/QLoRA")
        return model
    from transformers import AutoModelForCausalLM

    gathered = AutoModelForCausalLM.from_pretrained(str(folder), dtype=next(model.parameters()).dtype)
    gathered.rulelens_info = getattr(model, "rulelens_info", None)
    return gathered


def _count(model: Any, trainable_only: bool = False) -> int:
    from rulelens.modeling.base_models import count_parameters

    return count_parameters(model, trainable_only)
