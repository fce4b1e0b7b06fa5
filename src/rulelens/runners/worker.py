"""What a Dask worker runs for one Kedro node: load inputs from the catalog, run, save, log to MLflow.

Imported on the workers by reference (``rulelens`` must be installed there). Inputs and outputs
go through the catalog's persistent datasets (shared folder / fsspec URL), never worker memory;
the task result is only a small record (times, worker, MLflow child run ids).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

import cloudpickle

from rulelens.hooks import VariantTrackingHook
from rulelens.runners.tracking_handoff import WorkerTrackingHook, child_ids


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except ValueError:  # not inside a worker (called directly)
        return "local"


def _hook_manager(handoff: dict[str, Any] | None, catalog):
    """The project's hooks, fresh per task; the tracking hook attached to the submitting side's parent run."""
    from kedro.framework.hooks.manager import _create_hook_manager, _register_hooks_entry_points

    from rulelens import settings as project_settings

    manager = _create_hook_manager()
    tracker = None
    for hook in project_settings.HOOKS:
        if isinstance(hook, VariantTrackingHook):  # a fresh instance per task, never shared by threads
            hook = tracker = WorkerTrackingHook.for_task(handoff, catalog)
        manager.register(hook)
    _register_hooks_entry_points(manager, project_settings.DISABLE_HOOKS_FOR_PLUGINS)
    return manager, tracker


def _configure_placement(catalog) -> None:
    """Resolve the run's device placement in this worker process, as before_pipeline_run does on the submitting side."""
    try:
        from rulelens.modeling import placement
    except ImportError:  # pragma: no cover - older checkouts
        return
    if not hasattr(placement, "configure_run"):
        return
    try:
        training = catalog.load("params:training") or {}
    except Exception:  # no training parameters in this pipeline's catalog
        training = {}
    placement.configure_run(training.get("placement"))


def run_node(
    node, catalog_bytes: bytes, run_id: str | None, handoff: dict[str, Any] | None, project_path: str
) -> dict[str, Any]:
    """Run ``node`` as Kedro's Task does (same hooks, same catalog), return a record for the trace."""
    from kedro.runner.task import Task

    start = time.time()
    if os.getcwd() != project_path and os.path.isdir(project_path):
        os.chdir(project_path)  # relative paths in parameters (base-model cache) resolve as on the submitting side
    logging.getLogger("rulelens").setLevel(logging.INFO)
    catalog = cloudpickle.loads(catalog_bytes)
    _configure_placement(catalog)
    hook_manager, tracker = _hook_manager(handoff, catalog)
    Task(node=node, catalog=catalog, hook_manager=hook_manager, is_async=False, run_id=run_id).execute()
    return {
        "node": node.name,
        "namespace": node.namespace,
        "worker": _worker_address(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "start": start,
        "end": time.time(),
        "children": child_ids(tracker) if tracker is not None and tracker.attached else {},
    }
