"""The object that flows between training, checkpoint and evaluation nodes: model + tokenizer + metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ModelBundle:
    """A model with the tokenizer it was trained with; metadata says where it came from.

    Kept as one object so a node never saves a model with a different tokenizer by mistake.
    """

    model: Any
    tokenizer: Any
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def coerce(cls, data: Any) -> ModelBundle:
        """Accept a bundle, a mapping with model/tokenizer(/metadata), an object with those
        attributes (e.g. a PreparedModel) or a (model, tokenizer) pair."""
        if isinstance(data, cls):
            return data
        if isinstance(data, dict):
            return cls(data["model"], data["tokenizer"], dict(data.get("metadata") or {}))
        if hasattr(data, "model") and hasattr(data, "tokenizer"):
            return cls(data.model, data.tokenizer, dict(getattr(data, "metadata", None) or {}))
        if isinstance(data, (tuple, list)) and len(data) == 2:
            return cls(data[0], data[1])
        raise TypeError(f"cannot make a ModelBundle from {type(data).__name__}")
