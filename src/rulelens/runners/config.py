"""DaskRunner settings: ``conf/<env>/dask.yml`` < environment variables < ``--runner-params``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

DEFAULT_HEAVY_TAGS = ("training", "evaluation", "attribution")
ENVIRONMENT = {  # variable -> setting
    "RULELENS_DASK_SCHEDULER": "scheduler",
    "RULELENS_DASK_RETRIES": "retries",
    "RULELENS_DASK_TRACE": "trace_file",
}


@dataclass
class DaskSettings:
    scheduler: str | None = None
    local: dict[str, Any] = field(
        default_factory=lambda: {
            "n_workers": 2,
            "threads_per_worker": 1,
            "resources": {"SLOT": 1},
            "memory_limit": "auto",
            "worker_env": {},
        }
    )
    heavy_tags: tuple[str, ...] = DEFAULT_HEAVY_TAGS
    heavy_resources: str | dict[str, float] | None = "auto"
    retries: int = 2
    wait_for_workers: int = 1
    wait_timeout_s: float = 600
    trace_file: str | None = "logs/dask_trace.json"
    forward_logs: bool = True

    @classmethod
    def build(
        cls,
        file_settings: dict[str, Any] | None,
        environ: dict[str, str] | None = None,
        overrides: dict[str, Any] | None = None,
    ) -> DaskSettings:
        environ = os.environ if environ is None else environ
        merged: dict[str, Any] = dict(file_settings or {})
        for variable, name in ENVIRONMENT.items():
            if environ.get(variable):
                merged[name] = environ[variable]
        merged.update({k: v for k, v in (overrides or {}).items() if v is not None})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(merged) - known)
        if unknown:
            raise ValueError(
                f"dask.yml / --runner-params: unknown DaskRunner setting(s) {unknown}; known: {sorted(known)}"
            )
        settings = cls()
        for name, value in merged.items():
            if name == "local":
                value = {**settings.local, **(value or {})}
            setattr(settings, name, value)
        settings.scheduler = _none(settings.scheduler)
        settings.trace_file = _none(settings.trace_file)
        settings.retries = int(settings.retries)
        settings.wait_for_workers = int(settings.wait_for_workers)
        settings.wait_timeout_s = float(settings.wait_timeout_s)
        settings.heavy_tags = tuple(settings.heavy_tags or ())
        if isinstance(settings.heavy_resources, str) and settings.heavy_resources.lower() in ("none", "null", ""):
            settings.heavy_resources = None
        if settings.retries < 0:
            raise ValueError(f"dask retries must be >= 0, got {settings.retries}")
        return settings


def _none(value: Any) -> Any:
    return None if value is None or str(value).strip().lower() in ("", "null", "none", "local") else str(value)


def load_file_settings(project_path: Path, env: str | None) -> dict[str, Any]:
    """The ``dask`` block of conf/base/dask.yml merged with the run environment's (soft merge)."""
    from kedro.config import MissingConfigException, OmegaConfigLoader
    from omegaconf.resolvers import oc

    loader = OmegaConfigLoader(
        conf_source=str(project_path / "conf"),
        env=env,
        base_env="base",
        default_run_env="local",
        config_patterns={"dask": ["dask*", "dask*/**"]},
        merge_strategy={"dask": "soft"},
        custom_resolvers={"oc.env": oc.env},
    )
    try:
        return dict(loader["dask"].get("dask") or {})
    except MissingConfigException:
        return {}
