"""Supervised fine-tuning (clause -> rule) with the Hugging Face Trainer.

Examples are tokenized with exactly the prompt functions that evaluation and attribution use
(:mod:`rulelens.prompts`): ``input_ids = prompt ids + rule ids (+ eos)`` and the loss is taken
on the rule tokens only. Over-long examples are dropped and counted, never truncated, because
a cut rule would teach the model to stop early without anyone noticing.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping, NamedTuple

from rulelens.param_blocks import ParameterError, check_block
from rulelens.prompts import PromptStyle, build_prompt, encode, encode_prompt, target_text

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100
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


def encode_frame(
    frame: Any, tokenizer: Any, style: PromptStyle, clause_column: str = "clause", rule_column: str = "rule"
) -> list[dict[str, list[int]]]:
    """Every row as a training example (prompt + rule ids), in row order."""
    missing = {clause_column, rule_column} - set(frame.columns)
    if missing:
        raise ValueError(f"training frame lacks column(s) {sorted(missing)}; has {list(frame.columns)}")
    return [
        encode_example(tokenizer, str(clause), str(rule), style)
        for clause, rule in zip(frame[clause_column], frame[rule_column])
    ]


def covering_length(lengths: list[int], coverage: float, cap: int | None = None) -> int:
    """The shortest length that keeps at least ``coverage`` of the rows, at most ``cap``."""
    if not lengths:
        raise ValueError("no training rows to size max_length from")
    ordered = sorted(lengths)
    covered = ordered[max(math.ceil(coverage * len(ordered)), 1) - 1]
    return min(covered, cap) if cap else covered


def drop_long(examples: list[dict], max_length: int, split: str) -> tuple[list[dict], int]:
    """Examples up to ``max_length`` tokens and how many longer ones were left out (never cut)."""
    kept = [e for e in examples if len(e["input_ids"]) <= max_length]
    dropped = len(examples) - len(kept)
    if dropped:
        logger.warning(
            "Left out %d of %d %s rows longer than max_length=%d tokens (%.1f%%)",
            dropped,
            len(examples),
            split,
            max_length,
            100 * dropped / len(examples),
        )
    return kept, dropped


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


def batch_collator(settings: TrainerSettings, tokenizer: Any):
    """The collator for ``trainer.batching``: right-padded rows, or one padding-free sequence whose
    position ids restart at every example (the model then masks attention per example)."""
    if settings.batching == "flattened":
        from transformers import DataCollatorWithFlattening

        return DataCollatorWithFlattening(return_position_ids=True, separator_id=IGNORE_INDEX)
    return PaddingCollator(pad_token_id(tokenizer))


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


class LengthGroupedBatches:
    """A sampler whose batches hold examples of similar token length, in a seeded random order.

    Sorting by length (ties broken at random) and cutting into batches removes most padding; the
    batches are then shuffled, so an epoch does not run from the longest rows to the shortest (as
    a single sorted mega-batch would on a small dataset). ``set_epoch`` reseeds (the Trainer calls
    it), so a resumed run sees the same order.
    """

    def __init__(self, lengths: list[int], batch_size: int, seed: int):
        self.lengths, self.batch_size, self.seed, self.epoch = list(lengths), int(batch_size), int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):
        import numpy as np

        rng = np.random.default_rng([self.seed, self.epoch])
        order = np.lexsort((rng.random(len(self.lengths)), np.asarray(self.lengths)))
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        self.epoch += 1  # a Trainer that does not call set_epoch still gets a new order each epoch
        return iter([int(i) for b in rng.permutation(len(batches)) for i in batches[b]])


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
            rows.append(
                {
                    "step": int(log.get("step", 0)),
                    "epoch": float(log.get("epoch", 0.0) or 0.0),
                    "split": split,
                    "loss": float(log[key]),
                }
            )
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


def _limit(examples: list[dict], count: int | None) -> list[dict]:
    return examples if count is None else examples[: int(count)]


def prepare_examples(
    train_frame: Any, validation_frame: Any, tokenizer: Any, style: PromptStyle, settings: TrainerSettings
) -> tuple[list[dict], list[dict], dict[str, Any]]:
    """Tokenized train and validation examples, over-long ones left out, and the counts.

    ``max_length: auto`` is sized on the training rows' token lengths (``max_length_coverage``,
    at most ``max_length_cap``); the rows still too long are counted per split, never cut.
    """
    columns = dict(clause_column=settings.clause_column, rule_column=settings.rule_column)
    train_all = encode_frame(train_frame, tokenizer, style, **columns)
    eval_all = [] if validation_frame is None else encode_frame(validation_frame, tokenizer, style, **columns)
    if settings.max_length == "auto":
        max_length = covering_length(
            [len(e["input_ids"]) for e in train_all], settings.max_length_coverage, settings.max_length_cap
        )
    else:
        max_length = int(settings.max_length)
    train, dropped_train = drop_long(train_all, max_length, "training")
    evaluation, dropped_eval = drop_long(eval_all, max_length, "validation")
    if not train:
        raise ValueError(
            f"no training examples left after leaving out rows longer than max_length={max_length}; "
            "raise trainer.max_length (or max_length_cap)"
        )
    train, evaluation = _limit(train, settings.max_train_examples), _limit(evaluation, settings.max_eval_examples)
    counts = {
        "train_examples": len(train),
        "validation_examples": len(evaluation),
        "train_rows": len(train_all),
        "validation_rows": len(eval_all),
        "max_length": max_length,
        "dropped_train_examples": dropped_train,
        "dropped_validation_examples": dropped_eval,
        "dropped_train_share": dropped_train / len(train_all) if train_all else 0.0,
    }
    return train, evaluation, counts


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


def stopping_metrics(state: Any, settings: TrainerSettings, history: Any, stopping: Any) -> dict[str, Any]:
    """Why training stopped and how far the last validation loss is from the best one.

    ``stopped_by``: ``early_stopping`` (the validation loss stopped improving: converged),
    ``step_cap`` (``max_steps`` reached first: maybe still learning) or ``epochs``.
    ``val_loss_last_vs_best`` is last/best - 1 over the evaluations made (0 when the last was best).
    """
    patience_spent = (
        stopping is not None and stopping.early_stopping_patience_counter >= stopping.early_stopping_patience
    )
    if patience_spent:
        stopped_by = "early_stopping"
    elif settings.max_steps > 0 and state.global_step >= settings.max_steps:
        stopped_by = "step_cap"
    else:
        stopped_by = "epochs"
    metrics: dict[str, Any] = {"stopped_by": stopped_by, "max_steps": settings.max_steps}
    validation = history.loc[history["split"] == "validation"]
    if not validation.empty:
        best = validation.loc[validation["loss"].idxmin()]
        metrics.update(
            best_val_loss=float(best["loss"]),
            best_step=int(best["step"]),
            val_loss_last_vs_best=float(validation["loss"].iloc[-1] / best["loss"] - 1.0),
            kept_best_checkpoint=bool(settings.keeps_best),
            val_curve=curve_text(validation),
        )
    return metrics


def curve_text(validation: Any) -> str:
    """A validation curve as text, ``"step:loss step:loss ..."`` (the report draws it from this)."""
    return " ".join(f"{int(step)}:{loss:.4f}" for step, loss in zip(validation["step"], validation["loss"]))


def parse_curve(text: Any) -> list[tuple[int, float]]:
    """The inverse of :func:`curve_text`; an empty list for a missing curve."""
    if not isinstance(text, str) or not text.strip():
        return []
    return [(int(step), float(loss)) for step, loss in (item.split(":") for item in text.split())]


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


def fine_tune_variant(
    base_model: Mapping[str, Any],
    strategy: str,
    strategy_params: Mapping[str, Any] | None,
    trainer_params: Mapping[str, Any] | None,
    train_frame: Any,
    validation_frame: Any,
    output_dir: str | Path,
    prompt_style: Mapping[str, Any] | None = None,
    callbacks: list[Any] | None = None,
):
    """One strategy x size variant end to end: (ModelBundle, metrics, loss history).

    The bundle's metadata records the spec, strategy and settings, so the checkpoint dataset
    writes them into its ``_COMPLETE`` marker next to the weights.
    """
    from rulelens.modeling.base_models import BaseModelSpec
    from rulelens.modeling.bundle import ModelBundle
    from rulelens.modeling.strategies import prepare_for_strategy

    spec = BaseModelSpec.from_params(base_model)
    prepared = prepare_for_strategy(spec, strategy, strategy_params)
    result = train_sft(
        prepared, train_frame, validation_frame, trainer_params, output_dir, prompt_style, callbacks=callbacks
    )
    metrics = {**prepared.summary(), **result.metrics, "size_name": spec.size_name}
    metadata = {
        "base_model": spec.identity(),
        "size_name": spec.size_name,
        "strategy": strategy,
        "strategy_params": prepared.settings,
        "trainer_params": dict(trainer_params or {}),
        "prompt_style": dict(prompt_style or {}),
        "metrics": metrics,
    }
    return ModelBundle(result.model, prepared.tokenizer, metadata), metrics, result.history
