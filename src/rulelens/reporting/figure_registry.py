"""The report's figures, registered once: what draws each, from which table, its caption and dataset.

:data:`FIGURE_SPECS` is the one list of figures. The reporting pipeline's ``draw_figures`` node
saves one catalog dataset per spec (:attr:`FigureSpec.dataset`, ``figure_<name>``, all made by
the catalog's single ``figure_{name}`` factory: ``figures/<name>.png``); the report
(:mod:`rulelens.reporting.report_content`) draws the same figures with their captions, in this
order, and places each in its section by name. A new figure: its function in
:mod:`rulelens.reporting.figures`, a spec here, its name in one section of ``report_content``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rulelens.reporting import figures

DATASET_PREFIX = "figure_"  # the catalog's factory pattern is figure_{name}


@dataclass(frozen=True)
class FigureSpec:
    """One figure of the report.

    Attributes:
        name: its id in the report (``fig-<name>``) and its file (``figures/<name>.png``).
        builder: the function of :mod:`rulelens.reporting.figures` that draws it (a table in, a Figure out).
        table: the :class:`~rulelens.reporting.report_content.StudyTables` field it is drawn from.
        caption: its caption in the report; ``{metric}`` stands for the report's quality metric.
        takes_metric: the builder's second argument is the report's quality metric.
    """

    name: str
    builder: Callable[..., Any]
    table: str
    caption: str
    takes_metric: bool = False

    @property
    def dataset(self) -> str:
        """The catalog dataset the pipeline saves it to."""
        return f"{DATASET_PREFIX}{self.name}"

    def draw(self, tables: Any, quality_metric: str) -> Any:
        """The matplotlib Figure, drawn from ``tables`` (a StudyTables)."""
        table = getattr(tables, self.table)
        return self.builder(table, quality_metric) if self.takes_metric else self.builder(table)

    def caption_for(self, quality_metric: str) -> str:
        return self.caption.format(metric=quality_metric.replace("_", " "))


FIGURE_SPECS: tuple[FigureSpec, ...] = (
    FigureSpec(
        "training",
        figures.training_figure,
        "variants",
        "Validation loss of every variant per evaluation during fine-tuning, one panel per size; the filled "
        "marker is the checkpoint kept (lowest validation loss), the dotted line the step cap.",
    ),
    FigureSpec(
        "focus",
        figures.focus_figure,
        "clause_focus",
        "Per-clause focus of the word attributions. Normalised entropy (left; 0 = one word holds all mass, "
        "1 = uniform) and top-k mass (right).",
    ),
    FigureSpec(
        "category_share",
        figures.category_share_figure,
        "category_summary",
        "Mean share of attribution mass on each word category against the base model's parameter "
        "count (log scale), with 95% bootstrap CIs over clauses.",
    ),
    FigureSpec(
        "quality",
        figures.quality_figure,
        "quality_by_variant",
        "Mean {metric} of generated against reference rules by parameter count, fine-tuned "
        "strategies and the untuned base (dashed), 95% bootstrap CIs.",
        takes_metric=True,
    ),
    FigureSpec(
        "correctness_link",
        figures.correctness_link_figure,
        "attribution_correctness",
        "Odds ratio (per 0.1 of attribution share) of translating the matching part right, GEE "
        "with clause clusters, 95% CI; 1 (dotted) = no link.",
    ),
    FigureSpec(
        "agreement",
        figures.agreement_figure,
        "agreement_matrix",
        "Mean Spearman correlation of two variants' word attributions on the same clause.",
    ),
    FigureSpec(
        "faithfulness",
        figures.faithfulness_figure,
        "faithfulness_curves",
        "Deletion curves: removing the top-k attributed words (solid) against removing k random words "
        "(dashed, mean of the random orders).",
    ),
    FigureSpec(
        "clause_heatmap",
        figures.clause_heatmap_figure,
        "attributions",
        "The first attributed clause under every variant (rows, smallest model first): red words raise "
        "log p(target rule), blue words lower it.",
    ),
)
FIGURES: tuple[str, ...] = tuple(spec.name for spec in FIGURE_SPECS)
FIGURE_DATASETS: dict[str, str] = {spec.name: spec.dataset for spec in FIGURE_SPECS}  # name -> catalog dataset
