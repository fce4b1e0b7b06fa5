"""The MLflow hand-off of a distributed run (rulelens.runners.tracking_handoff), without a cluster: the
submitting side's tracking hook opens the parent run, tasks' worker hooks log into it (one child run per
variant, whichever task makes it first), and the submitting side's end of run closes every run."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from kedro.framework.hooks.manager import _create_hook_manager

from rulelens.hooks import PlacementHook, VariantTrackingHook
from rulelens.pipelines import training
from rulelens.runners import tracking_handoff
from rulelens.runners.tracking_handoff import WorkerTrackingHook
from rulelens.variant_grid import Variant
from tests.runners.test_dask_runner_unit import GRID, PROJECT, project_catalog
from tests.test_hooks_artifacts import project_loader


def node(namespace: str, stage: str):
    return SimpleNamespace(namespace=namespace, name=f"{namespace}.{stage}")


@pytest.fixture()
def submitting(tmp_path, monkeypatch):
    """The submitting side's tracking hook after before_pipeline_run: a parent run in a sqlite store."""
    monkeypatch.chdir(PROJECT)  # load_grid reads conf/<env>/variants.yml of the working directory
    hook = VariantTrackingHook()
    hook.enabled = True
    hook.tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    hook.experiment = "handoff-test"
    hook.variant_params = project_loader("test")["parameters"]
    catalog = project_catalog()
    hook.before_pipeline_run(
        run_params={"env": "test", "pipeline_names": ["training"], "run_id": "r1"},
        pipeline=training.create_pipeline(variants=GRID),
        catalog=catalog,
    )
    assert hook.parent_id
    return hook, catalog


def runs(hook):
    return {run.info.run_name: run for run in hook.client.search_runs([hook.experiment_id], max_results=100)}


def test_find_tracker_picks_the_tracking_hook_among_the_registered_ones():
    manager = _create_hook_manager()
    tracker = VariantTrackingHook()
    manager.register(PlacementHook())
    manager.register(tracker)
    assert tracking_handoff.find_tracker(manager) is tracker
    assert tracking_handoff.find_tracker(None) is None
    assert tracking_handoff.handoff(tracker, PROJECT, remote=False) is None  # no parent run: tracking is off


def test_workers_log_into_the_submitting_sides_parent_and_it_closes_every_run(submitting, tmp_path):
    tracker, catalog = submitting
    handoff = tracking_handoff.handoff(tracker, tmp_path, remote=False)
    assert handoff["parent_id"] == tracker.parent_id and handoff["children"] == {}
    assert handoff["tracking_uri"].startswith("sqlite:////") and handoff["sizes"] == ["tiny", "tiny2"]

    # task 1 (a worker): its variant's child run is made under the parent and left open
    first = WorkerTrackingHook.for_task(handoff, catalog)
    first.before_node_run(node("fft.tiny", "train_variant"))
    first.after_node_run(node("fft.tiny", "train_variant"), {"fft.tiny.training_metrics": {"train_loss": 1.5}})
    made = tracking_handoff.child_ids(first)
    assert list(made) == ["fft.tiny"] and first.failures == 0
    child = tracker.client.get_run(made["fft.tiny"])
    assert child.data.tags["mlflow.parentRunId"] == tracker.parent_id and child.info.status == "RUNNING"
    assert child.data.metrics["train_loss"] == 1.5 and "seconds_train_variant" in child.data.metrics

    # task 2, sent before task 1's record came back: it takes over the same child run from the store
    second = WorkerTrackingHook.for_task(handoff, catalog)
    second.before_node_run(node("fft.tiny", "evaluate_variant"))
    assert tracking_handoff.child_ids(second) == made
    assert tracking_handoff.children_in_store(tracker) == made
    assert sorted(runs(tracker)) == ["fft.tiny", "kedro run training"]  # one child per variant

    # the submitting side adopts the workers' children; its end of run closes them with the parent
    tracking_handoff.adopt(tracker, made)
    assert tracker.children == {Variant("fft", "tiny"): made["fft.tiny"]}
    tracker.after_pipeline_run()
    assert {name: run.info.status for name, run in runs(tracker).items()} == {
        "fft.tiny": "FINISHED",
        "kedro run training": "FINISHED",
    }


def test_an_unattached_worker_hook_logs_nothing(submitting):
    tracker, catalog = submitting
    idle = WorkerTrackingHook.for_task(None, catalog)
    idle.before_node_run(node("fft.tiny", "train_variant"))
    idle.after_node_run(node("fft.tiny", "train_variant"), {"fft.tiny.training_metrics": {"train_loss": 1.0}})
    assert not idle.attached and idle.children == {} and idle.client is None
    assert sorted(runs(tracker)) == ["kedro run training"]
    tracker.after_pipeline_run()


def test_a_relative_sqlite_store_is_made_absolute_for_the_workers(submitting, tmp_path, caplog):
    tracker, _ = submitting
    tracker.tracking_uri = "sqlite:///mlflow.db"
    assert tracking_handoff.handoff(tracker, tmp_path, remote=False)["tracking_uri"] == (
        f"sqlite:///{tmp_path / 'mlflow.db'}"
    )
    with caplog.at_level("WARNING", logger="rulelens.runners.tracking_handoff"):
        tracking_handoff.handoff(tracker, tmp_path, remote=True)
    assert "tracking server" in caplog.text
    tracker.after_pipeline_run()
