"""Supervised fine-tuning (clause -> rule) with the Hugging Face Trainer.

Examples are tokenized with exactly the prompt functions that evaluation and attribution use
(:mod:`rulelens.prompts`): ``input_ids = prompt ids + rule ids (+ eos)`` and the loss is taken
on the rule tokens only. Over-long examples are dropped and counted, never truncated, because
a cut rule would teach the model to stop early without anyone noticing.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping, NamedTuple

from rulelens.prompts import PromptStyle, build_prompt, encode, encode_prompt, target_text

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100


@dataclass(frozen=True)
class TrainerSettings:
    """Training parameters (from ``parameters_training.yml``); unknown keys are rejected."""

    max_length: int = 256
    epochs: float = 1.0
    max_steps: int = -1  # > 0 overrides epochs
    learning_rate: float = 2e-4
    batch_size: int = 4
    eval_batch_size: int | None = None  # default: batch_size
    gradient_accumulation_steps: int = 1
    weight_decay: float = 0.0
    warmup_steps: float = 0  # < 1: fraction of the training steps
    lr_scheduler: str = "linear"
    max_grad_norm: float = 1.0
    logging_steps: int = 1
    eval_strategy: str = "epoch"  # "epoch", "steps" or "no"
    eval_steps: int | None = None
    eval_on_start: bool = True  # a step-0 validation loss, the baseline every curve starts from
    save_strategy: str = "epoch"  # "epoch", "steps" or "no"
    save_steps: int | None = None
    save_total_limit: int | None = 1
    resume: bool = True  # continue from the last checkpoint in output_dir when there is one
    seed: int = 0
    gradient_checkpointing: bool = False  # GPU profile: trade compute for memory
    bf16: bool = False  # GPU profile
    optim: str = "adamw_torch"  # TrainingArguments optim: adamw_torch | adamw_bnb_8bit | paged_adamw_8bit | ...
    fsdp: str = ""  # sharded FFT under accelerate/torchrun: "full_shard auto_wrap" (+ " offload": CPU offload)
    fsdp_config: dict | None = None  # e.g. {transformer_layer_cls_to_wrap: [Qwen2DecoderLayer]}
    ddp_backend: str | None = None  # nccl on GPUs, gloo on CPUs (None: the Trainer's choice)
    clause_column: str = "clause"
    rule_column: str = "rule"
    max_train_examples: int | None = None  # first N rows (after dropping over-long ones)
    max_eval_examples: int | None = None
    disable_tqdm: bool = True

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | TrainerSettings | None) -> TrainerSettings:
        if isinstance(params, TrainerSettings):
            return params
        params = dict(params or {})
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - allowed)
        if unknown:
            raise ValueError(f"unknown trainer parameter(s) {unknown}; allowed: {sorted(allowed)}")
        return cls(**params)


class SFTResult(NamedTuple):
    """What training returns; a tuple so a Kedro node can map it onto three outputs."""

    model: Any
    metrics: dict[str, Any]
    history: Any  # pandas DataFrame: step, epoch, split, loss


# --------------------------------------------------------------------------- examples


def encode_example(tokenizer: Any, clause: str, rule: str, style: PromptStyle = PromptStyle()) -> dict[str, list[int]]:
    """One training example: prompt + rule ids, labels masked (-100) over the prompt."""
    prompt_ids = encode_prompt(tokenizer, build_prompt(tokenizer, clause, style))
    rule_ids = encode(tokenizer, target_text(tokenizer, rule))
    return {"input_ids": prompt_ids + rule_ids, "labels": [IGNORE_INDEX] * len(prompt_ids) + rule_ids}


def tokenize_frame(frame: Any, tokenizer: Any, style: PromptStyle, max_length: int,
                   clause_column: str = "clause", rule_column: str = "rule") -> tuple[list[dict], int]:
    """Encode every row; drop (and count) examples longer than ``max_length`` instead of cutting the rule."""
    missing = {clause_column, rule_column} - set(frame.columns)
    if missing:
        raise ValueError(f"training frame lacks column(s) {sorted(missing)}; has {list(frame.columns)}")
    examples, dropped = [], 0
    for clause, rule in zip(frame[clause_column], frame[rule_column]):
        example = encode_example(tokenizer, str(clause), str(rule), style)
        if len(example["input_ids"]) > max_length:
            dropped += 1
            continue
        examples.append(example)
    if dropped:
        logger.warning("Dropped %d of %d examples longer than max_length=%d tokens", dropped, len(frame), max_length)
    return examples, dropped


@dataclass(frozen=True)
class PaddingCollator:
    """Right-pads a batch: pad id for inputs, -100 for labels, 0 in the attention mask."""

    pad_token_id: int
    pad_to_multiple_of: int | None = None

    def __call__(self, features: list[Mapping[str, list[int]]]) -> dict[str, Any]:
        import torch

        width = max(len(f["input_ids"]) for f in features)
        if self.pad_to_multiple_of:
            width = -(-width // self.pad_to_multiple_of) * self.pad_to_multiple_of
        ids, labels, mask = [], [], []
        for f in features:
            gap = width - len(f["input_ids"])
            ids.append(list(f["input_ids"]) + [self.pad_token_id] * gap)
            labels.append(list(f["labels"]) + [IGNORE_INDEX] * gap)
            mask.append([1] * len(f["input_ids"]) + [0] * gap)
        return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels), "attention_mask": torch.tensor(mask)}


def pad_token_id(tokenizer: Any) -> int:
    """Pad id for batching; the eos id when the tokenizer has no pad token (masked anyway)."""
    value = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if value is None:
        raise ValueError("tokenizer has neither a pad nor an eos token to pad batches with")
    return int(value)


# --------------------------------------------------------------------------- measuring


class PeakMemory:
    """Peak resident memory of this process while the block runs (sampled with psutil).

    Sampling in a thread gives the peak of *this* block; the kernel's lifetime high-water
    mark would carry over between variants trained in one process.
    """

    def __init__(self, interval_s: float = 0.05):
        self.interval_s = interval_s
        self.peak_rss = 0
        self.cuda_peak = None
        self._stop = threading.Event()

    def _sample(self) -> None:
        import psutil

        process = psutil.Process()
        while not self._stop.is_set():
            self.peak_rss = max(self.peak_rss, process.memory_info().rss)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakMemory:
        import torch

        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        import psutil
        import torch

        self._stop.set()
        self._thread.join()
        self.peak_rss = max(self.peak_rss, psutil.Process().memory_info().rss)
        if torch.cuda.is_available():
            self.cuda_peak = int(torch.cuda.max_memory_allocated())


def _loss_history_callback():
    """A TrainerCallback that records train loss per logging step and validation loss per eval."""
    from transformers import TrainerCallback

    class LossHistory(TrainerCallback):
        def __init__(self) -> None:
            self.rows: list[dict[str, Any]] = []
            self.tokens_at_start = 0
            self.eval_seconds = 0.0

        def on_train_begin(self, args, state, control, **kwargs):
            # On resume the restored state already holds the earlier logs: start from them.
            self.rows = [row for log in state.log_history for row in _rows_from_log(log)]
            self.tokens_at_start = state.num_input_tokens_seen

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            self.rows.extend(_rows_from_log({**logs, "step": state.global_step}))
            self.eval_seconds += float(logs.get("eval_runtime", 0.0))

    return LossHistory()


def _rows_from_log(log: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for key, split in (("loss", "train"), ("eval_loss", "validation")):
        if key in log:
            rows.append({"step": int(log.get("step", 0)), "epoch": float(log.get("epoch", 0.0) or 0.0),
                         "split": split, "loss": float(log[key])})
    return rows


def history_frame(rows: list[dict[str, Any]]):
    """Loss history as a frame (step, epoch, split, loss), one row per logged value."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=["step", "epoch", "split", "loss"])
    return frame.drop_duplicates(subset=["step", "split"], keep="last").reset_index(drop=True)


def _first_last(history: Any, split: str) -> dict[str, float]:
    values = history.loc[history["split"] == split, "loss"]
    name = "train" if split == "train" else "val"
    if values.empty:
        return {}
    return {f"{name}_loss_first": float(values.iloc[0]), f"{name}_loss_last": float(values.iloc[-1])}


# --------------------------------------------------------------------------- training


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
    numbered = [(int(m.group(1)), p) for p in folder.iterdir()
                if p.is_dir() and (m := re.fullmatch(r"checkpoint-(\d+)", p.name))]
    for _, path in sorted(numbered, reverse=True):
        if (path / TRAINER_STATE).is_file():
            return str(path)
        logger.warning("Removing the incomplete Trainer checkpoint %s (interrupted while saving)", path)
        shutil.rmtree(path, ignore_errors=True)
    return None


def training_arguments(settings: TrainerSettings, output_dir: str | Path, has_eval: bool, resuming: bool,
                       use_cpu: bool = False):
    """TrainingArguments from settings; reporting is off (the Kedro/MLflow layer logs).

    ``use_cpu``: train on the CPU even where CUDA is available (``placement.device: cpu``).
    ``fsdp``/``fsdp_config``/``optim``/``ddp_backend`` pass through: under ``accelerate launch``
    or ``torchrun`` the Trainer shards (FSDP) or replicates (DDP) the model over the processes.
    """
    from transformers import TrainingArguments

    eval_strategy = settings.eval_strategy if has_eval else "no"
    sharding: dict[str, Any] = {"fsdp": settings.fsdp} if settings.fsdp else {}
    if settings.fsdp and settings.fsdp_config is not None:
        sharding["fsdp_config"] = dict(settings.fsdp_config)
    return TrainingArguments(
        optim=settings.optim, ddp_backend=settings.ddp_backend, use_cpu=use_cpu, **sharding,
        output_dir=str(output_dir), num_train_epochs=settings.epochs, max_steps=settings.max_steps,
        learning_rate=settings.learning_rate, per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=settings.eval_batch_size or settings.batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps, weight_decay=settings.weight_decay,
        warmup_steps=settings.warmup_steps, lr_scheduler_type=settings.lr_scheduler,
        max_grad_norm=settings.max_grad_norm, logging_strategy="steps", logging_steps=settings.logging_steps,
        eval_strategy=eval_strategy, eval_steps=settings.eval_steps,
        eval_on_start=bool(settings.eval_on_start and has_eval and not resuming),
        save_strategy=settings.save_strategy, save_steps=settings.save_steps,
        save_total_limit=settings.save_total_limit, seed=settings.seed, data_seed=settings.seed,
        activation_checkpointing=settings.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if settings.gradient_checkpointing else None,
        bf16=settings.bf16, include_num_input_tokens_seen="non_padding", report_to="none",
        remove_unused_columns=False, disable_tqdm=settings.disable_tqdm, dataloader_num_workers=0,
    )


def _limit(examples: list[dict], count: int | None) -> list[dict]:
    return examples if count is None else examples[: int(count)]


def prepare_examples(train_frame: Any, validation_frame: Any, tokenizer: Any, style: PromptStyle,
                     settings: TrainerSettings) -> tuple[list[dict], list[dict], dict[str, int]]:
    """Tokenized train and validation examples (over-long ones dropped) and the drop counts."""
    encode_args = dict(tokenizer=tokenizer, style=style, max_length=settings.max_length,
                       clause_column=settings.clause_column, rule_column=settings.rule_column)
    train, dropped_train = tokenize_frame(train_frame, **encode_args)
    evaluation, dropped_eval = ([], 0) if validation_frame is None else tokenize_frame(validation_frame, **encode_args)
    if not train:
        raise ValueError("no training examples left after dropping over-long ones; raise max_length")
    train, evaluation = _limit(train, settings.max_train_examples), _limit(evaluation, settings.max_eval_examples)
    counts = {"train_examples": len(train), "validation_examples": len(evaluation),
              "dropped_train_examples": dropped_train, "dropped_validation_examples": dropped_eval}
    return train, evaluation, counts


def _run_metrics(trainer: Any, history: Any, memory: PeakMemory, wall_time: float, eval_time: float,
                 frame: Any) -> dict[str, Any]:
    """Cost and loss figures of one train() call (tokens/s over optimisation time, evals subtracted)."""
    tokens = int(trainer.state.num_input_tokens_seen - history.tokens_at_start)
    metrics = {
        "global_step": int(trainer.state.global_step), "epochs_trained": float(trainer.state.epoch or 0.0),
        "wall_time_s": wall_time, "eval_time_s": eval_time, "train_tokens": tokens,
        "tokens_per_s": tokens / max(wall_time - eval_time, 1e-9),
        "peak_rss_mb": memory.peak_rss / 2**20, **_first_last(frame, "train"), **_first_last(frame, "validation"),
    }
    if memory.cuda_peak is not None:
        metrics["cuda_peak_mb"] = memory.cuda_peak / 2**20
    return metrics


def train_sft(model: Any, train_frame: Any, validation_frame: Any, params: Mapping[str, Any] | None,
              output_dir: str | Path, prompt_style: PromptStyle | Mapping[str, Any] | None = None,
              tokenizer: Any = None, callbacks: list[Any] | None = None, use_cpu: bool | None = None) -> SFTResult:
    """Fine-tune ``model`` (a PreparedModel or a model + ``tokenizer``) on clause/rule frames.

    Checkpoints go to ``output_dir``; when ``resume`` is on and a checkpoint exists there,
    training continues from the newest one. Extra Trainer ``callbacks`` (e.g. live MLflow
    logging) are passed through. ``use_cpu`` (default: the run's placement is the CPU) keeps
    training off a GPU. Returns the trained model, metrics and loss history.

    Under a multi-process launch every rank trains; with FSDP the full weights are gathered
    once after training (a collective) and the returned model is the unsharded one on the main
    process (the checkpoint dataset saves on rank 0 only).
    """
    from transformers import Trainer, set_seed

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
    trainer = Trainer(
        model=model, args=training_arguments(settings, output_dir, bool(eval_examples), bool(resume_from), use_cpu),
        data_collator=PaddingCollator(pad_token_id(tokenizer)), train_dataset=train_examples,
        eval_dataset=eval_examples or None, processing_class=tokenizer, callbacks=[history, *(callbacks or [])],
    )
    if settings.fsdp and not getattr(trainer, "is_fsdp_enabled", False):
        logger.warning("trainer.fsdp=%r is set but accelerate runs %s (on CPUs accelerate replicates with DDP; "
                       "FSDP shards only over GPUs)", settings.fsdp,
                       getattr(getattr(trainer.accelerator, "state", None), "distributed_type", "no distribution"))
    with PeakMemory() as memory:
        started = time.perf_counter()
        trainer.train(resume_from_checkpoint=resume_from)
        wall_time = time.perf_counter() - started
        last_eval_step = max((r["step"] for r in history.rows if r["split"] == "validation"), default=-1)
        eval_time = history.eval_seconds  # validation passes inside train()
        if eval_examples and last_eval_step != trainer.state.global_step:
            trainer.evaluate()  # the curve always ends with the final model's validation loss

    model = (gather_sharded_model(trainer, output_dir) if settings.fsdp else trainer.model).eval()
    frame = history_frame(history.rows)
    metrics = {
        "total_params": prepared.total_params if prepared else _count(model),
        "trainable_params": prepared.trainable_params if prepared else _count(model, True),
        **counts, **_run_metrics(trainer, history, memory, wall_time, eval_time, frame),
        "resumed_from": resume_from or "",
    }
    if prepared is not None:
        metrics.update(base_params=prepared.base_params, strategy=prepared.strategy)
    return SFTResult(model=model, metrics=metrics, history=frame)


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


def fine_tune_variant(base_model: Mapping[str, Any], strategy: str, strategy_params: Mapping[str, Any] | None,
                      trainer_params: Mapping[str, Any] | None, train_frame: Any, validation_frame: Any,
                      output_dir: str | Path, prompt_style: Mapping[str, Any] | None = None,
                      callbacks: list[Any] | None = None):
    """One strategy x size variant end to end: (ModelBundle, metrics, loss history).

    The bundle's metadata records the spec, strategy and settings, so the checkpoint dataset
    writes them into its ``_COMPLETE`` marker next to the weights.
    """
    from rulelens.modeling.base_models import BaseModelSpec
    from rulelens.modeling.bundle import ModelBundle
    from rulelens.modeling.strategies import prepare_for_strategy

    spec = BaseModelSpec.from_params(base_model)
    prepared = prepare_for_strategy(spec, strategy, strategy_params)
    result = train_sft(prepared, train_frame, validation_frame, trainer_params, output_dir, prompt_style,
                       callbacks=callbacks)
    metrics = {**prepared.summary(), **result.metrics, "size_name": spec.size_name}
    metadata = {"base_model": spec.identity(), "size_name": spec.size_name, "strategy": strategy,
                "strategy_params": prepared.settings, "trainer_params": dict(trainer_params or {}),
                "prompt_style": dict(prompt_style or {}), "metrics": metrics}
    return ModelBundle(result.model, prepared.tokenizer, metadata), metrics, result.history
