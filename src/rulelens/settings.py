"""Kedro project settings."""

from omegaconf.resolvers import oc

from rulelens.compliance.settings import ifc_stem, variant_folder
from rulelens.config_loader import ProjectConfigLoader
from rulelens.hooks import PlacementHook, RunLockHook, VariantTrackingHook

# RunLockHook first: one run per data folder, taken before the tracking hook opens MLflow runs.
# pluggy calls the hook registered last first: placement is resolved (a CUDA request without CUDA stops
# the run) before the MLflow parent run is opened.
HOOKS = (RunLockHook(), VariantTrackingHook(), PlacementHook())
# rulelens owns the MLflow runs (a parent per kedro run, a child per variant); kedro-mlflow's
# one-run-per-kedro-run hooks would compete with it. Its mlflow.yml and CLI stay in use.
DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow", "kedro-mlflow")  # its wheel names itself kedro_mlflow

# OmegaConfigLoader that records the run's environment for the variant grid (rulelens.config_loader)
CONFIG_LOADER_CLASS = ProjectConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # Environments override single keys of a pipeline's parameters (e.g. only the column mapping).
    "merge_strategy": {"parameters": "soft", "globals": "soft"},
    # ${oc.env:MLFLOW_TRACKING_URI,sqlite:///mlflow.db} in mlflow.yml: a team's server by env var.
    # ${variant_folder:lora.m} -> lora/m and ${ifc_stem:path/model.ifc} -> model: the compliance outputs' folders.
    "custom_resolvers": {"oc.env": oc.env, "variant_folder": variant_folder, "ifc_stem": ifc_stem},
}
