"""The MLflow hand-off of a distributed run: the parent run stays on the submitting side.

:class:`~rulelens.hooks.VariantTrackingHook` only tracks; what the Dask runner adds lives here.

- Submitting side (:class:`~rulelens.runners.DaskRunner`): :func:`find_tracker` finds the run's
  tracking hook, :func:`handoff` is the small dict every task carries (store, experiment, parent
  run, parameters, sizes, the child runs known so far); after each task :func:`adopt` takes over
  the child runs a worker made, and on a failure :func:`children_in_store` finds those of a worker
  that died, so that the submitting side's end of run closes them all.
- Worker side (:mod:`rulelens.runners.worker`): :class:`WorkerTrackingHook` logs a task's node into
  that parent run; it never opens or closes a parent, takes over a variant's child run another
  worker (or a retried task) made, and leaves a variant's run open (a worker sees only some of a
  variant's nodes).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from rulelens.hooks import VariantTrackingHook, tolerant
from rulelens.variant_grid import Variant, parse_namespace

logger = logging.getLogger(__name__)


def find_tracker(hook_manager) -> VariantTrackingHook | None:
    """The project's tracking hook registered for this run, if any."""
    if hook_manager is None or not hasattr(hook_manager, "get_plugins"):
        return None
    for plugin in hook_manager.get_plugins():
        if isinstance(plugin, VariantTrackingHook):
            return plugin
    return None


def handoff(tracker: VariantTrackingHook | None, project_path: Path, remote: bool) -> dict[str, Any] | None:
    """What a worker needs to log into the tracker's parent run (None when tracking is off).

    ``remote``: the workers run elsewhere (a scheduler address is set), so a local store is worth a warning.
    """
    if tracker is None or not tracker.parent_id:
        return None
    uri = absolute_store_uri(tracker.tracking_uri, project_path)
    if remote and not uri.startswith(("http://", "https://")):
        logger.warning(
            "DaskRunner: MLflow store %s is a local file; workers on other machines need a "
            "tracking server (mlflow server ..., MLFLOW_TRACKING_URI=http://...)",
            uri,
        )
    return {
        "tracking_uri": uri,
        "experiment": tracker.experiment,
        "experiment_id": tracker.experiment_id,
        "parent_id": tracker.parent_id,
        "params": tracker.variant_params,
        "sizes": sorted(tracker.sizes),
        "children": child_ids(tracker),
    }


def absolute_store_uri(uri: str, project_path: Path) -> str:
    """``sqlite:///mlflow.db`` relative to the project, made absolute for workers elsewhere."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        return prefix + str((project_path / uri[len(prefix) :]).resolve())
    return uri


def child_ids(tracker: VariantTrackingHook) -> dict[str, str]:
    """variant namespace -> child run id, for the child runs the tracker knows."""
    return {variant.namespace: run_id for variant, run_id in tracker.children.items()}


def adopt(tracker: VariantTrackingHook, children: dict[str, str]) -> None:
    """Take over child runs made elsewhere (by workers), so that this side's end of run closes them."""
    for namespace, run_id in children.items():
        tracker.children.setdefault(parse_namespace(namespace), run_id)


@tolerant("list the variant runs under the parent run")
def children_in_store(tracker: VariantTrackingHook) -> dict[str, str]:
    """The child runs the store holds under the tracker's parent (e.g. made by a worker that then died)."""
    if not tracker.parent_id:
        return {}
    found = tracker.client.search_runs(
        [tracker.experiment_id], f"tags.mlflow.parentRunId = '{tracker.parent_id}'", max_results=1000
    )
    return {run.info.run_name: run.info.run_id for run in found if run.data.tags.get("rulelens.level") == "variant"}


class WorkerTrackingHook(VariantTrackingHook):
    """The tracking hook of one task in a Dask worker: a fresh instance per task, never shared by threads.

    Attached (:meth:`attach`), it logs node outputs into the submitting side's parent run; unattached
    (tracking off) it logs nothing, as a tracking hook whose parent run was never opened.
    """

    def __init__(self) -> None:
        super().__init__()
        self.attached = False

    @classmethod
    def for_task(cls, handoff: dict[str, Any] | None, catalog) -> WorkerTrackingHook:
        hook = cls()
        if handoff:
            hook.attach(handoff, catalog)
        return hook

    def attach(self, handoff: dict[str, Any], catalog) -> None:
        """Log into the submitting side's parent run, never open a parent."""
        from mlflow.tracking import MlflowClient

        self.enabled, self.attached = True, True
        self.tracking_uri, self.experiment = handoff["tracking_uri"], handoff["experiment"]
        self.experiment_id, self.parent_id = handoff["experiment_id"], handoff["parent_id"]
        self.variant_params, self.sizes = handoff["params"], set(handoff["sizes"])
        self.client = MlflowClient(tracking_uri=self.tracking_uri)
        self.children = {}
        adopt(self, handoff["children"])
        self.catalog = catalog

    def _child(self, variant: Variant) -> str:
        if variant not in self.children and self.attached:  # another worker (or a retried task) may have made it
            made = children_in_store(self) or {}
            adopt(self, {name: run_id for name, run_id in made.items() if name == variant.namespace})
        return super()._child(variant)

    def _node_finished(self, variant: Variant, run_id: str) -> None:
        """A worker sees only some of a variant's nodes: the submitting side's end of run closes its run."""
