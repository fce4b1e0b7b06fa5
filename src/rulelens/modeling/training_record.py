"""What a training run leaves behind besides the model: peak memory, the loss history, the stopping record.

Used by :mod:`rulelens.modeling.sft`; the history is the ``loss_history`` table and MLflow's stepped
metrics, the stopping record part of ``training_metrics`` (docs/models.md).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from rulelens.modeling.trainer_settings import TrainerSettings

logger = logging.getLogger(__name__)


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
