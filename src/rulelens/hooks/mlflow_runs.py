"""The tracking hook: MLflow parent run per ``kedro run``, one child run per strategy x size variant.

kedro-mlflow maps one Kedro run to one MLflow run; rulelens needs a run per variant, so this
hook owns the runs (kedro-mlflow's own hooks are disabled in settings.py; its ``mlflow.yml``
and ``kedro mlflow ui`` stay in use). Nodes never call MLflow: the hook logs their outputs.

Which saved datasets go to MLflow is declared in the catalog, not here: a dataset's
``metadata: {rulelens: {mlflow_artifact: <role>}}`` (:data:`ARTIFACT_ROLES`), factory patterns
included. Under the Dask runner the parent run stays on the submitting side; the hand-off to the
workers is :mod:`rulelens.runners.tracking_handoff`.
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from rulelens import tracking
from rulelens.hooks.artifacts import artifact_roles
from rulelens.modeling import placement
from rulelens.param_blocks import declared
from rulelens.variant_grid import Variant, load_grid

logger = logging.getLogger(__name__)
PARAMETERS_TRAINING = "conf/base/parameters_training.yml"


def tolerant(what: str):
    """Let a tracking failure cost a warning, never the run: training hours outlive a lost store."""

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except Exception as error:  # any store/network error; the run's own outputs go on through the catalog
                self.failures += 1
                logger.warning(
                    "MLflow: could not %s (%s: %s); the run goes on, this was not logged",
                    what,
                    type(error).__name__,
                    error,
                )
                return None

        return wrapper

    return decorate


class VariantTrackingHook:
    """Parent + child MLflow runs; switch off with the parameter ``tracking.enabled: false``."""

    def __init__(self) -> None:
        self.enabled = False
        self.tracking_uri = ""
        self.experiment = ""
        self.experiment_id: str | None = None
        self.client = None
        self.parent_id: str | None = None
        self.children: dict[Variant, str] = {}
        self.sizes: set[str] = set()
        self.variant_params: dict[str, Any] = {}
        self.catalog = None
        self.artifacts: dict[str, str | None] = {}  # dataset name -> its catalog-declared MLflow role (None: none)
        self.failures = 0
        self.nodes_left: dict[Variant, int] = {}  # per variant, its nodes in this pipeline not finished yet
        self.node_started: dict[str, float] = {}
        self.closed: set[Variant] = set()

    @hook_impl
    def after_context_created(self, context) -> None:
        """Read tracking settings: parameters (on/off) and mlflow.yml (URI, experiment)."""
        self.enabled = bool(declared(context.params, "tracking.enabled", "conf/base/parameters.yml"))
        if not placement.is_main_process():  # sharded training: rank 0 alone logs to MLflow
            logger.info("Rank %d: MLflow tracking is left to rank 0", placement.process_rank())
            self.enabled = False
        self.variant_params = context.params
        declared(context.params, "training.retrain", PARAMETERS_TRAINING)  # read per variant run: checked up front
        config_loader = context.config_loader
        config_loader.config_patterns.setdefault("mlflow", ["mlflow*", "mlflow*/**", "**/mlflow*"])
        settings = config_loader["mlflow"]
        self.tracking_uri = str(declared(settings, "server.mlflow_tracking_uri", "conf/base/mlflow.yml"))
        self.experiment = str(declared(settings, "tracking.experiment.name", "conf/base/mlflow.yml"))

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        """Read which datasets go to MLflow from the catalog, check the store, then open the parent run,
        before any node (training included) starts."""
        self.catalog = catalog
        self.artifacts = dict.fromkeys(pipeline.datasets(), None)
        self.artifacts.update(artifact_roles(catalog, pipeline.datasets()))  # a bad declaration stops the run here
        if not self.enabled:
            logger.info("MLflow tracking is off (tracking.enabled=false)")
            return
        tracking.check_store(self.tracking_uri)
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=self.tracking_uri)
        experiment = self.client.get_experiment_by_name(self.experiment)
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(self.experiment)
        self.sizes = {variant.size for variant in load_grid(env=run_params.get("env"))}
        pipeline_name = run_params.get("pipeline_names") or run_params.get("pipeline_name") or "__default__"
        run = self.client.create_run(
            experiment_id,
            run_name=f"kedro run {_pipeline_label(pipeline_name)}",
            tags={
                "kedro.run_id": str(run_params.get("run_id") or run_params.get("session_id") or ""),
                "kedro.pipeline": _pipeline_label(pipeline_name),
                "kedro.env": str(run_params.get("env") or "local"),
                "rulelens.level": "parent",
            },
        )
        self.parent_id = run.info.run_id
        self.experiment_id = experiment_id
        self.children = {}
        self.nodes_left = variant_node_counts(pipeline, self.sizes)
        self.node_started, self.closed = {}, set()
        logger.info("MLflow parent run %s in %s (%s)", self.parent_id, self.experiment, self.tracking_uri)

    @hook_impl
    @tolerant("open a variant's run")
    def before_node_run(self, node) -> None:
        """A variant's child run starts when its first node does (MLflow's Duration is then the variant's own)."""
        if not self.parent_id:
            return
        variant = tracking.variant_of(node.namespace, self.sizes)
        if variant is None:
            return
        self._child(variant)
        self.node_started[node.name] = time.time()

    @hook_impl
    @tolerant("log a node's metrics")
    def after_node_run(self, node, outputs: dict[str, Any]) -> None:
        """Log a variant node's metrics, histories and seconds into its child run; end the run after its last node."""
        if not self.parent_id:
            return
        if isinstance(outputs.get("compliance_summary"), dict):
            self._log_compliance(outputs["compliance_summary"])
            return
        variant = tracking.variant_of(node.namespace, self.sizes)
        if variant is None:
            return
        run_id = self._child(variant)
        for name, value in outputs.items():
            self._log_output(run_id, variant, name.rsplit(".", 1)[-1], value)
        started = self.node_started.pop(node.name, None)
        if started is not None:
            stage = node.name.rsplit(".", 1)[-1]  # train_variant, evaluate_variant, attribute_variant, ...
            self.client.log_metric(run_id, f"seconds_{stage}", time.time() - started)
        self._node_finished(variant, run_id)

    def _node_finished(self, variant: Variant, run_id: str) -> None:
        """Count the variant's node done; after its last one in this pipeline its run ends (FINISHED)."""
        if variant not in self.nodes_left:
            return
        self.nodes_left[variant] -= 1
        if self.nodes_left[variant] <= 0 and variant not in self.closed:
            self.closed.add(variant)
            self._terminate(run_id, "FINISHED")

    @hook_impl
    @tolerant("attach a saved dataset")
    def after_dataset_saved(self, dataset_name: str, node) -> None:
        """A saved dataset the catalog declares an MLflow artifact goes to its run (:data:`ARTIFACT_ROLES`)."""
        if not self.parent_id:
            return
        role = self._artifact_role(dataset_name)
        if role is None:
            return
        if role == "parent":
            self._log_parent_artifact(_saved_path(self.catalog, dataset_name))
            return
        variant = tracking.variant_of(node.namespace if node else None, self.sizes)
        if variant is None:
            return
        run_id, name = self._child(variant), dataset_name.rsplit(".", 1)[-1]
        path = _saved_path(self.catalog, dataset_name)
        if path is None:
            return
        if role == "variant_reference":
            self.client.set_tag(run_id, f"{name}_path", path)
        elif Path(path).is_file():
            self.client.log_artifact(run_id, path)

    def _artifact_role(self, dataset_name: str) -> str | None:
        """The dataset's catalog-declared role: read in before_pipeline_run, or here for a dataset not read
        then (a hook that did not open the run, e.g. in a Dask worker)."""
        if dataset_name not in self.artifacts:
            self.artifacts.update({dataset_name: None, **artifact_roles(self.catalog, [dataset_name])})
        return self.artifacts[dataset_name]

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._finish("FINISHED")

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._finish("FAILED")

    def _child(self, variant: Variant) -> str:
        """The child run of ``variant`` in this pipeline run, created with its tags and params."""
        if variant not in self.children:
            from rulelens.variant_grid import variant_settings

            settings = self._trained_with(variant) or variant_settings(self.variant_params, variant)
            run = self.client.create_run(
                self.experiment_id,
                run_name=variant.namespace,
                tags={
                    "mlflow.parentRunId": self.parent_id,
                    "strategy": variant.strategy,
                    "model_size": variant.size,
                    "seed": str(variant.seed),  # the seed replicate (0 without a seed dimension)
                    "rulelens.level": "variant",
                    "base_model": settings.get("base_model_name", ""),
                },
            )
            self.children[variant] = run.info.run_id
            self._log_params(run.info.run_id, settings)
        return self.children[variant]

    def _trained_with(self, variant: Variant) -> dict[str, Any] | None:
        """The settings a completed checkpoint was trained with (its record), unless this run retrains it."""
        if declared(self.variant_params, "training.retrain", PARAMETERS_TRAINING) or self.catalog is None:
            return None
        try:
            marker = self.catalog.load(f"{variant.namespace}.completed_checkpoint")
        except Exception:  # no such dataset in this environment
            return None
        return ((marker or {}).get("metadata") or {}).get("trained_with")

    def _log_params(self, run_id: str, settings: dict[str, Any]) -> None:
        from mlflow.entities import Param

        flat = tracking.flatten(settings)
        self.client.log_batch(run_id, params=[Param(key, value) for key, value in sorted(flat.items())])

    def _log_output(self, run_id: str, variant: Variant, name: str, value: Any) -> None:
        """Metrics dicts -> metrics; history frames -> stepped metrics; base info -> tags."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        if name == "base_model" and isinstance(value, dict):
            self.client.set_tag(run_id, "n_params", str(value.get("n_params", "")))
            self.client.set_tag(run_id, "base_model", str(value.get("base_model", "")))
        elif name.endswith("metrics") and isinstance(value, dict):
            metrics = [Metric(k, v, now, 0) for k, v in tracking.scalar_metrics(value).items()]
            self.client.log_batch(run_id, metrics=metrics)
            if value.get("fingerprint"):
                self.client.set_tag(run_id, "fingerprint", str(value["fingerprint"]))
            for key in ("device", "dtype"):  # where the model ran (evaluation/attribution metrics)
                if isinstance(value.get(key), str):
                    self.client.set_tag(run_id, key, value[key])
        elif name.endswith("history") and hasattr(value, "itertuples"):
            metrics = [Metric(k, v, now, step) for k, v, step in tracking.history_series(value)]
            for start in range(0, len(metrics), 900):
                self.client.log_batch(run_id, metrics=metrics[start : start + 900])

    def _log_compliance(self, summary: dict[str, Any]) -> None:
        """A compliance check's tags (variant, IFC file name and hash) and verdict counts on the run."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        for key, value in summary.get("tags", {}).items():
            self.client.set_tag(self.parent_id, key, str(value))
        metrics = [Metric(k, v, now, 0) for k, v in tracking.scalar_metrics(summary.get("metrics", {})).items()]
        self.client.log_batch(self.parent_id, metrics=metrics)

    def _log_parent_artifact(self, path: str | None) -> None:
        """Cross-variant outputs (quality table, side-by-side heatmaps) belong to the parent run."""
        if path is None:
            return
        if Path(path).is_dir():
            self.client.log_artifacts(self.parent_id, path, artifact_path=Path(path).name)
        elif Path(path).is_file():
            self.client.log_artifact(self.parent_id, path)

    def _finish(self, status: str) -> None:
        """Close every run; a store that is gone only costs a warning (a node's own error stays the one raised)."""
        if not self.parent_id:
            return
        open_children = [run_id for variant, run_id in self.children.items() if variant not in self.closed]
        for run_id in [*open_children, self.parent_id]:
            self._terminate(run_id, status)
        logger.info("MLflow: %d variant run(s) under parent %s (%s)", len(self.children), self.parent_id, status)
        if self.failures:
            logger.warning(
                "MLflow: %d logging call(s) failed in this run; outputs are saved in the catalog", self.failures
            )
        self.parent_id = None

    @tolerant("close an MLflow run")
    def _terminate(self, run_id: str, status: str) -> None:
        self.client.set_terminated(run_id, status)


def variant_node_counts(pipeline: Any, sizes: set[str]) -> dict[Variant, int]:
    """How many nodes of each variant the pipeline runs (a variant's run ends after the last of them)."""
    counts: dict[Variant, int] = {}
    for node in getattr(pipeline, "nodes", []):
        variant = tracking.variant_of(node.namespace, sizes)
        if variant is not None:
            counts[variant] = counts.get(variant, 0) + 1
    return counts


def _saved_path(catalog, name: str) -> str | None:
    """Where a catalog dataset keeps its data (file or folder), if it is stored on disk."""
    try:
        dataset = catalog[name]
    except Exception:  # in-memory outputs have no path
        return None
    path = getattr(dataset, "_filepath", None) or getattr(dataset, "_path", None)
    return str(path) if path else None


def _pipeline_label(names: Any) -> str:
    if isinstance(names, (list, tuple)):
        return "+".join(str(n) for n in names) or "__default__"
    return str(names)
