"""`kedro run --runner rulelens.runners.DaskRunner` on a real Dask cluster of two workers, tracked by a real
MLflow server, against the sequential runner on a second copy of the project with the same data.

Processes (all on 127.0.0.1, started and stopped here): `dask scheduler`, two `dask worker --nthreads 1
--resources SLOT=1`, `mlflow server` (sqlite + artifact folder under tmp_path). Both runs use the tiny test
profile, pipelines data_processing, training and attribution, one torch thread per process.
"""

from __future__ import annotations

import json
import subprocess

import pandas as pd
import pytest

from tests.project_copy import copy_project, kedro
from tests.runners.processes import BIN, Processes, quiet_env, start_dask, start_mlflow

pytestmark = pytest.mark.slow  # real processes: the fast lane (-m "not slow") leaves it out

VARIANTS = [f"{s}.{z}" for s in ("fft", "lora", "qlora") for z in ("tiny", "tiny2")]
PIPELINES = "data_processing,training,attribution"
SAME_TAGS = ("strategy", "model_size", "base_model", "n_params", "fingerprint", "rulelens.level")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    dask_root = copy_project(tmp_path_factory.mktemp("dask"))
    sequential_root = copy_project(tmp_path_factory.mktemp("sequential"))
    processes = Processes(tmp_path_factory.mktemp("logs"))
    one_thread = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    try:
        # the sequential reference runs meanwhile, in its own copy and sqlite store
        sequential_uri = f"sqlite:///{sequential_root / 'mlflow.db'}"
        sequential = subprocess.Popen(
            [str(BIN / "kedro"), "run", "--env", "test", "--pipelines", PIPELINES],
            cwd=sequential_root,
            env=quiet_env(MLFLOW_TRACKING_URI=sequential_uri, COLUMNS="250", **one_thread),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        worker_env = quiet_env(PYTHONPATH=str(dask_root / "src"), **one_thread)
        scheduler = start_dask(processes, dask_root, {"worker-a": "SLOT=1", "worker-b": "SLOT=1"}, worker_env)
        server = start_mlflow(processes, tmp_path_factory.mktemp("mlflow"))
        distributed = kedro(
            dask_root,
            "run",
            "--env",
            "test",
            "--runner",
            "rulelens.runners.DaskRunner",
            "--pipelines",
            PIPELINES,
            timeout=900,
            env={"RULELENS_DASK_SCHEDULER": scheduler, "MLFLOW_TRACKING_URI": server, **one_thread},
        )
        sequential_out, _ = sequential.communicate(timeout=900)
        assert sequential.returncode == 0, sequential_out[-4000:]
        assert distributed.returncode == 0, (
            distributed.stdout[-4000:]
            + distributed.stderr[-4000:]
            + processes.log("worker-a")[-3000:]
            + processes.log("worker-b")[-3000:]
        )
        yield {
            "dask": dask_root,
            "sequential": sequential_root,
            "server": server,
            "sequential_uri": sequential_uri,
            "output": distributed.stdout + distributed.stderr,
        }
    finally:
        processes.stop_all()


def test_attribution_tables_equal_the_sequential_run(runs):
    for variant in VARIANTS:
        strategy, size = variant.split(".")
        name = f"data/07_model_output/test_profile/{strategy}/{size}/attributions.parquet"
        keys = ["clause_id", "word_index"]
        ours = pd.read_parquet(runs["dask"] / name).sort_values(keys).reset_index(drop=True)
        theirs = pd.read_parquet(runs["sequential"] / name).sort_values(keys).reset_index(drop=True)
        assert list(ours.columns) == list(theirs.columns) and len(ours) == len(theirs) > 0, variant
        numeric = ours.select_dtypes("number").columns
        assert (ours[numeric] - theirs[numeric]).abs().max().max() <= 1e-6, variant
        other = [c for c in ours.columns if c not in numeric]
        pd.testing.assert_frame_equal(ours[other], theirs[other])


def test_variant_nodes_ran_at_the_same_time_on_different_workers(runs):
    trace = json.loads((runs["dask"] / "logs/dask_trace.json").read_text())
    assert len(trace["workers"]) == 2 and all(r == {"SLOT": 1} for r in trace["workers"].values())
    tasks = [t for t in trace["tasks"] if t["namespace"] in VARIANTS]
    trained = {t["namespace"] for t in tasks if t["node"].endswith("train_variant")}
    assert trained == set(VARIANTS)
    assert all(t["heavy"] == "SLOT" for t in tasks if t["node"].endswith(("train_variant", "attribute_variant")))
    overlapping = [
        (a["node"], b["node"])
        for i, a in enumerate(tasks)
        for b in tasks[i + 1 :]
        if a["worker"] != b["worker"]
        and a["namespace"] != b["namespace"]
        and a["start"] < b["end"]
        and b["start"] < a["end"]
    ]
    assert overlapping, tasks
    # a worker never ran two heavy nodes at once (SLOT=1 each, one thread each)
    for worker in trace["workers"]:
        mine = sorted((t["start"], t["end"]) for t in tasks if t["worker"] == worker and t["heavy"])
        assert all(end <= next_start + 1e-3 for (_, end), (next_start, _) in zip(mine, mine[1:]))


def _runs(uri):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("rulelens")
    return client, client.search_runs([experiment.experiment_id], max_results=1000)


def test_one_parent_with_every_variant_child_like_the_sequential_run(runs):
    client, found = _runs(runs["server"])
    parents = [r for r in found if r.data.tags.get("rulelens.level") == "parent"]
    children = [r for r in found if r.data.tags.get("rulelens.level") == "variant"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert sorted(r.info.run_name for r in children) == sorted(VARIANTS)
    _, reference = _runs(runs["sequential_uri"])
    reference = {r.info.run_name: r for r in reference if r.data.tags.get("rulelens.level") == "variant"}
    for child in children:
        assert child.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert child.info.status == "FINISHED"
        twin = reference[child.info.run_name]
        assert {t: child.data.tags.get(t) for t in SAME_TAGS} == {t: twin.data.tags.get(t) for t in SAME_TAGS}
        assert child.data.params == twin.data.params
        assert set(child.data.metrics) == set(twin.data.metrics)
        artifacts = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert {"attributions.parquet", "loss_history.csv"} <= artifacts
