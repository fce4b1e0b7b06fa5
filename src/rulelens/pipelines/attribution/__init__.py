"""attribution: word attributions of every variant on the test clauses, and side-by-side heatmaps."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
