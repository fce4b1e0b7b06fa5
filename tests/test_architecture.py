"""docs/architecture.md shows the wiring ``kedro run`` executes, and names every package."""

from __future__ import annotations

import re

from rulelens.pipeline_map import current_map, generic_name
from tests.project_copy import PROJECT

PAGE = (PROJECT / "docs" / "architecture.md").read_text()


def test_the_stage_map_on_the_page_is_the_registered_wiring():
    block = re.search(r"<!-- stage-map:start -->\n```mermaid\n(.*?)\n```", PAGE, re.S).group(1)
    assert block == current_map(), "run: .venv/bin/python scripts/architecture_map.py --write"


def test_the_map_carries_the_study_data():
    diagram = current_map()
    assert 'data_processing -->|"study_clauses"| attribution' in diagram
    assert "{strategy}.{size}.lds_scores" in diagram and "training -->" in diagram


def test_every_module_is_named_on_the_page():
    source = PROJECT / "src" / "rulelens"
    modules = {
        p.name
        for p in source.glob("*.py")
        if p.name
        not in (
            "__init__.py",
            "__main__.py",
            "settings.py",
            "pipeline_registry.py",
            "offline_weights.py",
            "pipeline_map.py",
        )
    }
    modules |= {f"{p.parent.name}/" for p in source.glob("*/__init__.py") if p.parent.name != "pipelines"}
    missing = sorted(m for m in modules if m not in PAGE)
    assert not missing, f"docs/architecture.md does not say where {missing} belong"


def test_generic_names_fold_every_variant():
    assert generic_name("zero_shot.xs.generated_rules") == "{strategy}.{size}.generated_rules"
    assert generic_name("study_clauses") == "study_clauses"
