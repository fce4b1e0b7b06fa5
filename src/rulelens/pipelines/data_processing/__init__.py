"""data_processing: validate clause/rule pairs, split them, and segment clauses into words."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
