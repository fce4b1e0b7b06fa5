"""DaskRunner pieces that need no cluster: the MemoryDataset rule, resources, settings, the SLURM script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline

from rulelens.pipelines import training
from rulelens.runners.config import DaskSettings, load_file_settings
from rulelens.runners.dask_runner import (
    MemoryHandoffError,
    check_no_memory_handoffs,
    heavy_resources,
    is_heavy,
)
from rulelens.runners.tracking_handoff import absolute_store_uri
from rulelens.variant_grid import Variant

PROJECT = Path(__file__).resolve().parents[2]
GRID = [Variant("fft", "tiny"), Variant("lora", "tiny2")]


def project_catalog(env="test"):
    from rulelens.settings import CONFIG_LOADER_ARGS  # the project's resolvers (the catalog uses them)

    args = {k: v for k, v in CONFIG_LOADER_ARGS.items() if k not in ("base_env", "default_run_env")}
    loader = OmegaConfigLoader(str(PROJECT / "conf"), env=env, base_env="base", default_run_env="local", **args)
    return DataCatalog.from_config(loader["catalog"])


def test_the_project_catalog_passes_nothing_in_memory():
    check_no_memory_handoffs(training.create_pipeline(variants=GRID), project_catalog())


def test_a_memory_dataset_between_nodes_is_refused_by_name():
    catalog = project_catalog()
    catalog["fft.tiny.base_model"] = MemoryDataset()
    with pytest.raises(MemoryHandoffError, match=r"fft\.tiny\.base_model") as error:
        check_no_memory_handoffs(training.create_pipeline(variants=GRID), catalog)
    assert "lora.tiny2.base_model" not in str(error.value) and "persistent" in str(error.value)


def test_an_unregistered_intermediate_defaults_to_memory_and_is_refused():
    pipeline = Pipeline(
        [Node(lambda: 1, None, "scratch_value", name="make"), Node(lambda x: x, "scratch_value", "kept", name="use")]
    )
    catalog = DataCatalog({"kept": MemoryDataset()})
    with pytest.raises(MemoryHandoffError, match="scratch_value"):
        check_no_memory_handoffs(pipeline, catalog)


def test_model_nodes_are_heavy_and_data_nodes_are_not():
    nodes = {n.name: n for n in training.create_pipeline(variants=GRID).nodes}
    tags = ("training", "evaluation", "attribution")
    assert is_heavy(nodes["fft.tiny.train_variant"], tags) and is_heavy(nodes["lora.tiny2.prepare_base_model"], tags)
    assert not is_heavy(Node(len, "clauses", "n", name="count", tags={"training"}), tags)  # no variant namespace
    assert not is_heavy(nodes["fft.tiny.train_variant"], ("attribution",))


def test_heavy_resources_prefer_gpu_then_slot_and_refuse_an_undeclared_one():
    settings = DaskSettings()
    assert heavy_resources(settings, [{"GPU": 1}, {"SLOT": 1}]) == {"GPU": 1}
    assert heavy_resources(settings, [{"SLOT": 1}, {}]) == {"SLOT": 1}
    assert heavy_resources(settings, [{}, {}]) is None
    settings.heavy_resources = {"GPU": 1}
    with pytest.raises(ValueError, match="GPU"):
        heavy_resources(settings, [{"SLOT": 1}])
    settings.heavy_resources = "GPU=2"
    assert heavy_resources(settings, [{"GPU": 2}]) == {"GPU": 2.0}


def test_settings_file_then_environment_then_runner_params():
    file_settings = load_file_settings(PROJECT, "test")
    assert file_settings["scheduler"] is None and file_settings["retries"] == 2
    settings = DaskSettings.build(
        file_settings, environ={"RULELENS_DASK_SCHEDULER": "tcp://10.0.0.5:8786", "RULELENS_DASK_RETRIES": "4"}
    )
    assert settings.scheduler == "tcp://10.0.0.5:8786" and settings.retries == 4
    assert settings.local["resources"] == {"SLOT": 1} and settings.heavy_tags == (
        "training",
        "evaluation",
        "attribution",
    )
    settings = DaskSettings.build(
        file_settings,
        environ={"RULELENS_DASK_SCHEDULER": "tcp://a:1"},
        overrides={"scheduler": "local", "retries": "0"},
    )
    assert settings.scheduler is None and settings.retries == 0
    with pytest.raises(ValueError, match="schedular"):
        DaskSettings.build({"schedular": "x"}, environ={})


def test_relative_sqlite_store_is_made_absolute_for_workers(tmp_path):
    assert absolute_store_uri("sqlite:///mlflow.db", tmp_path) == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert absolute_store_uri("sqlite:////srv/m.db", tmp_path) == "sqlite:////srv/m.db"
    assert absolute_store_uri("http://127.0.0.1:5000", tmp_path) == "http://127.0.0.1:5000"


def test_slurm_dry_run_prints_a_one_gpu_worker_job_script():
    result = subprocess.run(
        [
            sys.executable,
            str(PROJECT / "scripts/slurm_dask.py"),
            "--dry-run",
            "--partition",
            "gpu",
            "--account",
            "aec",
            "--walltime",
            "02:00:00",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    script = result.stdout
    assert script.startswith("#!/usr/bin/env bash")
    for line in ("#SBATCH -p gpu", "#SBATCH -A aec", "#SBATCH -t 02:00:00", "#SBATCH --gres=gpu:1"):
        assert line in script
    assert "--nthreads 1" in script and "--resources GPU=1" in script and "dask_worker" in script
