"""Structural checks of every Kedro environment: variants resolve, parameters validate, every
dataset a pipeline uses is declared in the catalog (directly or through a factory pattern), and
every catalog entry names its kedro-viz layer."""

from pathlib import Path

import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline

from rulelens.modeling.base_models import BaseModelSpec
from rulelens.modeling.strategies import strategy_settings
from rulelens.modeling.trainer_settings import TrainerSettings
from rulelens.pipelines import attribution, compliance, data_processing, evaluation, reporting, training
from rulelens.settings import CONFIG_LOADER_ARGS
from rulelens.variant_grid import load_grid, parse_grid, run_environment, variant_settings

CONF = Path(__file__).resolve().parents[1] / "conf"
ENVS = ["local", "test", "gpu", "gpu_smoke", "nzbc", "nzbc_gpu"]
MEMORY_ONLY = {"base_model", "compliance_building_model"}  # in-memory hand-offs between two nodes
LAYERS = {
    "01_raw": "raw",
    "02_intermediate": "intermediate",
    "03_primary": "primary",
    "04_feature": "feature",
    "05_model_input": "model_input",
    "06_models": "models",
    "07_model_output": "model_output",
    "08_reporting": "reporting",
}


def config(env):
    args = {k: v for k, v in CONFIG_LOADER_ARGS.items() if k not in ("base_env", "default_run_env")}
    return OmegaConfigLoader(str(CONF), base_env="base", default_run_env=env, env=env, **args)


def pipelines(env):
    variants = load_grid(CONF, env if env != "local" else None)
    return variants, (
        data_processing.create_pipeline()
        + training.create_pipeline(variants=variants)
        + evaluation.create_pipeline(variants=variants)
        + attribution.create_pipeline(variants=variants)
        + reporting.create_pipeline(variants=variants)
        + compliance.create_pipeline()
    )


def _location(entry):
    """Where an entry keeps its data: its filepath or path, or that of the dataset it wraps (CachedDataset...)."""
    inner = entry.get("dataset")
    if isinstance(inner, dict) and not (entry.get("filepath") or entry.get("path")):
        return _location(inner)
    return str(entry.get("filepath") or entry.get("path"))


@pytest.mark.parametrize("env", ENVS)
def test_every_variant_has_valid_settings(env):
    params = config(env)["parameters"]
    variants, _ = pipelines(env)
    for variant in variants:
        settings = variant_settings(params, variant)
        BaseModelSpec.from_params(settings["base_model"], size_name=variant.size)
        strategy_settings(variant.strategy, settings["strategy_params"])
        TrainerSettings.from_params(settings["trainer"])


@pytest.mark.parametrize("env", ENVS)
def test_every_dataset_resolves_to_a_catalog_entry(env):
    loader = config(env)
    catalog = DataCatalog.from_config(loader["catalog"])
    _, pipeline = pipelines(env)
    free = pipeline.inputs() | pipeline.outputs()
    intermediate = {d for d in pipeline.datasets() if not d.startswith("params:")} - free
    for name in sorted(free | intermediate):
        if name.startswith("params:") or name.rsplit(".", 1)[-1] in MEMORY_ONLY:
            continue
        assert name in catalog, f"{env}: {name} is not declared in the catalog"


@pytest.mark.parametrize("env", ENVS)
def test_every_catalog_entry_names_the_layer_of_its_folder(env):
    catalog = config(env)["catalog"]
    assert catalog and not [name for name in catalog if name.startswith("_")]  # anchors are not datasets
    for name, entry in catalog.items():
        location = _location(entry)
        folders = [folder for folder in LAYERS if f"data/{folder}/" in location]
        expected = LAYERS[folders[0]] if folders else "raw"
        assert folders or name == "raw_clauses", f"{env}: {name} ({location}) is outside data/0N_*"
        assert entry.get("metadata", {}).get("kedro-viz", {}).get("layer") == expected, f"{env}: {name}"


@pytest.mark.parametrize("env", ENVS)
def test_pipeline_parameters_exist_and_none_is_unused(env):
    params = config(env)["parameters"]
    _, pipeline = pipelines(env)
    used = {d.split(":", 1)[1].split(".")[0] for d in pipeline.datasets() if d.startswith("params:")}
    assert used <= set(params), used - set(params)
    assert set(params) - used <= {"tracking"}  # read by the MLflow hook, not by a node


def test_namespaces_follow_the_grid():
    variants, pipeline = pipelines("local")
    assert len(variants) == 9
    lora = pipeline.only_nodes_with_namespaces(["lora"])
    assert {n.namespace for n in lora.nodes} == {"lora.xs", "lora.s", "lora.m"}
    one = pipeline.only_nodes_with_namespaces(["qlora.m"])
    assert {n.name for n in one.nodes} == {
        "qlora.m.prepare_base_model",
        "qlora.m.train_variant",
        "qlora.m.evaluate_variant",
        "qlora.m.attribute_variant",
    }
    assert isinstance(pipeline, Pipeline)


def test_the_grid_names_only_registered_strategies():
    with pytest.raises(ValueError, match=r"\('fft', 'lora', 'qlora'\)"):
        parse_grid({"strategies": ["fft", "dora"], "sizes": ["xs"]}, "variants.yml")


def test_the_environment_is_the_one_kedro_runs_with(monkeypatch):
    """A Kedro session's config loader (settings.CONFIG_LOADER_CLASS) tells the grid its environment and
    conf folder before the first pipeline is built; without a session, KEDRO_ENV or base/local apply."""
    from kedro.framework.project import settings
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from rulelens import variant_grid

    monkeypatch.setattr(variant_grid, "_RUN_ENVIRONMENT", {})  # this process's record, restored after the test
    monkeypatch.delenv("KEDRO_ENV", raising=False)
    assert run_environment() is None and run_environment({"KEDRO_ENV": "nzbc"}) == "nzbc"
    bootstrap_project(CONF.parent)
    assert settings.CONFIG_LOADER_CLASS.__name__ == "ProjectConfigLoader"
    with KedroSession.create(project_path=CONF.parent, env="gpu", save_on_close=False) as session:
        session.load_context()
    assert run_environment() == "gpu" and run_environment({"KEDRO_ENV": "nzbc"}) == "gpu"
    assert variant_grid.project_conf_root() == CONF
    assert load_grid() == load_grid(CONF, "gpu") != load_grid(CONF, "base")


def test_seed_replicates_are_branches_of_their_own():
    from rulelens.variant_grid import Variant, parse_namespace, seeds_of

    variants = parse_grid({"strategies": ["fft", "lora"], "sizes": ["m"], "seeds": [0, 2]}, "variants.yml")
    assert [v.namespace for v in variants] == ["fft.m", "lora.m", "fft.m_seed2", "lora.m_seed2"]
    assert seeds_of(variants) == [0, 2] and all(parse_namespace(v.namespace) == v for v in variants)
    assert parse_namespace("lora.m") == Variant("lora", "m", 0)
    for bad in ({"seeds": [0, 0]}, {"seeds": [-1]}, {"seeds": "0"}, {"seeds": [True]}, {"sizes": ["m_seed1"]}):
        with pytest.raises(ValueError, match="seeds|size names"):
            parse_grid({"strategies": ["fft"], "sizes": ["m"], **bad}, "variants.yml")
    with pytest.raises(ValueError, match="not '<strategy>.<size>'"):
        parse_namespace("fft")


def test_a_seed_replicate_offsets_every_configured_seed():
    from rulelens.variant_grid import Variant

    params = config("local")["parameters"]
    variant = load_grid(CONF, None)[1]  # lora: a strategy with an init seed
    first = variant_settings(params, variant)
    second = variant_settings(params, Variant(variant.strategy, variant.size, 2))
    assert second["trainer"]["seed"] == first["trainer"]["seed"] + 2
    assert second["strategy_params"]["seed"] == first["strategy_params"]["seed"] + 2
    assert {k: v for k, v in second["trainer"].items() if k != "seed"} == {
        k: v for k, v in first["trainer"].items() if k != "seed"
    }


def test_the_gpu_profiles_train_three_seeds_and_the_cpu_default_one():
    from rulelens.variant_grid import seeds_of

    assert seeds_of(load_grid(CONF, "base")) == [0]
    assert seeds_of(load_grid(CONF, "gpu")) == seeds_of(load_grid(CONF, "nzbc_gpu")) == [0, 1, 2]
    catalog = DataCatalog.from_config(config("local")["catalog"])
    assert str(catalog.get("fft.m_seed1.checkpoint")._path).endswith("fft/m_seed1")


# conf/nzbc_gpu is conf/gpu with conf/nzbc on top; these keys differ on purpose (the reason beside each),
# and the ones derived from its own globals.yml (dataset, environment, source file) follow those.
NZBC_GPU_OWN = {
    "data_processing.selection.n_clauses": "the whole test split on a GPU",
    "evaluation.generation.max_new_tokens": "long LRML rules: the split's longest on a GPU",
    "training.trainer.max_length_cap": "the longest NZBC training rows fit on a GPU",
}
FROM_GLOBALS = {
    "data_processing.source_file": ("raw_clauses", "filepath"),
    "reporting.dataset": ("dataset",),
    "reporting.environment": ("environment",),
}


def _soft_merge(under: dict, over: dict) -> dict:
    merged = dict(under)
    for key, value in over.items():
        both = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _soft_merge(merged[key], value) if both else value
    return merged


def _differences(left: dict, right: dict, path: str = "") -> dict[str, tuple]:
    found = {}
    for key in sorted(set(left) | set(right)):
        where = f"{path}.{key}" if path else str(key)
        a, b = left.get(key, "<absent>"), right.get(key, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            found.update(_differences(a, b, where))
        elif a != b:
            found[where] = (a, b)
    return found


def test_nzbc_gpu_is_the_gpu_profile_with_the_nzbc_environment_on_top():
    """A change to conf/gpu or conf/nzbc that conf/nzbc_gpu does not follow fails here, key by key."""
    nzbc_gpu = config("nzbc_gpu")
    nzbc_alone = OmegaConfigLoader(
        str(CONF),
        base_env="nzbc",
        default_run_env="nzbc",
        env="nzbc",
        **{k: v for k, v in CONFIG_LOADER_ARGS.items() if k not in ("base_env", "default_run_env")},
    )
    layered = _soft_merge(config("gpu")["parameters"], nzbc_alone["parameters"])
    found = _differences(nzbc_gpu["parameters"], layered)
    own_globals = nzbc_gpu["globals"]
    for key, path in FROM_GLOBALS.items():
        value = own_globals
        for part in path:
            value = value[part]
        if key in found:  # differs from the layering only because nzbc_gpu's globals say so
            assert found.pop(key)[0] == value, key
    found = {key: pair for key, pair in found.items() if not key.startswith("training.work_dir")}
    assert set(found) == set(NZBC_GPU_OWN), {k: v for k, v in found.items() if k not in NZBC_GPU_OWN}
