"""``kedro run --runner rulelens.runners.DaskRunner``: Kedro nodes as Dask distributed tasks.

Nodes are submitted in dependency order as soon as their inputs exist, so independent variant
branches (``fft.xs`` and ``lora.m``) train at the same time on different workers. Nodes of a
variant namespace tagged ``training``/``evaluation``/``attribution`` hold a worker resource
(``GPU=1``, or ``SLOT=1`` where there are no GPUs) so two of them never share a worker.

Data never travels through worker memory: every dataset passed between nodes must be persistent
in the catalog (shared folder or fsspec URL); a MemoryDataset between two nodes is refused before
anything is submitted. The MLflow parent run stays on the submitting side (the tracking hook);
each worker's hook adds the variant child runs under it (the hand-off: :mod:`rulelens.runners.tracking_handoff`).
See docs/cluster.md.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any

import cloudpickle
from kedro.io import MemoryDataset
from kedro.runner import AbstractRunner

from rulelens.modeling.strategies import STRATEGIES
from rulelens.runners import tracking_handoff
from rulelens.runners.config import DaskSettings, load_file_settings
from rulelens.runners.worker import run_node
from rulelens.variant_grid import ZERO_SHOT, run_environment

logger = logging.getLogger(__name__)


class MemoryHandoffError(ValueError):
    """A dataset would pass between two nodes in memory, which distributed workers do not share."""


class DaskNodeError(RuntimeError):
    """A node failed on the cluster after its retries (or its worker died too often)."""


class DaskRunner(AbstractRunner):
    """Run a Kedro pipeline on a Dask distributed cluster (a LocalCluster by default).

    Args:
        scheduler: scheduler address (``tcp://host:8786``); overrides dask.yml and RULELENS_DASK_SCHEDULER.
        retries: how often a failed node is resubmitted.
        trace_file: where the JSON trace of node start/end times is written (relative to the project).
        n_workers: workers of the LocalCluster (when no scheduler is given).
        is_async: accepted for Kedro's CLI; inputs are always loaded synchronously on the worker.
    """

    def __init__(
        self,
        is_async: bool = False,
        scheduler: str | None = None,
        retries: int | None = None,
        trace_file: str | None = None,
        n_workers: int | None = None,
        project_path: str | None = None,
    ):
        super().__init__(is_async=False)
        self._overrides = {"scheduler": scheduler, "retries": retries, "trace_file": trace_file}
        self._n_workers = n_workers
        self._project_path = Path(project_path or os.getcwd()).resolve()
        self.trace: list[dict[str, Any]] = []

    def _get_executor(self, max_workers: int):  # Kedro's executor path is not used: Dask schedules
        return None

    def settings(self) -> DaskSettings:
        settings = DaskSettings.build(
            load_file_settings(self._project_path, run_environment()), overrides=self._overrides
        )
        if self._n_workers:
            settings.local = {**settings.local, "n_workers": int(self._n_workers)}
        return settings

    # ---- the run ----

    def _run(self, pipeline, catalog, hook_manager=None, run_id=None) -> None:
        check_no_memory_handoffs(pipeline, catalog)
        settings = self.settings()
        tracker = tracking_handoff.find_tracker(hook_manager)
        handoff = tracking_handoff.handoff(tracker, self._project_path, remote=bool(settings.scheduler))
        catalog_bytes = cloudpickle.dumps(catalog)
        if logging.getLogger("distributed").level in (logging.NOTSET, logging.INFO):
            logging.getLogger("distributed").setLevel(logging.WARNING)  # cluster chatter; node logs still forwarded
        client, cluster = _connect(settings)
        try:
            self._schedule(pipeline, catalog, client, settings, catalog_bytes, handoff, tracker, run_id)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()

    def _schedule(
        self, pipeline, catalog, client, settings: DaskSettings, catalog_bytes: bytes, handoff, tracker, run_id
    ) -> None:
        from distributed import wait

        if settings.wait_for_workers > 0:
            client.wait_for_workers(settings.wait_for_workers, timeout=settings.wait_timeout_s)
        workers = client.scheduler_info(n_workers=-1)["workers"]
        heavy = heavy_resources(settings, [w.get("resources") or {} for w in workers.values()])
        if settings.forward_logs:
            client.forward_logging("rulelens", logging.INFO)
        logger.info(
            "DaskRunner: %d worker(s) at %s; heavy nodes need %s; retries=%d",
            len(workers),
            client.scheduler.address,
            heavy or "no resource",
            settings.retries,
        )
        self.trace = []
        self._trace_meta = {
            "run_id": run_id,
            "scheduler": client.scheduler.address,
            "workers": {address: w.get("resources") or {} for address, w in workers.items()},
        }
        dependencies = pipeline.node_dependencies
        todo, done = set(dependencies), set()
        running: dict[Any, Any] = {}
        children: dict[str, str] = dict(handoff["children"]) if handoff else {}
        creating: set[str] = set()  # variants whose child run a task in flight is about to create
        submitted_at: dict[str, float] = {}
        while True:
            ready = sorted((n for n in todo if dependencies[n] <= done), key=lambda n: n.name)
            for node in ready:
                variant = _variant_namespace(node)
                if handoff and variant and variant not in children:
                    if variant in creating:
                        continue  # wait for the task that creates this variant's child run: one child per variant
                    creating.add(variant)
                todo.discard(node)
                task_handoff = {**handoff, "children": dict(children)} if handoff else None
                needs = heavy if is_heavy(node, settings.heavy_tags) else None
                future = client.submit(
                    run_node,
                    node,
                    catalog_bytes,
                    run_id,
                    task_handoff,
                    str(self._project_path),
                    key=f"{node.name}-{uuid.uuid4().hex[:8]}",
                    pure=False,
                    retries=settings.retries,
                    resources=needs,
                )
                running[future] = node
                submitted_at[node.name] = time.time()
            if not running:
                if todo:
                    raise RuntimeError(f"DaskRunner: cannot schedule {sorted(n.name for n in todo)}")
                break
            finished = wait(list(running), return_when="FIRST_COMPLETED").done
            for future in finished:
                node = running.pop(future)
                try:
                    record = future.result()
                except Exception as error:
                    for other in running:
                        other.cancel()
                    if tracker is not None:
                        tracking_handoff.adopt(tracker, children)
                        tracking_handoff.adopt(tracker, tracking_handoff.children_in_store(tracker) or {})
                    self._write_trace(settings)
                    self._suggest_resume_scenario(pipeline, done, catalog)
                    raise DaskNodeError(
                        f"DaskRunner: node {node.name!r} failed on the Dask cluster after {settings.retries} "
                        f"retr{'y' if settings.retries == 1 else 'ies'}: {type(error).__name__}: {error}. "
                        "Finished variants keep their checkpoints; rerun the same command to run only what is missing."
                    ) from error
                done.add(node)
                children.update(record.get("children") or {})
                creating.discard(record.get("namespace") or "")
                if tracker is not None:
                    tracking_handoff.adopt(tracker, record.get("children") or {})
                record.update(heavy=needs_name(node, settings, heavy), submitted=submitted_at.get(node.name))
                self.trace.append(record)
                self._write_trace(settings)
                logger.info(
                    "Completed node %s on %s in %.1fs (%d of %d)",
                    node.name,
                    record["worker"],
                    record["end"] - record["start"],
                    len(done),
                    len(dependencies),
                )

    def _write_trace(self, settings: DaskSettings) -> None:
        if not settings.trace_file:
            return
        path = Path(settings.trace_file)
        path = path if path.is_absolute() else self._project_path / path
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {**getattr(self, "_trace_meta", {}), "tasks": self.trace}
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps(body, indent=1, default=str), encoding="utf-8")
        temporary.replace(path)


# ---- helpers (free of a cluster; unit-tested) ----


def check_no_memory_handoffs(pipeline, catalog) -> None:
    """Refuse a pipeline that would pass a MemoryDataset from one node to another (naming the datasets)."""
    produced = {name for node in pipeline.nodes for name in node.outputs}
    consumed = {name for node in pipeline.nodes for name in node.inputs}
    in_memory = []
    for name in sorted(produced & consumed):
        dataset = catalog.get(name, fallback_to_runtime_pattern=True)
        if isinstance(dataset, MemoryDataset) or getattr(dataset, "_EPHEMERAL", False):
            in_memory.append(name)
    if in_memory:
        raise MemoryHandoffError(
            f"DaskRunner: dataset(s) {', '.join(in_memory)} would pass between nodes in memory "
            f"({type(catalog.get(in_memory[0], fallback_to_runtime_pattern=True)).__name__}), but nodes run on "
            "different workers. Give each a persistent catalog entry on storage every worker reaches (a shared "
            "folder or an fsspec URL), e.g. json.JSONDataset; see docs/cluster.md."
        )


def is_heavy(node, heavy_tags) -> bool:
    """A model-loading node: a variant (or zero-shot) namespace and a heavy stage tag."""
    namespace = node.namespace or ""
    return namespace.split(".")[0] in (*STRATEGIES, ZERO_SHOT) and bool(set(node.tags) & set(heavy_tags))


def needs_name(node, settings: DaskSettings, heavy: dict[str, float] | None) -> str | None:
    return ",".join(heavy) if heavy and is_heavy(node, settings.heavy_tags) else None


def heavy_resources(settings: DaskSettings, worker_resources: list[dict[str, float]]) -> dict[str, float] | None:
    """The resource heavy nodes ask for; ``auto``: GPU if a worker declares it, else SLOT, else none."""
    declared = {name for resources in worker_resources for name in resources}
    wanted = settings.heavy_resources
    if wanted == "auto":
        for name in ("GPU", "SLOT"):
            if name in declared:
                return {name: 1}
        logger.warning(
            "DaskRunner: no worker declares a GPU or SLOT resource; heavy nodes may share a worker "
            "(start workers with --resources GPU=1 or SLOT=1)"
        )
        return None
    if not wanted:
        return None
    if isinstance(wanted, str):  # "GPU=1" or "GPU"
        name, _, amount = wanted.partition("=")
        wanted = {name.strip(): float(amount or 1)}
    missing = sorted(set(wanted) - declared)
    if missing:
        raise ValueError(
            f"DaskRunner: heavy nodes need resource(s) {missing} but no worker declares them "
            f"(workers declare {sorted(declared) or 'none'}); start workers with "
            f"--resources {missing[0]}=1 or set heavy_resources in conf/<env>/dask.yml"
        )
    return dict(wanted)


def _variant_namespace(node) -> str | None:
    namespace = node.namespace or ""
    parts = namespace.split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 and parts[0] in STRATEGIES else None


def _connect(settings: DaskSettings):
    """A client for the configured scheduler, or for a new LocalCluster."""
    from distributed import Client, LocalCluster

    if settings.scheduler:
        logger.info("DaskRunner: connecting to the Dask scheduler at %s", settings.scheduler)
        return Client(settings.scheduler, timeout=settings.wait_timeout_s), None
    local = dict(settings.local)
    n_workers = int(local.pop("n_workers", 2))
    env = dict(local.pop("worker_env", None) or {})
    threads = max(1, (os.cpu_count() or 1) // max(1, n_workers))
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(name, os.environ.get(name, str(threads)))
    env = {k: str(v) for k, v in env.items()}
    logger.info("DaskRunner: starting a LocalCluster of %d worker(s) (%s)", n_workers, local.get("resources"))
    cluster = LocalCluster(n_workers=n_workers, processes=True, dashboard_address=None, env=env, **local)
    return Client(cluster), cluster
