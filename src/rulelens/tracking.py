"""MLflow bookkeeping for strategy x size variants, free of Kedro.

One parent run per pipeline run; one child run per variant the run touches, named
``<strategy>.<size>``. Params are logged without the namespace so the same parameter lines up
across runs in MLflow's compare view. Metrics come from node outputs: dicts whose dataset name
ends in ``metrics`` (scalars) and frames whose name ends in ``history`` (per-step series).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import contextmanager
from typing import Any

from rulelens.modeling.strategies import STRATEGIES
from rulelens.variant_grid import Variant, parse_namespace

MAX_PARAM_LENGTH = 6000


class TrackingStoreError(RuntimeError):
    """The MLflow tracking store cannot be used; raised before any node runs."""


def variant_of(namespace: str | None, sizes: set[str]) -> Variant | None:
    """The variant a node belongs to, from its namespace (``lora.xs``, ``lora.xs_seed1`` or deeper)."""
    if not namespace:
        return None
    parts = namespace.split(".")
    if len(parts) < 2 or parts[0] not in STRATEGIES:
        return None
    variant = parse_namespace(".".join(parts[:2]))
    return variant if variant.size in sizes else None


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested params as ``a.b.c`` -> value strings (MLflow params are strings)."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, prefix=f"{name}."))
        else:
            flat[name] = str(value)[:MAX_PARAM_LENGTH]
    return flat


def scalar_metrics(values: Mapping[str, Any]) -> dict[str, float]:
    """The numeric scalars of a metrics dict (bools and non-numbers are left out)."""
    return {
        key: float(value)
        for key, value in values.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
    }


def history_series(frame: Any) -> list[tuple[str, float, int]]:
    """(metric key, value, step) from a loss-history frame with columns split, step, loss."""
    series = []
    for row in frame.itertuples(index=False):
        loss = getattr(row, "loss", None)
        if loss is None or loss != loss:
            continue
        key = "train_loss" if getattr(row, "split", "train") == "train" else f"{row.split}_loss"
        series.append((key, float(loss), int(getattr(row, "step", 0))))
    return series


@contextmanager
def _fail_fast_http():
    """MLflow retries HTTP for minutes by default; a reachability check should answer in seconds."""
    names = ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update({"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def check_store(tracking_uri: str) -> None:
    """Fail with a message naming the URI and the fix when the store cannot be used."""
    from mlflow.tracking import MlflowClient

    try:
        with _fail_fast_http():
            MlflowClient(tracking_uri=tracking_uri).search_experiments(max_results=1)
    except Exception as error:  # any failure here means no run can be recorded
        raise TrackingStoreError(
            f"MLflow tracking store {tracking_uri!r} cannot be used: {type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}\n"
            "Fix: start the tracking server, or point MLFLOW_TRACKING_URI / conf/local/mlflow.yml "
            "(server.mlflow_tracking_uri) at a reachable store (default sqlite:///mlflow.db), or run "
            "without tracking: kedro run --params tracking.enabled=false"
        ) from None
