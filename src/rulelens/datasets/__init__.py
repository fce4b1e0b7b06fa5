"""Custom Kedro datasets for what kedro-datasets has no class for (Hugging Face model folders)."""

from rulelens.datasets.hf_checkpoint import HFCheckpointDataset

__all__ = ["HFCheckpointDataset"]
