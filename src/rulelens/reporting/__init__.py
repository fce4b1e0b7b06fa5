"""Reporting (docs/statistics.md): cross-variant tables, statistics, figures, findings and the HTML report.

- stacking:         per-variant outputs stacked with strategy, model_size and n_params
- study_statistics: the study's statistics composed from :mod:`rulelens.statistics`
- facts:            what this run was (the report's prose about the run is made from it)
- findings:         verdicts against the published findings
- figures:          matplotlib figures, one per question (pure: a table in, a Figure out)
- figure_registry:  the one list of the report's figures (builder, table, caption, catalog dataset)
- report_content:   the report's sections: prose, figures and tables from the saved tables
- html_page:        the sections rendered as one self-contained HTML page
- settings:         the ``reporting`` parameters block (:class:`~rulelens.reporting.settings.ReportingSettings`)

:data:`FIGURES` (the figure names, in report order) is :mod:`rulelens.reporting.figure_registry`'s,
named here too; importing it loads the figure functions' module (numpy, pandas; matplotlib only
when a figure is drawn).
"""

from rulelens.reporting.figure_registry import FIGURES

__all__ = ["FIGURES"]
