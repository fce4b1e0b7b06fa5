"""Kedro dataset for a Hugging Face checkpoint folder: a full model or a peft adapter + tokenizer.

A trained variant costs minutes to hours, so a completed checkpoint is never replaced by
accident: saving onto a completed folder raises unless ``overwrite=True``. Writes go to a
temporary sibling folder that is renamed into place once everything (weights as safetensors,
tokenizer, and last the ``_COMPLETE`` marker with metadata) is written; ``exists()`` is true
only for folders with that marker, so a crash mid-save never looks like a finished checkpoint.

A swap interrupted between its two renames (the old folder moved aside, the new one not yet in
place) is recovered on the next access: the complete new folder is moved into place, else the
old one is restored; nothing stays only under a hidden name. Completed checkpoints record the
size of every weight file, and a truncated or corrupt one is reported by name on load.

Adapters are detected by ``adapter_config.json``; the base model is loaded from the path the
checkpoint recorded (the cached base folder), 4-bit again when it was trained as QLoRA.

Catalog example::

    "{strategy}.{size}.adapter":
      type: rulelens.datasets.HFCheckpointDataset
      path: data/06_models/${globals:dataset}/{strategy}/{size}
      load_args: {dtype: float32, is_trainable: false}
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from rulelens.datasets.checkpoint_folder import (
    COMPLETE_MARKER,
    hidden_siblings,
    read_marker,
    recover_interrupted_swap,
)
from rulelens.datasets.checkpoint_marker import KeepCompletedCheckpoint
from rulelens.modeling.bundle import LazyModelBundle, ModelBundle

ADAPTER_CONFIG = "adapter_config.json"
LOAD_ARG_DEFAULTS: dict[str, Any] = {
    "dtype": None,  # dtype of the model (or of the adapter's base); None: the run's placement dtype
    "device": None,  # auto | cpu | cuda[:N]; None: the run's placement (rulelens.modeling.placement)
    "device_map": None,  # auto: spread over every visible GPU; None: the run's placement
    "base_model_path": None,  # override the base path the adapter recorded
    "quantize": True,  # reload a QLoRA base in 4-bit as it was trained (False: full precision)
    "is_trainable": False,  # adapters: load trainable (to continue training) or frozen
    "merge_adapter": None,  # adapters: merge into the (dequantized) base; None: the run's placement.merge_adapters
    "local_files_only": True,  # never download a base model at load time unless asked
}


def weight_files(folder: Path) -> dict[str, int]:
    """Sizes in bytes of the weight files (safetensors) of a checkpoint folder."""
    return {p.name: p.stat().st_size for p in sorted(folder.glob("*.safetensors"))}


def check_weight_files(folder: Path, recorded: dict[str, int] | None) -> None:
    """Fail with the file's name when a weight file is missing, truncated or not valid safetensors."""
    from safetensors import safe_open

    for name, size in (recorded or {}).items():
        path = folder / name
        if not path.is_file():
            raise DatasetError(f"checkpoint {folder}: weight file {path} is missing")
        if path.stat().st_size != size:
            raise DatasetError(
                f"checkpoint {folder}: weight file {path} has {path.stat().st_size} bytes, "
                f"{size} were saved (truncated or replaced); retrain the variant or restore the file"
            )
    for path in sorted(folder.glob("*.safetensors")):
        try:
            with safe_open(str(path), framework="pt") as handle:
                handle.keys()
        except Exception as error:  # safetensors raises its own error types for bad headers / short files
            raise DatasetError(f"checkpoint {folder}: weight file {path} cannot be read ({error})") from error


def _is_adapter_model(model: Any) -> bool:
    return hasattr(model, "peft_config") and hasattr(model, "get_base_model")


def _base_path_of(model: Any) -> str | None:
    info = getattr(model, "rulelens_info", None) or {}
    if info.get("base_location"):
        return str(info["base_location"])
    if _is_adapter_model(model):
        config = model.peft_config.get(getattr(model, "active_adapter", "default"))
        return getattr(config, "base_model_name_or_path", None)
    return None


def _marker_payload(bundle: ModelBundle, kind: str) -> dict[str, Any]:
    from rulelens.modeling.base_models import count_parameters

    info = dict(getattr(bundle.model, "rulelens_info", None) or {})
    return {
        "kind": kind,
        "strategy": info.get("strategy"),
        "size_name": info.get("size_name"),
        "base_model_path": _base_path_of(bundle.model) if kind == "adapter" else None,
        "quantization": info.get("quantization"),
        "parameter_count": count_parameters(bundle.model),
        "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "metadata": bundle.metadata,
    }


class HFCheckpointDataset(AbstractDataset[Any, ModelBundle]):
    """Save/load a :class:`ModelBundle` (model or peft adapter + tokenizer) as a folder."""

    _SINGLE_PROCESS = True  # models are not pickled between processes

    def __init__(
        self,
        path: str,
        overwrite: bool = False,
        load_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._path = Path(path)
        self._overwrite = bool(overwrite)
        unknown = sorted(set(load_args or {}) - set(LOAD_ARG_DEFAULTS))
        if unknown:
            raise DatasetError(f"unknown load_args {unknown}; allowed: {sorted(LOAD_ARG_DEFAULTS)}")
        self._load_args = {**LOAD_ARG_DEFAULTS, **(load_args or {})}
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"path": str(PurePosixPath(self._path)), "overwrite": self._overwrite, "load_args": self._load_args}

    def _exists(self) -> bool:
        if not getattr(self, "_saving", False):  # our own save's finished temporary folder is not a crash
            recover_interrupted_swap(self._path)
        return read_marker(self._path) is not None

    # ------------------------------------------------------------------ save

    def save(self, data: Any) -> None:
        """Write model/adapter + tokenizer atomically; refuse to replace a completed checkpoint.

        A :class:`~rulelens.datasets.checkpoint_marker.KeepCompletedCheckpoint` (a node's "this
        variant is already trained") leaves a completed folder untouched.
        In a multi-process (sharded) run only the main process (rank 0) writes; the others return.
        """
        from rulelens.modeling.placement import is_main_process, process_rank

        if not is_main_process():  # sharded training: rank 0 alone writes the checkpoint
            self._logger.info("Rank %d: not the main process; rank 0 saves checkpoint %s", process_rank(), self._path)
            return
        if isinstance(data, KeepCompletedCheckpoint):
            if not self._exists():
                raise DatasetError(f"asked to keep checkpoint {self._path}, but it is not complete")
            self._logger.info("Checkpoint %s is complete; kept as it is", self._path)
            return
        bundle = ModelBundle.coerce(data)
        recover_interrupted_swap(self._path)
        self._remove_unfinished_saves()
        self._saving = True
        try:
            self._save_bundle(bundle)
        finally:
            self._saving = False

    def _save_bundle(self, bundle: ModelBundle) -> None:
        replace_reason = bundle.metadata.get("overwrite_reason")
        if replace_reason and self._exists():
            self._logger.warning("Replacing completed checkpoint %s (%s)", self._path, replace_reason)
        self._refuse_overwrite(allowed=bool(replace_reason))
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.parent / f".{self._path.name}.tmp-{uuid.uuid4().hex[:8]}"
        try:
            kind = "adapter" if _is_adapter_model(bundle.model) else "full"
            bundle.model.save_pretrained(tmp)  # safetensors (the only format transformers 5/peft write here)
            bundle.tokenizer.save_pretrained(tmp)
            payload = {**_marker_payload(bundle, kind), "weight_files": weight_files(tmp)}
            (tmp / COMPLETE_MARKER).write_text(json.dumps(payload, indent=2, default=str))
            self._refuse_overwrite(allowed=bool(replace_reason))  # someone may have finished it meanwhile
            self._move_into_place(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        from rulelens.modeling.workdir import remove_work_dir

        remove_work_dir(bundle.metadata.get("trainer_work_dir"))  # the Trainer's scratch folder is no longer needed

    def _refuse_overwrite(self, allowed: bool = False) -> None:
        """Completed checkpoints are replaced only with overwrite=True or an explicit reason
        in the bundle's metadata (``overwrite_reason``, e.g. the training.retrain parameter)."""
        if self._exists() and not (self._overwrite or allowed):
            raise DatasetError(
                f"checkpoint {self._path} is already complete; refusing to overwrite it "
                f"(set overwrite: true on the dataset, or delete the folder)"
            )

    def _remove_unfinished_saves(self) -> None:
        """Delete hidden temporary folders of saves that died before their marker was written."""
        for leftover in hidden_siblings(self._path, "tmp"):
            if not (leftover / COMPLETE_MARKER).is_file():
                shutil.rmtree(leftover, ignore_errors=True)

    def _move_into_place(self, tmp: Path) -> None:
        old = None
        if self._path.exists():  # an incomplete leftover, or a complete one with overwrite=True
            old = self._path.parent / f".{self._path.name}.old-{uuid.uuid4().hex[:8]}"
            os.rename(self._path, old)
        os.rename(tmp, self._path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    # ------------------------------------------------------------------ load

    def load(self) -> ModelBundle:
        """The model (base + adapter for adapter checkpoints) in eval mode, its tokenizer and metadata.

        The marker, the weight files and the tokenizer are checked and read here; the model is built
        on first use of ``.model`` (a stage that finds its outputs done never builds it).
        """
        from transformers import AutoTokenizer

        recover_interrupted_swap(self._path)
        marker = read_marker(self._path)
        if marker is None:
            raise DatasetError(f"{self._path} is not a completed checkpoint (no {COMPLETE_MARKER} marker)")
        check_weight_files(self._path, marker.get("weight_files"))
        tokenizer = AutoTokenizer.from_pretrained(self._path, local_files_only=True, trust_remote_code=False)
        return LazyModelBundle(lambda: self._load_model(marker), tokenizer, metadata=marker)

    def _load_model(self, marker: dict[str, Any]):
        """The model itself, built on first use (:class:`~rulelens.modeling.bundle.LazyModelBundle`)."""
        if (self._path / ADAPTER_CONFIG).is_file():
            model = self._load_adapter(marker)
        else:
            model = self._load_full()
        model.eval()
        model.rulelens_info = {key: marker.get(key) for key in ("strategy", "size_name", "quantization")}
        model.rulelens_info["base_location"] = marker.get("base_model_path")
        return model

    def _placement(self):
        """The run's placement (device, dtype), with this dataset's explicit load_args on top."""
        from dataclasses import replace

        from rulelens.modeling.placement import resolve_placement, run_placement

        args = self._load_args
        placement = run_placement()
        if args["device"] is not None or args["device_map"] is not None:
            placement = resolve_placement(
                {
                    "device": args["device"] or placement.device,
                    "dtype": placement.dtype,
                    "device_map": args["device_map"] or placement.device_map,
                }
            )
        return replace(placement, dtype=args["dtype"] or placement.dtype)

    def _load_full(self):
        from rulelens.modeling.placement import load_for_inference

        return load_for_inference(str(self._path), placement=self._placement(), local_files_only=True)

    def _base_location(self, marker: dict[str, Any]) -> str:
        location = self._load_args["base_model_path"] or marker.get("base_model_path")
        if not location:
            location = json.loads((self._path / ADAPTER_CONFIG).read_text()).get("base_model_name_or_path")
        if not location:
            raise DatasetError(f"adapter {self._path} records no base model path; set load_args.base_model_path")
        return str(location)

    def _load_adapter(self, marker: dict[str, Any]):
        from rulelens.modeling.placement import load_for_inference

        args = self._load_args
        quantization = marker.get("quantization") if args["quantize"] else None
        return load_for_inference(
            self._base_location(marker),
            placement=self._placement(),
            adapter=str(self._path),
            quantization=quantization,
            local_files_only=args["local_files_only"],
            is_trainable=bool(args["is_trainable"]),
            merge_adapter=None if args["merge_adapter"] is None else bool(args["merge_adapter"]),
        )
