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


class LazyModelBundle(ModelBundle):
    """A bundle whose model is built on first use of ``.model``.

    A stage that finds its finished outputs for this checkpoint (:mod:`rulelens.stage_store`)
    never touches ``.model``, so a rerun with nothing to do does not spend a model load on it.
    """

    def __init__(self, load_model: Any, tokenizer: Any, metadata: dict[str, Any] | None = None) -> None:
        self._load_model = load_model
        self._model: Any = None
        self.tokenizer = tokenizer
        self.metadata = dict(metadata or {})

    @property
    def model(self) -> Any:
        if self._model is None:
            self._model = self._load_model()
        return self._model

    def __repr__(self) -> str:
        state = "loaded" if self._model is not None else "not loaded yet"
        return f"LazyModelBundle(model {state}, metadata keys {sorted(self.metadata)})"
