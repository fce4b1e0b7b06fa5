"""Base models from parameters: one spec -> a loaded model and tokenizer.

A spec names where the weights come from (``gguf_package``: the offline default shipped in a
package; ``hf``: a Hugging Face id or local folder; ``tiny``: random weights from a config)
and optionally a depth pruning (``keep_layers``) that builds a size ladder from one real
checkpoint. Whatever needs converting or deriving (de-quantising GGUF, pruning layers, drawing
random weights) is done once and cached as an ordinary Hugging Face folder (safetensors +
tokenizer + ``rulelens_base.json`` with provenance and the measured parameter count); every
later load, including the 4-bit QLoRA load, reads that folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from rulelens.offline_weights import SMOLLM2_GGUF_FILE, SMOLLM2_PACKAGE

logger = logging.getLogger(__name__)

SOURCES = ("gguf_package", "hf", "tiny")
LAYER_SELECTIONS = ("even", "ends")
PROVENANCE_FILE = "rulelens_base.json"
DEFAULT_CACHE_DIR = "data/06_models/base"

# The offline size ladder: depth-pruned SmolLM2-135M-Instruct (see docs/models.md for counts).
DEFAULT_LADDER: dict[str, dict[str, Any]] = {
    "xs": {"source": "gguf_package", "keep_layers": 8},
    "s": {"source": "gguf_package", "keep_layers": 16},
    "m": {"source": "gguf_package"},
}


@dataclass(frozen=True)
class BaseModelSpec:
    """Where a base model comes from and how it is derived; built from a parameters dict."""

    size_name: str
    source: str = "gguf_package"
    package: str = SMOLLM2_PACKAGE  # gguf_package: installed package holding the file
    file: str = SMOLLM2_GGUF_FILE  # gguf_package: GGUF file name inside the package
    name_or_path: str | None = None  # hf: hub id or local folder
    revision: str | None = None  # hf: branch/tag/commit
    allow_download: bool = False  # hf: False means local_files_only
    config: Mapping[str, Any] | None = field(default=None, hash=False)  # tiny: model config
    seed: int = 0  # tiny: weights seed
    tokenizer: str | None = None  # tiny: tokenizer folder; None = the GGUF package's tokenizer
    keep_layers: int | list[int] | None = None  # depth pruning: how many decoder layers to keep, or which
    layer_selection: str = "even"  # for an int keep_layers: "even" (spread out) or "ends" (drop a middle block)
    dtype: str = "float32"  # dtype of the cached weights and of full-precision loads
    cache_dir: str = DEFAULT_CACHE_DIR

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | BaseModelSpec, size_name: str | None = None) -> BaseModelSpec:
        """Validate a parameters dict (unknown keys are errors, so typos do not pass silently)."""
        if isinstance(params, BaseModelSpec):
            return params
        values = dict(params)
        if size_name is not None:
            values.setdefault("size_name", size_name)
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - allowed)
        if unknown:
            raise ValueError(f"unknown base model parameter(s) {unknown}; allowed: {sorted(allowed)}")
        if "size_name" not in values:
            raise ValueError("a base model spec needs a size_name (the ladder rung, e.g. 'xs')")
        spec = cls(**values)
        spec.validate()
        return spec

    def validate(self) -> None:
        """Reject specs that cannot be built, before any slow loading starts."""
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {self.source!r}")
        if self.source == "hf" and not self.name_or_path:
            raise ValueError("source 'hf' needs name_or_path (a Hugging Face id or a local folder)")
        if self.source == "tiny" and not self.config:
            raise ValueError("source 'tiny' needs config (a model config dict, e.g. LlamaConfig fields)")
        if isinstance(self.keep_layers, int) and self.keep_layers < 1:
            raise ValueError(f"keep_layers must be >= 1, got {self.keep_layers}")
        if self.layer_selection not in LAYER_SELECTIONS:
            raise ValueError(f"layer_selection must be one of {LAYER_SELECTIONS}, got {self.layer_selection!r}")

    def identity(self) -> dict[str, Any]:
        """The fields that determine the weights (not where they are cached)."""
        data = asdict(self)
        for key in ("size_name", "cache_dir"):
            data.pop(key)
        if data["config"] is not None:
            data["config"] = dict(data["config"])
        if isinstance(data["keep_layers"], (list, tuple)):
            data["keep_layers"] = [int(i) for i in data["keep_layers"]]
        return data

    def fingerprint(self) -> str:
        """Short hash of :meth:`identity`, stored in the cache to catch stale folders."""
        text = json.dumps(self.identity(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def cache_folder(self) -> Path:
        return Path(self.cache_dir) / self.size_name

    @property
    def needs_cache(self) -> bool:
        """An unmodified ``hf`` model is read where it is; everything else is derived once."""
        return not (self.source == "hf" and self.keep_layers is None)


def torch_dtype(name: str | Any):
    """torch dtype from its name in parameters ("float32", "bfloat16", "float16", "auto")."""
    import torch

    if not isinstance(name, str) or name == "auto":
        return name
    value = getattr(torch, name, None)
    if not isinstance(value, torch.dtype):
        raise ValueError(f"unknown torch dtype {name!r}")
    return value


def evenly_spaced_layers(total: int, keep: int) -> list[int]:
    """Indices of ``keep`` of ``total`` layers, evenly spaced, always including first and last.

    First and last layers are kept because the embedding-facing and the output-facing layers
    matter most for a usable pruned model (ShortGPT-style depth pruning removes middle layers).
    """
    if not 1 <= keep <= total:
        raise ValueError(f"cannot keep {keep} of {total} layers")
    if keep == 1:
        return [0]
    return sorted({round(i * (total - 1) / (keep - 1)) for i in range(keep)})


def ends_layers(total: int, keep: int) -> list[int]:
    """The first ceil(keep/2) and last floor(keep/2) layers: one contiguous middle block is dropped.

    On SmolLM2-135M this loses far less than spreading the cut (docs/models.md), in line with
    the finding that middle-to-deep layers are the most redundant.
    """
    if not 1 <= keep <= total:
        raise ValueError(f"cannot keep {keep} of {total} layers")
    head = (keep + 1) // 2
    return list(range(head)) + list(range(total - (keep - head), total))


def select_layers(total: int, keep: int | list[int], selection: str = "even") -> list[int]:
    """Layer indices to keep: an explicit list (validated) or a count spread by ``selection``."""
    if isinstance(keep, (list, tuple)):
        kept = sorted({int(i) for i in keep})
        if not kept or kept[0] < 0 or kept[-1] >= total:
            raise ValueError(f"layer indices {list(keep)} are not within 0..{total - 1}")
        return kept
    return ends_layers(total, int(keep)) if selection == "ends" else evenly_spaced_layers(total, int(keep))


def decoder_layers(model: Any):
    """The ModuleList of decoder layers of a causal LM (Llama/Qwen/Mistral style)."""
    inner = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    if layers is None:
        raise ValueError(f"cannot find decoder layers on {type(model).__name__} (expected model.model.layers)")
    return layers


def prune_layers(model: Any, keep: int | list[int], selection: str = "even") -> list[int]:
    """Keep ``keep`` decoder layers (see :func:`select_layers`) in place; return the kept original indices.

    Layer indices and ``config.num_hidden_layers`` (and ``layer_types`` where present) are
    renumbered so that the KV cache, which is sized from the config, still works.
    """
    import torch

    layers = decoder_layers(model)
    kept = select_layers(len(layers), keep, selection)
    model.model.layers = torch.nn.ModuleList([layers[i] for i in kept])
    for new_index, layer in enumerate(model.model.layers):
        for module in layer.modules():
            if hasattr(module, "layer_idx"):
                module.layer_idx = new_index
    model.config.num_hidden_layers = len(kept)
    layer_types = getattr(model.config, "layer_types", None)
    if isinstance(layer_types, (list, tuple)) and len(layer_types) == len(layers):
        model.config.layer_types = [layer_types[i] for i in kept]
    return kept


def count_parameters(model: Any, trainable_only: bool = False) -> int:
    """Measured parameter count; tied weights count once, 4-bit packed weights at full size."""
    total = 0
    for param in model.parameters():  # parameters() already de-duplicates tied weights
        if trainable_only and not param.requires_grad:
            continue
        quant_state = getattr(param, "quant_state", None)
        total += quant_state.shape.numel() if quant_state is not None else param.numel()
    return int(total)


def _load_tokenizer_for_tiny(spec: BaseModelSpec):
    from transformers import AutoTokenizer

    from rulelens.offline_weights import load_gguf_tokenizer

    if spec.tokenizer:
        return AutoTokenizer.from_pretrained(spec.tokenizer, local_files_only=True)
    return load_gguf_tokenizer(spec.package, spec.file)


def _build_tiny(spec: BaseModelSpec):
    """Random weights from a config dict, seeded; special token ids default to the tokenizer's."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    tokenizer = _load_tokenizer_for_tiny(spec)
    settings = dict(spec.config or {})
    model_type = settings.pop("model_type", "llama")
    settings.setdefault("vocab_size", len(tokenizer))
    for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
        settings.setdefault(name, getattr(tokenizer, name, None))
    config = AutoConfig.for_model(model_type, **settings)
    torch.manual_seed(spec.seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch_dtype(spec.dtype))
    return model, tokenizer


def _build_gguf(spec: BaseModelSpec):
    """De-quantise the packaged GGUF file to full precision (slow: ~20 s for SmolLM2-135M)."""
    from transformers import AutoModelForCausalLM

    from rulelens.offline_weights import gguf_location, load_gguf_tokenizer

    folder, name = gguf_location(spec.package, spec.file)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch_dtype(spec.dtype))
    # The GGUF origin is recorded in the provenance file; the cached folder is plain safetensors.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    model.config.name_or_path = ""
    return model, load_gguf_tokenizer(spec.package, spec.file)


def _build_hf(spec: BaseModelSpec, **load_kwargs):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    common = dict(revision=spec.revision, local_files_only=not spec.allow_download, trust_remote_code=False)
    model = AutoModelForCausalLM.from_pretrained(spec.name_or_path, **common, **load_kwargs)
    tokenizer = AutoTokenizer.from_pretrained(spec.name_or_path, **common)
    return model, tokenizer


def build_base_model(spec: BaseModelSpec | Mapping[str, Any]):
    """(model, tokenizer) straight from the source, pruned if asked; no cache involved."""
    spec = BaseModelSpec.from_params(spec)
    if spec.source == "tiny":
        model, tokenizer = _build_tiny(spec)
    elif spec.source == "gguf_package":
        model, tokenizer = _build_gguf(spec)
    else:
        model, tokenizer = _build_hf(spec, dtype=torch_dtype(spec.dtype))
    source_layers = len(decoder_layers(model))
    if spec.keep_layers:
        kept = prune_layers(model, spec.keep_layers, spec.layer_selection)
    else:
        kept = list(range(source_layers))
    model.eval()
    model.rulelens_layers = {"source_layers": source_layers, "kept_layers": kept}
    return model, tokenizer


def read_provenance(folder: str | Path) -> dict[str, Any] | None:
    """The provenance JSON of a cached base folder, or None when the folder is not a complete cache."""
    path = Path(folder) / PROVENANCE_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def _provenance(spec: BaseModelSpec, model: Any) -> dict[str, Any]:
    import transformers

    return {
        "size_name": spec.size_name,
        "fingerprint": spec.fingerprint(),
        "spec": spec.identity(),
        "parameter_count": count_parameters(model),
        "num_hidden_layers": int(model.config.num_hidden_layers),
        **getattr(model, "rulelens_layers", {}),
        "architecture": type(model).__name__,
        "transformers_version": transformers.__version__,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _check_cache_hit(spec: BaseModelSpec, folder: Path, provenance: dict[str, Any]) -> None:
    if provenance.get("fingerprint") != spec.fingerprint():
        raise ValueError(
            f"cached base model {folder} was built from a different spec "
            f"({provenance.get('spec')}) than the one requested ({spec.identity()}); "
            f"delete the folder or use another size_name/cache_dir"
        )


def materialize_base_model(spec: BaseModelSpec | Mapping[str, Any]) -> str:
    """Location to load the base model from: the cache folder, built on first use.

    Unmodified ``hf`` models return their id/folder as is (copying a hub model is pointless).
    The cache is written to a temporary sibling folder and renamed into place, so an
    interrupted conversion never leaves a folder that looks complete.
    """
    spec = BaseModelSpec.from_params(spec)
    if not spec.needs_cache:
        return str(spec.name_or_path)
    folder = spec.cache_folder
    provenance = read_provenance(folder)
    if provenance is not None:
        _check_cache_hit(spec, folder, provenance)
        logger.info(
            "Base model %r: cache hit at %s (%s parameters)",
            spec.size_name,
            folder,
            f"{provenance['parameter_count']:,}",
        )
        return str(folder)
    if folder.exists():
        raise ValueError(f"{folder} exists but has no {PROVENANCE_FILE}; it is not a rulelens cache, remove it")
    logger.info(
        "Base model %r: converting from %s (keep_layers=%s) into %s",
        spec.size_name,
        spec.source,
        spec.keep_layers,
        folder,
    )
    model, tokenizer = build_base_model(spec)
    provenance = _provenance(spec, model)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2))
        os.rename(tmp, folder)
    except OSError:
        if read_provenance(folder) is None:  # not a concurrent writer that finished first
            raise
        logger.info("Base model %r: another process cached it first; using theirs", spec.size_name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info(
        "Base model %r: cached %s parameters, %d of %d layers, at %s",
        spec.size_name,
        f"{provenance['parameter_count']:,}",
        provenance["num_hidden_layers"],
        provenance["source_layers"],
        folder,
    )
    return str(folder)


def quantized_device_map() -> dict[str, int] | None:
    """Where a 4-bit model must live: the Trainer never moves quantised models, so put it on the GPU now."""
    import torch

    return {"": torch.cuda.current_device()} if torch.cuda.is_available() else None


def load_base_model(spec: BaseModelSpec | Mapping[str, Any], quantization_config: Any = None, dtype: str | None = None):
    """(model, tokenizer) from the cache (converting on first use), optionally 4-bit quantised."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    spec = BaseModelSpec.from_params(spec)
    location = materialize_base_model(spec)
    local_only = spec.needs_cache or not spec.allow_download
    revision = None if spec.needs_cache else spec.revision
    kwargs: dict[str, Any] = dict(
        local_files_only=local_only, trust_remote_code=False, revision=revision, dtype=torch_dtype(dtype or spec.dtype)
    )
    if quantization_config is not None:
        kwargs["quantization_config"] = quantization_config
        kwargs["device_map"] = quantized_device_map()
    model = AutoModelForCausalLM.from_pretrained(location, **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(
        location, local_files_only=local_only, revision=revision, trust_remote_code=False
    )
    model.eval()
    return model, tokenizer


def base_parameter_count(spec: BaseModelSpec | Mapping[str, Any]) -> int:
    """Measured parameter count of a base model (from the cache provenance; loads if uncached ``hf``)."""
    spec = BaseModelSpec.from_params(spec)
    location = materialize_base_model(spec)
    provenance = read_provenance(location)
    if provenance is not None:
        return int(provenance["parameter_count"])
    model, _ = load_base_model(spec)
    return count_parameters(model)
