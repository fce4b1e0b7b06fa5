"""Reporting (docs/statistics.md): cross-variant tables, statistics, figures, findings and the HTML report.

- stacking:         per-variant outputs stacked with strategy, model_size and n_params
- study_statistics: the study's statistics composed from :mod:`rulelens.statistics`
- facts:            what this run was (the report's prose about the run is made from it)
- findings:         verdicts against the published findings
- figures:          matplotlib figures, one per question
- report_content:   the report's sections: prose, figures and tables from the saved tables
- html_page:        the sections rendered as one self-contained HTML page
- settings:         the ``reporting`` parameters block (:class:`~rulelens.reporting.settings.ReportingSettings`)

Light to import (nothing below is imported here): the pipeline registry and the MLflow hook read
:data:`FIGURES` at start-up.
"""

FIGURES = (
    "training",
    "focus",
    "category_share",
    "quality",
    "correctness_link",
    "agreement",
    "faithfulness",
    "clause_heatmap",
)
