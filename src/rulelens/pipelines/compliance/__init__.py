"""The compliance pipeline: a variant's rules checked on an IFC building model (docs/compliance.md)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
