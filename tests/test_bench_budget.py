"""scripts/bench_budget.py reads a timestamped run log into per-stage seconds (docs/performance.md)."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_budget.py"


def _bench_budget():
    spec = importlib.util.spec_from_file_location("bench_budget", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_node_seconds_add_up_by_stage_whether_or_not_the_log_wraps_node_names():
    """A narrow terminal (CI's pipe) puts the completed node's name on the next line."""
    stages = {"train_variant": "training", "attribute_variant": "attribution"}
    log = [
        "0 INFO Running node: train_variant: train_variant([fft.m.base_model]) -> [fft.m.checkpoint]",
        "90 INFO Completed node: fft.m.train_variant",
        "91 INFO Running node: attribute_variant: attribute_variant([fft.m.checkpoint])",
        "150 INFO     Completed node:                       runner.py:245",
        "150                              fft.m.attribute_variant",
        "151 not a node line",
        "160 INFO Running node: train_variant: train_variant([lora.m.base_model])",
        "170 INFO Completed node:                       runner.py:245",
        "170         lora.m.train_variant",
        "175 the end",
    ]
    times, total = _bench_budget().stage_seconds(log, stages)
    assert times["training"] == 100 and times["attribution"] == 59
    assert total == 175 and times["other"] == 16
