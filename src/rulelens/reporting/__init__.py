"""Reporting (docs/statistics.md): cross-variant tables, statistics, figures, findings and the HTML report.

- tables:   per-variant outputs stacked with strategy, model_size and n_params
- analysis: the study's statistics composed from :mod:`rulelens.statistics`
- figures:  matplotlib figures, one per question
- findings: verdicts against the published findings
- report / study: the self-contained HTML page

Light to import (nothing below is imported here): the pipeline registry and the MLflow hook read
:data:`FIGURES` at start-up.
"""

FIGURES = ("training", "focus", "category_share", "quality", "agreement", "faithfulness", "clause_heatmap")
