"""reporting: the study's statistics, figures and HTML report from the evaluation and attribution tables."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
