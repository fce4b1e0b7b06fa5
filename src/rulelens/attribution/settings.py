"""The ``attribution`` parameters block as frozen settings (``conf/base/parameters_attribution.yml``).

Every key is declared in that file and nowhere in the code: :meth:`AttributionSettings.from_params`
fails naming the key when one is missing or unknown (:mod:`rulelens.param_blocks`). Values are
passed on as the parameters give them; ``null`` engine options are left out, so the engine
uses its own behaviour for them (``batch_size: null`` adapts the batch, ``dtype: null`` is float32).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from rulelens.param_blocks import ParameterError, check_block

SOURCE = "conf/base/parameters_attribution.yml"
# the keys passed on to the engine (rulelens.attribution.engine.attribute_clause) when not null;
# mask_text goes in as the engine's mask_token
ENGINE_OPTIONS = (
    "operator",
    "target_mode",
    "reduction",
    "max_new_tokens",
    "memory_cap_bytes",
    "max_batch_tokens",
    "dtype",
    "bf16_tolerance",
    "batch_size",
    "reuse_prefix",
)
# the deletion curves and LDS score with the dtype the attributions ended up in (fp32 after a failed bf16 check)
SCORING_OPTIONS = ("memory_cap_bytes", "max_batch_tokens", "batch_size", "reuse_prefix", "dtype")


def _keys(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True)
class LDSSettings:
    """``attribution.faithfulness.lds``: the linear datamodeling score (docs/attribution.md)."""

    n_masks: int
    keep_prob: float
    n_permutations: int

    @classmethod
    def from_params(cls, params: Any) -> LDSSettings | None:
        """The LDS settings, or None for ``lds: false`` (the LDS switched off)."""
        if params is False:
            return None
        where = "attribution.faithfulness.lds"
        if params is None:
            raise ParameterError(
                f"{where} is null; give its block ({_keys(cls)}) or false to switch the LDS off (see {SOURCE})"
            )
        check_block(params, where, _keys(cls), SOURCE)
        return cls(
            n_masks=int(params["n_masks"]),
            keep_prob=float(params["keep_prob"]),
            n_permutations=int(params["n_permutations"]),
        )


@dataclass(frozen=True)
class FaithfulnessSettings:
    """``attribution.faithfulness``: deletion curves and LDS of ``n_clauses`` study clauses drawn over the strata."""

    n_clauses: int
    max_k: int | None
    n_random: int
    seed: int | None
    lds: LDSSettings | None

    @classmethod
    def from_params(cls, params: Any) -> FaithfulnessSettings:
        check_block(params, "attribution.faithfulness", _keys(cls), SOURCE)
        return cls(
            n_clauses=max(0, int(params["n_clauses"] or 0)),  # 0 or null: no curves and no LDS
            max_k=_optional_int(params["max_k"]),
            n_random=int(params["n_random"]),
            seed=_optional_int(params["seed"]),
            lds=LDSSettings.from_params(params["lds"]),
        )


@dataclass(frozen=True)
class AttributionSettings:
    """``attribution``: engine options, progress display and the faithfulness checks."""

    operator: str
    mask_text: str | None
    target_mode: str
    reduction: str
    max_new_tokens: int
    max_batch_tokens: int | None
    memory_cap_bytes: float | None
    batch_size: int | None
    reuse_prefix: bool | str
    dtype: str | None
    bf16_tolerance: float
    progress: bool
    recompute: bool
    faithfulness: FaithfulnessSettings

    @classmethod
    def from_params(cls, params: Any) -> AttributionSettings:
        check_block(params, "attribution", _keys(cls), SOURCE)
        values = {key: params[key] for key in _keys(cls)}
        values["progress"] = bool(values["progress"])
        values["recompute"] = bool(values["recompute"])
        values["faithfulness"] = FaithfulnessSettings.from_params(values["faithfulness"])
        return cls(**values)

    def engine_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`rulelens.attribution.attribute_clauses` (null options left out)."""
        options = {key: getattr(self, key) for key in ENGINE_OPTIONS if getattr(self, key) is not None}
        if self.mask_text is not None:
            options["mask_token"] = self.mask_text
        return options

    def scoring_options(self, dtype: str | None) -> dict[str, Any]:
        """Engine options of the deletion curves and LDS, scored in ``dtype`` (None: float32)."""
        values = {key: getattr(self, key) for key in SCORING_OPTIONS}
        values["dtype"] = dtype
        return {key: value for key, value in values.items() if value is not None}
