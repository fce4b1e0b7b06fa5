"""evaluation: every variant (and each untuned base, zero-shot) writes rules for the test clauses."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
