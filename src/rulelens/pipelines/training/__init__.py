"""training: fine-tune every strategy x size variant, one namespaced branch per variant."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
