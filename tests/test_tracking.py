"""MLflow bookkeeping: variant detection, de-namespaced params, histories, store errors."""

import pandas as pd
import pytest

from rulelens import tracking
from rulelens.variant_grid import Variant


def test_variant_of_reads_nested_namespaces():
    sizes = {"xs", "m"}
    assert tracking.variant_of("lora.xs", sizes) == Variant("lora", "xs")
    assert tracking.variant_of("qlora.m.eval", sizes) == Variant("qlora", "m")
    assert tracking.variant_of("lora.xs_seed2.train", sizes) == Variant("lora", "xs", 2)  # a seed replicate
    assert tracking.variant_of("lora.xl_seed2", sizes) is None  # not a size of the grid
    assert tracking.variant_of("lora.xl", sizes) is None
    assert tracking.variant_of("reporting", sizes) is None
    assert tracking.variant_of(None, sizes) is None


def test_flatten_joins_keys_without_namespace():
    flat = tracking.flatten({"trainer": {"learning_rate": 0.002, "epochs": 1}, "strategy": "lora"})
    assert flat == {"trainer.learning_rate": "0.002", "trainer.epochs": "1", "strategy": "lora"}


def test_scalar_metrics_keep_numbers_only():
    assert tracking.scalar_metrics({"a": 1, "b": 2.5, "c": "x", "d": True, "e": float("nan")}) == {"a": 1.0, "b": 2.5}


def test_history_series_names_train_and_validation_losses():
    frame = pd.DataFrame(
        {"step": [1, 2, 2], "epoch": [0.5, 1, 1], "split": ["train", "train", "validation"], "loss": [3.0, 2.0, 2.5]}
    )
    assert tracking.history_series(frame) == [
        ("train_loss", 3.0, 1),
        ("train_loss", 2.0, 2),
        ("validation_loss", 2.5, 2),
    ]


def test_unreachable_store_fails_naming_the_uri_and_the_fix():
    uri = "http://127.0.0.1:9"  # discard port on loopback: nothing listens there
    with pytest.raises(tracking.TrackingStoreError) as error:
        tracking.check_store(uri)
    message = str(error.value)
    assert uri in message
    assert "MLFLOW_TRACKING_URI" in message and "tracking.enabled=false" in message


def test_sqlite_store_in_a_folder_is_usable(tmp_path):
    tracking.check_store(f"sqlite:///{tmp_path / 'mlflow.db'}")
