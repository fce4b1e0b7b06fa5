"""The tracking hook: which saved datasets go to MLflow is declared in the catalog (``metadata.rulelens``),
and the hook reads its parameters strictly (keys declared in conf, no defaults in code)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline

from rulelens.hooks import (
    ARTIFACT_ROLES,
    CatalogArtifactError,
    PlacementHook,
    RunLockHook,
    VariantTrackingHook,
    artifact_role,
    artifact_roles,
)
from rulelens.variant_grid import Variant
from tests.project_copy import PROJECT

# The hard-coded lists the tracking hook used before the catalog declared membership (rulelens/hooks/mlflow_runs.py,
# PARENT_ARTIFACTS and ARTIFACT_OUTPUTS, with FIGURES of rulelens/reporting/__init__.py), copied here
# as they were: the catalog must declare exactly these.
OLD_FIGURES = (
    "training",
    "focus",
    "category_share",
    "quality",
    "correctness_link",
    "agreement",
    "faithfulness",
    "clause_heatmap",
)
OLD_PARENT_ARTIFACTS = {
    "corpus_summary",
    "quality_summary",
    "attribution_heatmaps",
    "study_report",
    "study_findings",
    "strategy_comparisons",
    "scale_trends",
    "quality_plateaus",
    "focus_summary",
    "category_summary",
    "faithfulness_summary",
    "lds_summary",
    "agreement_matrix",
    "run_facts",
    *(f"figure_{name}" for name in OLD_FIGURES),
    "compliance_model_info",
    "compliance_rules",
    "compliance_checks",
    "compliance_rule_status",
    "compliance_page",
}
OLD_ARTIFACT_OUTPUTS = {"attributions", "generated_rules", "loss_history", "faithfulness_curves", "lds_scores"}
OLD_REFERENCES = {"checkpoint"}  # the one name logged by path (tag checkpoint_path), never copied


def project_loader(env: str) -> OmegaConfigLoader:
    from rulelens.settings import CONFIG_LOADER_ARGS  # the project's resolvers (the catalog uses them)

    args = {k: v for k, v in CONFIG_LOADER_ARGS.items() if k not in ("base_env", "default_run_env")}
    return OmegaConfigLoader(str(PROJECT / "conf"), env=env, base_env="base", default_run_env="local", **args)


def every_pipeline_dataset() -> set[str]:
    from rulelens.pipeline_registry import register_pipelines

    names: set[str] = set()
    for pipeline in register_pipelines().values():
        names |= pipeline.datasets()
    return names


@pytest.mark.parametrize("env", ["local", "test"])
def test_the_catalog_declares_exactly_the_artifacts_the_hook_logged_before(env):
    catalog = DataCatalog.from_config(project_loader(env)["catalog"])
    roles = artifact_roles(catalog, every_pipeline_dataset())
    by_role = {role: {name for name, r in roles.items() if r == role} for role in ARTIFACT_ROLES}
    assert by_role["parent"] == OLD_PARENT_ARTIFACTS
    variant_names = by_role["variant"] | by_role["variant_reference"]
    assert all(name.count(".") == 2 for name in variant_names), variant_names  # <strategy>.<size>.<name> only
    assert {name.rsplit(".", 1)[-1] for name in by_role["variant"]} == OLD_ARTIFACT_OUTPUTS
    assert {name.rsplit(".", 1)[-1] for name in by_role["variant_reference"]} == OLD_REFERENCES
    # and every dataset with one of those names is declared (a variant's and the zero-shot bases' alike)
    for name in every_pipeline_dataset():
        short = name.rsplit(".", 1)[-1]
        if "." in name and short in OLD_ARTIFACT_OUTPUTS | OLD_REFERENCES:
            assert name in roles, name


def test_factory_patterns_carry_their_role_to_every_dataset_they_make():
    catalog = DataCatalog.from_config(project_loader("local")["catalog"])
    assert artifact_roles(catalog, ["figure_some_new_figure", "lora.xl_seed3.attributions", "x_summary"]) == {
        "figure_some_new_figure": "parent",
        "lora.xl_seed3.attributions": "variant",
        "x_summary": "parent",
    }
    # the kedro-viz layer is kept beside the role
    assert catalog.get("figure_focus").metadata["kedro-viz"] == {"layer": "reporting"}
    assert artifact_roles(catalog, ["lora.m.training_metrics", "rule_suite_summary", "not_in_the_catalog"]) == {}


def test_an_unknown_role_fails_naming_the_dataset():
    catalog = DataCatalog.from_config(
        {
            "odd_table": {"type": "MemoryDataset", "metadata": {"rulelens": {"mlflow_artifact": "parnet"}}},
            "{name}_odd": {"type": "MemoryDataset", "metadata": {"rulelens": {"mlflow_artifact": "child"}}},
            "typo_key": {"type": "MemoryDataset", "metadata": {"rulelens": {"mlflow_artefact": "parent"}}},
        }
    )
    with pytest.raises(CatalogArtifactError, match="'odd_table'") as error:
        artifact_roles(catalog, ["odd_table"])
    assert "'parnet'" in str(error.value) and "parent" in str(error.value) and "variant" in str(error.value)
    with pytest.raises(CatalogArtifactError, match="'lora_odd'.*'child'"):
        artifact_roles(catalog, ["lora_odd"])
    with pytest.raises(CatalogArtifactError, match="'typo_key'.*mlflow_artifact"):
        artifact_roles(catalog, ["typo_key"])
    assert artifact_role("plain", {"kedro-viz": {"layer": "raw"}}) is None and artifact_role("plain", None) is None


def test_a_bad_declaration_stops_the_run_before_mlflow_is_touched():
    catalog = DataCatalog({"out": MemoryDataset(metadata={"rulelens": {"mlflow_artifact": "sideways"}})})
    pipeline = Pipeline([Node(lambda: 1, None, "out", name="make")])
    hook = VariantTrackingHook()
    hook.enabled = True
    hook.tracking_uri = "http://127.0.0.1:9"  # never reached: the catalog is read first
    with pytest.raises(CatalogArtifactError, match="'out'.*'sideways'"):
        hook.before_pipeline_run(run_params={"env": None}, pipeline=pipeline, catalog=catalog)
    assert hook.parent_id is None


class RecordingClient:
    """Stands in for MlflowClient: records what the hook logs."""

    def __init__(self):
        self.calls: list[tuple] = []

    def __getattr__(self, name):
        return lambda *args, **kwargs: self.calls.append((name, *args))


def test_saved_datasets_go_where_the_catalog_says(tmp_path):
    files = {}
    for name in ("summary.csv", "attributions.parquet", "metrics.json"):
        files[name] = tmp_path / name
        files[name].write_text("x")
    (tmp_path / "ckpt").mkdir()
    catalog = DataCatalog.from_config(
        {
            "quality_summary": {
                "type": "text.TextDataset",
                "filepath": str(files["summary.csv"]),
                "metadata": {"rulelens": {"mlflow_artifact": "parent"}},
            },
            "{strategy}.{size}.attributions": {
                "type": "text.TextDataset",
                "filepath": str(files["attributions.parquet"]),
                "metadata": {"kedro-viz": {"layer": "model_output"}, "rulelens": {"mlflow_artifact": "variant"}},
            },
            "{strategy}.{size}.training_metrics": {"type": "text.TextDataset", "filepath": str(files["metrics.json"])},
            "{strategy}.{size}.checkpoint": {
                "type": "rulelens.datasets.checkpoint_marker.CheckpointMarkerDataset",
                "path": str(tmp_path / "ckpt"),
                "metadata": {"rulelens": {"mlflow_artifact": "variant_reference"}},
            },
        }
    )
    hook = VariantTrackingHook()
    hook.client, hook.parent_id, hook.catalog, hook.sizes = RecordingClient(), "parent-run", catalog, {"xs"}
    hook.children = {Variant("lora", "xs"): "child-run"}
    variant_node = SimpleNamespace(namespace="lora.xs", name="lora.xs.attribute_variant")

    hook.after_dataset_saved("quality_summary", node=SimpleNamespace(namespace=None))
    hook.after_dataset_saved("lora.xs.attributions", node=variant_node)
    hook.after_dataset_saved("lora.xs.training_metrics", node=variant_node)  # no role: not a file artifact
    hook.after_dataset_saved("lora.xs.checkpoint", node=variant_node)
    hook.after_dataset_saved("lora.xs.attributions", node=SimpleNamespace(namespace=None))  # no variant: nothing
    assert hook.client.calls == [
        ("log_artifact", "parent-run", str(files["summary.csv"])),
        ("log_artifact", "child-run", str(files["attributions.parquet"])),
        ("set_tag", "child-run", "checkpoint_path", str(tmp_path / "ckpt")),
    ]
    assert hook.failures == 0


def context(params: dict, globals_: dict | None = None, tmp_path: Path | None = None):
    """What the hooks read of a KedroContext: parameters, the config loader, project path and env."""
    return SimpleNamespace(
        params=params, config_loader=_Loader(project_loader("local"), globals_), project_path=tmp_path, env="local"
    )


class _Loader:
    """The project's config loader, with ``globals`` replaced where a test says so."""

    def __init__(self, loader: OmegaConfigLoader, globals_: dict | None):
        self.loader, self.globals_ = loader, globals_
        self.config_patterns = loader.config_patterns

    def __getitem__(self, key):
        if key == "globals" and self.globals_ is not None:
            return self.globals_
        return self.loader[key]


def test_hooks_read_their_keys_from_conf_strictly(tmp_path):
    params = project_loader("local")["parameters"]
    hook = VariantTrackingHook()
    hook.after_context_created(context(params))
    assert hook.enabled is True and hook.experiment == "rulelens" and hook.tracking_uri
    placement_hook = PlacementHook()
    placement_hook.after_context_created(context(params))
    assert placement_hook.params == params["training"]["placement"]
    lock_hook = RunLockHook()
    lock_hook.after_context_created(context(params, tmp_path=tmp_path))
    assert lock_hook.dataset == "building_code_rules"

    without = {**params, "tracking": {}}
    with pytest.raises(KeyError, match=r"tracking\.enabled.*conf/base/parameters\.yml"):
        VariantTrackingHook().after_context_created(context(without))
    without = {**params, "training": {k: v for k, v in params["training"].items() if k != "retrain"}}
    with pytest.raises(KeyError, match=r"training\.retrain"):
        VariantTrackingHook().after_context_created(context(without))
    without = {**params, "training": {k: v for k, v in params["training"].items() if k != "placement"}}
    with pytest.raises(KeyError, match=r"training\.placement"):
        PlacementHook().after_context_created(context(without))
    with pytest.raises(KeyError, match=r"dataset.*globals\.yml"):
        RunLockHook().after_context_created(context(params, globals_={}, tmp_path=tmp_path))
