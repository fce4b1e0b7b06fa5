"""Where models run and in what precision: one decision, one inference loader.

Parameters (``training.placement`` in ``parameters_training.yml``; ``conf/gpu`` asks for CUDA)::

    training:
     placement:
      device: auto       # auto (CUDA when available, else CPU) | cpu | cuda | cuda:N
      dtype: auto        # auto (bf16 on GPUs that support it, fp32 on CPU) | float32 | bfloat16 | float16
      device_map: null   # null: the whole model on `device`; auto: spread over every visible GPU
                         # (models larger than one GPU; accelerate's big-model placement)
      merge_adapters: auto  # inference on adapter checkpoints: auto (merge on CPU, not on GPUs) | true | false

:func:`resolve_device` and :func:`resolve_dtype` are pure decisions (what is available is an
argument, so they are tested without a GPU). :func:`configure_run` makes the decision once
per ``kedro run`` (the tracking hook calls it before any node; a request for CUDA on a machine
without it stops the run there) and logs it; :func:`run_placement` returns it to the
checkpoint dataset, the zero-shot loader and the training node. :func:`load_for_inference`
is the one loader for evaluation, attribution and deletion curves: full models and peft
adapters on the chosen device and dtype, 4-bit bases placed by bitsandbytes.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from rulelens.modeling.base_models import BaseModelSpec

logger = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "float32", "bfloat16", "float16")
DEVICE_MAPS = (None, "auto")
DEFAULTS: dict[str, Any] = {"device": "auto", "dtype": "auto", "device_map": None, "merge_adapters": "auto"}
MERGE_CHOICES = ("auto", True, False)


class PlacementError(RuntimeError):
    """The parameters ask for a device this machine does not have."""


@dataclass(frozen=True)
class Placement:
    """A resolved placement: a concrete device (``cpu``, ``cuda:0``), a dtype name, a device map."""

    device: str = "cpu"
    dtype: str = "float32"
    device_map: str | None = None
    merge_adapters: bool = False  # inference: adapters merged into their (dequantized) base weights

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")

    def torch_device(self):
        import torch

        return torch.device(self.device)

    def torch_dtype(self):
        import torch

        return getattr(torch, self.dtype)

    def describe(self) -> dict[str, str]:
        """String values for metrics dicts (the tracking hook sets them as MLflow tags)."""
        device = "auto-sharded" if self.device_map == "auto" and self.is_cuda else self.device
        return {"device": device, "dtype": self.dtype}


def cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def bf16_supported(device: str) -> bool:
    """bf16 on this device: every CPU torch build runs it (slowly); GPUs from Ampere on."""
    if not device.startswith("cuda"):
        return True
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def resolve_device(requested: str | None = "auto", cuda: bool | None = None) -> str:
    """``auto`` -> ``cuda:0`` when CUDA is available, else ``cpu``; an explicit CUDA request
    on a machine without CUDA raises :class:`PlacementError` (never a silent CPU run)."""
    requested = str(requested or "auto").strip().lower()
    if requested.split(":")[0] not in DEVICES:
        raise ValueError(f"placement.device must be one of {DEVICES} (or cuda:N), got {requested!r}")
    cuda = cuda_available() if cuda is None else cuda
    if requested == "auto":
        return "cuda:0" if cuda else "cpu"
    if requested.startswith("cuda"):
        if not cuda:
            raise PlacementError(
                "placement.device asks for CUDA, but this torch has no CUDA device "
                "(torch.cuda.is_available() is False: a CPU-only torch build or no GPU). Run on a GPU "
                "machine with a CUDA torch (RULELENS_TORCH=torch bash scripts/setup.sh), or force the CPU "
                "with --params placement.device=cpu (slow: the GPU profile's 0.5B-14B models on a CPU "
                "take hours to days)."
            )
        return requested if ":" in requested else "cuda:0"
    return "cpu"


def resolve_dtype(requested: str | None, device: str, bf16: bool | None = None) -> str:
    """``auto`` -> ``bfloat16`` on a GPU that supports it (else ``float16`` there), ``float32`` on CPU."""
    requested = str(requested or "auto").strip().lower()
    if requested not in DTYPES:
        raise ValueError(f"placement.dtype must be one of {DTYPES}, got {requested!r}")
    if requested != "auto":
        return requested
    if not device.startswith("cuda"):
        return "float32"
    return "bfloat16" if (bf16_supported(device) if bf16 is None else bf16) else "float16"


def resolve_placement(
    params: Mapping[str, Any] | None = None, cuda: bool | None = None, bf16: bool | None = None
) -> Placement:
    """A :class:`Placement` from the ``placement`` parameters (unknown keys are errors)."""
    values = {**DEFAULTS, **dict(params or {})}
    unknown = sorted(set(values) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown placement parameter(s) {unknown}; allowed: {sorted(DEFAULTS)}")
    if values["device_map"] not in DEVICE_MAPS:
        raise ValueError(f"placement.device_map must be null or 'auto', got {values['device_map']!r}")
    device = resolve_device(values["device"], cuda)
    dtype = resolve_dtype(values["dtype"], device, bf16)
    device_map = values["device_map"] if device.startswith("cuda") else None  # one CPU: nothing to spread
    return Placement(
        device=device,
        dtype=dtype,
        device_map=device_map,
        merge_adapters=resolve_merge_adapters(values["merge_adapters"], device),
    )


def resolve_merge_adapters(requested: Any, device: str) -> bool:
    """``auto`` -> merge on the CPU, not on a GPU.

    An unmerged adapter adds two small matmuls (and, on a 4-bit base, a dequantization of every
    weight) to each adapted layer of every forward pass: on a CPU that is 15-40% of inference time
    (docs/performance.md). Merged weights are the same function up to float rounding (tested to
    1e-4 nats), but a dequantized 4-bit base takes 4-8x the memory, which a large model on a GPU
    may not have: there the adapters stay separate unless asked.
    """
    if requested not in MERGE_CHOICES:
        raise ValueError(f"placement.merge_adapters must be auto, true or false, got {requested!r}")
    if requested == "auto":
        return not device.startswith("cuda")
    return bool(requested)


_RUN: Placement | None = None


def configure_run(params: Mapping[str, Any] | None) -> Placement:
    """Resolve the placement once for this run (fails fast on a CUDA request without CUDA) and log it."""
    global _RUN
    _RUN = resolve_placement(params)
    logger.info(
        "Placement for this run: device %s, dtype %s%s%s",
        _RUN.device,
        _RUN.dtype,
        ", device_map auto (sharded over the visible GPUs)" if _RUN.device_map else "",
        ", adapters merged for inference" if _RUN.merge_adapters else "",
    )
    return _RUN


def run_placement() -> Placement:
    """This run's placement (:func:`configure_run`), or the ``auto`` one outside a Kedro run."""
    global _RUN
    if _RUN is None:
        _RUN = resolve_placement(None)
    return _RUN


def reset_run_placement() -> None:
    """Forget the run's placement (tests; a new Kedro session configures its own)."""
    global _RUN
    _RUN = None


# ------------------------------------------------------------------ processes
def process_rank() -> int:
    """Global rank of this process under torchrun / accelerate launch (0 when not distributed)."""
    for name in ("RANK", "ACCELERATE_PROCESS_INDEX"):
        if os.environ.get(name, "").strip().isdigit():
            return int(os.environ[name])
    return 0


def is_main_process() -> bool:
    """True in a single-process run and in rank 0 of a multi-process (sharded) run.

    Only the main process writes checkpoints and logs to MLflow; the other ranks train their
    shard and skip both.
    """
    return process_rank() == 0


def world_size() -> int:
    value = os.environ.get("WORLD_SIZE", "").strip()
    return int(value) if value.isdigit() else 1


# ------------------------------------------------------------------ loading
def quantized_device_map(placement: Placement) -> dict[str, Any] | None:
    """Where bitsandbytes puts a 4-bit model: the placement's GPU, or the CPU (None)."""
    if not placement.is_cuda:
        return None
    index = int(placement.device.split(":")[1]) if ":" in placement.device else 0
    return {"": index}


def load_for_inference(
    location: str,
    *,
    placement: Placement | None = None,
    adapter: str | None = None,
    quantization: Mapping[str, Any] | None = None,
    local_files_only: bool = True,
    revision: str | None = None,
    is_trainable: bool = False,
    merge_adapter: bool | None = None,
    dtype: str | None = None,
):
    """A causal LM for inference, in eval mode, on the placement's device and dtype.

    ``location``: a full model folder (or hub id), or the base of ``adapter`` (a peft adapter
    folder, loaded onto the base's devices). ``quantization``: the QLoRA record of a checkpoint
    (4-bit NF4 base, placed by bitsandbytes on the placement's GPU, or on the CPU). ``dtype``
    overrides the placement's dtype (e.g. a dataset's explicit ``load_args.dtype``).
    With ``placement.device_map == "auto"`` the weights are spread over every visible GPU
    (accelerate); inputs then go to the input embedding's device (the attribution engine and
    generation do that). ``merge_adapter`` (None: the placement's ``merge_adapters``) folds a frozen
    adapter into its base for faster inference; a 4-bit base is first dequantized to the weights
    its own forward pass computes with (:func:`merge_frozen_adapter`), so the merged model is the
    trained function up to float rounding.
    """
    from transformers import AutoModelForCausalLM

    from rulelens.modeling.base_models import torch_dtype

    placement = placement or run_placement()
    kwargs: dict[str, Any] = dict(
        dtype=torch_dtype(dtype or placement.dtype),
        local_files_only=local_files_only,
        trust_remote_code=False,
        revision=revision,
    )
    quantized = bool(quantization)
    if quantized:
        from rulelens.modeling.strategies import quantization_config

        kwargs["quantization_config"] = quantization_config(quantization)
        kwargs["device_map"] = "auto" if placement.device_map == "auto" else quantized_device_map(placement)
    elif placement.device_map == "auto":
        kwargs["device_map"] = "auto"
    model = AutoModelForCausalLM.from_pretrained(location, **kwargs)
    if quantized:
        from rulelens.modeling.strategies import disable_cpu_4bit_repacking

        disable_cpu_4bit_repacking(model)  # score exactly the function that was trained
    elif "device_map" not in kwargs:
        model = model.to(placement.device)
    if adapter is not None:
        from peft import PeftModel

        merge = placement.merge_adapters if merge_adapter is None else bool(merge_adapter)
        if merge and not is_trainable:
            model = merge_frozen_adapter(model, adapter, quantized=quantized)
        else:
            model = PeftModel.from_pretrained(model, adapter, is_trainable=bool(is_trainable))
        if "device_map" not in kwargs:
            model = model.to(placement.device)  # adapter weights beside the base weights
    model.eval()
    model.rulelens_placement = Placement(
        device=placement.device,
        dtype=dtype or placement.dtype,
        device_map=kwargs.get("device_map") if isinstance(kwargs.get("device_map"), str) else None,
        merge_adapters=bool(getattr(model, "rulelens_merged_adapter", None)),
    )
    return model


def merge_frozen_adapter(base: Any, adapter: str, *, quantized: bool) -> Any:
    """The base with the peft adapter at ``adapter`` folded into its weights (a plain transformers model).

    A 4-bit bitsandbytes base is dequantized first (transformers' ``dequantize``): each 4-bit
    linear becomes a linear layer holding exactly the weights its forward pass dequantizes on every
    call, so adding the adapter's ``scale x B A`` to them gives the trained function up to float
    rounding (peft's own merge into a 4-bit layer would quantize the sum again, a different model).
    ``model.rulelens_merged_adapter`` records it.
    """
    from peft import PeftModel

    if quantized:
        base = base.dequantize()
    merged = PeftModel.from_pretrained(base, adapter, is_trainable=False).merge_and_unload()
    merged.rulelens_merged_adapter = {"adapter": adapter, "dequantized_4bit_base": bool(quantized)}
    return merged


def model_placement(model: Any) -> dict[str, str]:
    """``device`` and ``dtype`` a loaded model actually has (for metrics/tags).

    The device is the input embedding's (where inputs go); the dtype is that of the first
    floating-point parameter that is not 4-bit packed storage.
    """
    import torch

    inner = model
    while hasattr(inner, "get_base_model") and inner.get_base_model() is not inner:
        inner = inner.get_base_model()
    embeddings = inner.get_input_embeddings() if hasattr(inner, "get_input_embeddings") else None
    device = embeddings.weight.device if embeddings is not None else next(inner.parameters()).device
    dtype = next((p.dtype for p in inner.parameters() if p.is_floating_point()), torch.float32)
    sharded = len({p.device for p in inner.parameters()}) > 1
    return {"device": "auto-sharded" if sharded else str(device), "dtype": str(dtype).replace("torch.", "")}


def load_base_for_inference(spec: BaseModelSpec | Mapping[str, Any], placement: Any = None):
    """(model, tokenizer) of an untuned base for evaluation/attribution (the zero-shot rows), on the
    run's placement (device, dtype), like every fine-tuned checkpoint."""
    from transformers import AutoTokenizer

    from rulelens.modeling.base_models import BaseModelSpec, materialize_base_model

    spec = BaseModelSpec.from_params(spec)
    location = materialize_base_model(spec)
    local_only = spec.needs_cache or not spec.allow_download
    revision = None if spec.needs_cache else spec.revision
    model = load_for_inference(location, placement=placement, local_files_only=local_only, revision=revision)
    tokenizer = AutoTokenizer.from_pretrained(
        location, local_files_only=local_only, revision=revision, trust_remote_code=False
    )
    return model, tokenizer
