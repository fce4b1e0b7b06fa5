"""Project pipelines: one per stage, and the default that runs them all in order."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from rulelens.pipelines import attribution, data_processing, evaluation, reporting, training


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = {
        "data_processing": data_processing.create_pipeline(),
        "training": training.create_pipeline(),
        "evaluation": evaluation.create_pipeline(),
        "attribution": attribution.create_pipeline(),
        "reporting": reporting.create_pipeline(),
    }
    pipelines["__default__"] = sum(pipelines.values(), Pipeline([]))
    return pipelines
