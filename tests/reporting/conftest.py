"""Run the real reporting pipeline (``create_pipeline()``) in memory on constructed tables.

No Kedro project, no models: a DataCatalog of in-memory datasets holds the per-variant tables
the earlier stages would have saved, SequentialRunner runs the pipeline as ``kedro run`` wires
it, and every output stays readable afterwards.
"""

from __future__ import annotations

import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from rulelens.evaluation.execution import SUITE_SUMMARY_COLUMNS
from rulelens.pipelines.reporting.pipeline import create_pipeline
from rulelens.reporting import FIGURES
from rulelens.variant_grid import evaluated_namespaces, parse_namespace
from tests.reporting.study_fixtures import study_inputs

PARAMS = {
    "title": "fixture report",
    "dataset": "fixture",
    "environment": "base",
    "alpha": 0.05,
    "focus_equivalence_margin": 0.02,
    "top_k": 3,
    "n_resamples": 300,
    "seed": 0,
    "quality_metrics": ["semantic_similarity", "chrf", "valid"],
    "plateau": {
        "metric": "semantic_similarity",
        "models": ["saturating", "hinge"],
        "epsilon": 0.05,
        "min_n_params": 7.0e9,
        "n_resamples": 100,
        "flat_margin": 0.02,
    },
    "heatmap_examples": 2,
}


class KeptDataset(MemoryDataset):
    """An in-memory dataset the runner cannot release, so a test can read every intermediate table."""

    def _release(self) -> None:
        pass


def catalog_inputs(inputs: dict, params: dict) -> dict:
    """Catalog name -> data for everything the reporting pipeline reads."""
    variants = [parse_namespace(name) for name in inputs["names"]]
    data = {
        "study_clauses": inputs["study_clauses"],
        "params:reporting": params,
        "params:training": inputs["training"],
        "params:data_processing": inputs["data_processing"],
        "rule_suite_summary": inputs.get("rule_suite_summary", pd.DataFrame(columns=SUITE_SUMMARY_COLUMNS)),
    }
    for name, metrics, attributions, curves, lds in zip(
        inputs["names"],
        inputs["training_metrics"],
        inputs["attributions"],
        inputs["faithfulness_curves"],
        inputs["lds_scores"],
    ):
        data.update(
            {
                f"{name}.training_metrics": metrics,
                f"{name}.attributions": attributions,
                f"{name}.faithfulness_curves": curves,
                f"{name}.lds_scores": lds,
            }
        )
    for name, rules in zip(evaluated_namespaces(variants), inputs["generated_rules"]):
        data[f"{name}.generated_rules"] = rules
    return data


def run_reporting(inputs: dict, params: dict = PARAMS) -> dict:
    """Every reporting output, computed by the reporting pipeline exactly as ``kedro run`` wires it."""
    pipeline = create_pipeline(variants=[parse_namespace(name) for name in inputs["names"]])
    data = catalog_inputs(inputs, params)
    missing = sorted(pipeline.inputs() - set(data))
    assert not missing, f"the fixture lacks pipeline inputs {missing}"
    catalog = DataCatalog({name: KeptDataset(data=value, copy_mode="assign") for name, value in data.items()})
    for name in pipeline.all_outputs():
        catalog[name] = KeptDataset(copy_mode="assign")
    SequentialRunner().run(pipeline, catalog)
    out = {name: catalog.load(name) for name in pipeline.all_outputs()}
    out["figures"] = [out[f"figure_{name}"] for name in FIGURES]
    out["params"] = params
    return out


@pytest.fixture(scope="session")
def planted_study():
    return run_reporting(study_inputs(planted=True))


@pytest.fixture(scope="session")
def null_study():
    return run_reporting(study_inputs(planted=False))
