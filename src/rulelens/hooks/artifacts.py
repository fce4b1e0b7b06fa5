"""Which saved datasets the tracking hook logs to MLflow, and to which run: declared in the catalog.

A dataset's entry (or factory pattern) says ``metadata: {rulelens: {mlflow_artifact: <role>}}``
(:data:`ARTIFACT_ROLES`); nothing in code lists dataset names (docs/configuration.md, "MLflow").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

METADATA_KEY = "rulelens"  # the catalog metadata block this project reads (beside kedro-viz's)
ARTIFACT_ROLES = {
    "parent": "a file or folder logged to the parent run of the `kedro run` (cross-variant outputs)",
    "variant": "a file logged to the child run of the variant whose node saved it",
    "variant_reference": "its path set as the tag `<name>_path` of the variant's child run, never copied (checkpoints)",
}


class CatalogArtifactError(ValueError):
    """A catalog entry's ``metadata.rulelens`` block is not one the tracking hook understands."""


def artifact_role(dataset_name: str, metadata: Any) -> str | None:
    """The MLflow role a dataset's catalog metadata declares (:data:`ARTIFACT_ROLES`), None when it declares none."""
    if not isinstance(metadata, Mapping) or METADATA_KEY not in metadata:
        return None
    block = metadata[METADATA_KEY]
    if not isinstance(block, Mapping) or set(block) != {"mlflow_artifact"}:
        raise CatalogArtifactError(
            f"catalog dataset {dataset_name!r}: metadata.{METADATA_KEY} must be exactly "
            f"{{mlflow_artifact: <role>}}, got {block!r} (the roles: conf/base/catalog.yml)"
        )
    role = block["mlflow_artifact"]
    if role not in ARTIFACT_ROLES:
        raise CatalogArtifactError(
            f"catalog dataset {dataset_name!r}: metadata.{METADATA_KEY}.mlflow_artifact is {role!r}, "
            f"not one of {sorted(ARTIFACT_ROLES)} (the roles: conf/base/catalog.yml)"
        )
    return role


def artifact_roles(catalog: Any, dataset_names: Iterable[str]) -> dict[str, str]:
    """dataset name -> MLflow role, for the named datasets the catalog declares one for.

    Reads each dataset's ``metadata`` (explicit entries and factory patterns alike: ``catalog.get``
    resolves a pattern to the dataset it makes); names the catalog does not hold have no role.
    """
    roles = {}
    for name in sorted(dataset_names):
        dataset = catalog.get(name) if catalog is not None else None
        role = artifact_role(name, getattr(dataset, "metadata", None))
        if role is not None:
            roles[name] = role
    return roles
