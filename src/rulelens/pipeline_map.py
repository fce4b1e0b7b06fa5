"""The data flowing between the pipeline stages, read from the pipelines themselves (docs/architecture.md).

The architecture page's diagram is generated from here, and a test keeps the page equal to it,
so the map a newcomer reads is the wiring ``kedro run`` executes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

STAGES = ("data_processing", "training", "evaluation", "attribution", "reporting")
_VARIANT_PREFIX = re.compile(r"^[a-z_0-9]+\.[a-z_0-9]+\.")


def generic_name(dataset: str) -> str:
    """``lora.m.attributions`` -> ``{strategy}.{size}.attributions`` (what the catalog's factories name)."""
    return _VARIANT_PREFIX.sub("{strategy}.{size}.", dataset)


def stage_flows(pipelines: Mapping) -> list[tuple[str, str, str]]:
    """(producing stage, dataset, consuming stage) for every dataset one stage hands to another."""
    producers: dict[str, str] = {}
    for stage in STAGES:
        for output in pipelines[stage].all_outputs():
            producers[generic_name(output)] = stage
    flows = set()
    for stage in STAGES:
        for name in pipelines[stage].inputs():
            if name.startswith("params:") or name == "parameters":
                continue
            producer = producers.get(generic_name(name))
            if producer and producer != stage:
                flows.add((producer, generic_name(name), stage))
    return sorted(flows, key=lambda f: (STAGES.index(f[0]), STAGES.index(f[2]), f[1]))


def mermaid(flows: list[tuple[str, str, str]]) -> str:
    """A Mermaid flowchart of the stages, one edge per (producer, consumer) with its datasets."""
    edges: dict[tuple[str, str], list[str]] = {}
    for producer, dataset, consumer in flows:
        edges.setdefault((producer, consumer), []).append(dataset)
    lines = ["flowchart LR", "  raw_clauses[(raw_clauses)] --> data_processing"]
    for (producer, consumer), datasets in edges.items():
        lines.append(f'  {producer} -->|"{"<br>".join(datasets)}"| {consumer}')
    return "\n".join(lines)


def current_map() -> str:
    """The diagram of the registered pipelines (the default grid of conf/base)."""
    from rulelens.pipeline_registry import register_pipelines

    return mermaid(stage_flows(register_pipelines()))
