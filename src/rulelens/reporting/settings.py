"""The ``reporting`` parameters block as frozen settings (``conf/base/parameters_reporting.yml``).

Every key is declared in that file and nowhere in the code: :meth:`ReportingSettings.from_params`
fails naming the key when one is missing or unknown (:mod:`rulelens.param_blocks`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from rulelens.param_blocks import check_block

SOURCE = "conf/base/parameters_reporting.yml"


def _keys(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


@dataclass(frozen=True)
class PlateauSettings:
    """``reporting.plateau``: the quality-against-size plateau fit (docs/statistics.md)."""

    metric: str
    models: tuple[str, ...]
    epsilon: float
    min_n_params: float | None
    n_resamples: int
    flat_margin: float

    @classmethod
    def from_params(cls, params: Any) -> PlateauSettings:
        check_block(params, "reporting.plateau", _keys(cls), SOURCE)
        return cls(
            metric=str(params["metric"]),
            models=tuple(str(model) for model in params["models"]),
            epsilon=float(params["epsilon"]),
            min_n_params=None if params["min_n_params"] is None else float(params["min_n_params"]),
            n_resamples=int(params["n_resamples"]),
            flat_margin=float(params["flat_margin"]),
        )


@dataclass(frozen=True)
class ReportingSettings:
    """``reporting``: the report's title and run labels, test settings and the plateau fit."""

    title: str
    dataset: str
    environment: str
    alpha: float
    focus_equivalence_margin: float
    top_k: int
    n_resamples: int
    seed: int
    quality_metrics: tuple[str, ...]
    plateau: PlateauSettings
    heatmap_examples: int

    @classmethod
    def from_params(cls, params: Any) -> ReportingSettings:
        check_block(params, "reporting", _keys(cls), SOURCE)
        return cls(
            title=str(params["title"]),
            dataset="" if params["dataset"] is None else str(params["dataset"]),
            environment="" if params["environment"] is None else str(params["environment"]),
            alpha=float(params["alpha"]),
            focus_equivalence_margin=float(params["focus_equivalence_margin"]),
            top_k=int(params["top_k"]),
            n_resamples=int(params["n_resamples"]),
            seed=int(params["seed"]),
            quality_metrics=tuple(str(metric) for metric in params["quality_metrics"]),
            plateau=PlateauSettings.from_params(params["plateau"]),
            heatmap_examples=int(params["heatmap_examples"]),
        )

    @property
    def quality_metric(self) -> str:
        """The quality metric of the plateau fit, the quality figure and the quality verdict."""
        return self.plateau.metric

    def bootstrap(self) -> dict[str, int]:
        """``n_resamples`` and ``seed`` of every bootstrap CI and permutation test."""
        return {"n_resamples": self.n_resamples, "seed": self.seed}
