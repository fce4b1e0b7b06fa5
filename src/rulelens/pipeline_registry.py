"""Project pipelines: one per stage, the default that runs the study's stages in order, and compliance."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from rulelens.pipelines import attribution, compliance, data_processing, evaluation, reporting, training


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = {
        "data_processing": data_processing.create_pipeline(),
        "training": training.create_pipeline(),
        "evaluation": evaluation.create_pipeline(),
        "attribution": attribution.create_pipeline(),
        "reporting": reporting.create_pipeline(),
    }
    pipelines["__default__"] = sum(pipelines.values(), Pipeline([]))
    # not in the default run: the main job's time is the study's (docs/compliance.md)
    pipelines["compliance"] = compliance.create_pipeline()
    return pipelines
