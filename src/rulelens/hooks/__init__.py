"""Kedro hooks, one concern per module, registered in settings.py (``HOOKS``).

- :mod:`.mlflow_runs`: ``VariantTrackingHook``, the MLflow parent run per ``kedro run`` and one child
  run per strategy x size variant (kedro-mlflow maps one Kedro run to one MLflow run; its own hooks
  are disabled in settings.py, its ``mlflow.yml`` and ``kedro mlflow ui`` stay in use);
- :mod:`.artifacts`: which saved datasets go to MLflow, read from the catalog's metadata;
- :mod:`.placement`: ``PlacementHook``, where models run, resolved once before any node;
- :mod:`.run_lock`: ``RunLockHook``, one run per data folder.

Under the Dask runner the parent run stays on the submitting side; the hand-off to the workers is
:mod:`rulelens.runners.tracking_handoff`.
"""

from rulelens.hooks.artifacts import ARTIFACT_ROLES, METADATA_KEY, CatalogArtifactError, artifact_role, artifact_roles
from rulelens.hooks.mlflow_runs import VariantTrackingHook, tolerant, variant_node_counts
from rulelens.hooks.placement import PlacementHook
from rulelens.hooks.run_lock import RunLockHook

__all__ = [
    "ARTIFACT_ROLES",
    "METADATA_KEY",
    "CatalogArtifactError",
    "PlacementHook",
    "RunLockHook",
    "VariantTrackingHook",
    "artifact_role",
    "artifact_roles",
    "tolerant",
    "variant_node_counts",
]
