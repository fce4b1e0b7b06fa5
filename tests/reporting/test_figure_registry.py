"""One figure registry (rulelens.reporting.figure_registry): the pipeline's figure outputs, the catalog's
figure files and the report's figures all follow it."""

from __future__ import annotations

import dataclasses
import html
import re

from kedro.io import DataCatalog

from rulelens.pipelines.reporting.pipeline import create_pipeline
from rulelens.reporting import FIGURES
from rulelens.reporting.figure_registry import FIGURE_DATASETS, FIGURE_SPECS
from rulelens.reporting.report_content import StudyTables
from rulelens.variant_grid import parse_namespace
from tests.test_hooks_artifacts import project_loader


def test_names_are_unique_and_every_spec_reads_a_study_table():
    assert FIGURES == tuple(spec.name for spec in FIGURE_SPECS) and len(set(FIGURES)) == len(FIGURES)
    fields = {field.name for field in dataclasses.fields(StudyTables)}
    for spec in FIGURE_SPECS:
        assert spec.table in fields, spec
        assert spec.builder.__module__ == "rulelens.reporting.figures", spec
        assert spec.caption and spec.caption_for("exec_match")  # a {metric} placeholder, if any, fills


def test_the_pipeline_saves_one_dataset_per_registered_figure():
    pipeline = create_pipeline(variants=[parse_namespace("lora.xs"), parse_namespace("fft.xs")])
    (draw,) = [node for node in pipeline.nodes if node.name == "draw_figures"]
    assert draw.outputs == [FIGURE_DATASETS[name] for name in FIGURES]


def test_the_catalog_saves_every_registered_figure_as_its_png_in_the_parent_run():
    catalog = DataCatalog.from_config(project_loader("local")["catalog"])
    for spec in FIGURE_SPECS:
        dataset = catalog.get(spec.dataset)
        assert type(dataset).__name__ == "AtomicMatplotlibDataset", spec.dataset
        assert str(dataset._filepath).endswith(f"/figures/{spec.name}.png"), dataset._filepath
        assert dataset.metadata["rulelens"] == {"mlflow_artifact": "parent"}


def test_the_report_shows_every_registered_figure_once_in_registry_order(planted_study):
    page = planted_study["study_report"]
    assert re.findall(r'<figure id="fig-([a-z_]+)">', page) == list(FIGURES)
    for spec in FIGURE_SPECS:  # each with its caption; the quality figure's names the plateau metric
        caption = html.escape(spec.caption_for(planted_study["params"]["plateau"]["metric"]))
        assert f"<figcaption>{caption}</figcaption>" in page, spec.name
    assert "Mean semantic similarity of generated against reference rules" in page
