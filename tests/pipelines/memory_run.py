"""Run a stage's real ``create_pipeline()`` in memory, as ``kedro run`` wires it.

No Kedro project and no files: a DataCatalog of in-memory datasets holds the inputs (small frames,
tiny models, the parameters of a conf environment), SequentialRunner runs the pipeline, and every
output stays readable afterwards (docs/architecture.md).
"""

from __future__ import annotations

from typing import Any

from kedro.config import OmegaConfigLoader
from kedro.io import AbstractDataset, DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner

from rulelens.settings import CONFIG_LOADER_ARGS
from tests.project_copy import PROJECT


class KeptDataset(MemoryDataset):
    """An in-memory dataset the runner cannot release, so a test can read every output; models are not copied."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(copy_mode="assign", **kwargs)

    def _release(self) -> None:
        pass


def conf_parameters(env: str = "test") -> dict[str, Any]:
    """The parameters of ``conf/<env>`` over base, resolved as a Kedro session resolves them."""
    args = {k: v for k, v in CONFIG_LOADER_ARGS.items() if k not in ("base_env", "default_run_env")}
    loader = OmegaConfigLoader(str(PROJECT / "conf"), base_env="base", default_run_env=env, env=env, **args)
    return loader["parameters"]


def param_inputs(parameters: dict[str, Any], *names: str) -> dict[str, Any]:
    """``params:<name>`` catalog entries; a dotted name reaches into a block (``data_processing.selection``)."""
    inputs = {}
    for name in names:
        value: Any = parameters
        for key in name.split("."):
            value = value[key]
        inputs[f"params:{name}"] = value
    return inputs


def run_in_memory(pipeline: Pipeline, inputs: dict[str, Any]) -> dict[str, Any]:
    """Every output of ``pipeline`` run on ``inputs`` (data, or a dataset object to read them from)."""
    missing = sorted(pipeline.inputs() - set(inputs))
    assert not missing, f"the test lacks pipeline inputs {missing}"
    datasets = {
        name: value if isinstance(value, AbstractDataset) else KeptDataset(data=value) for name, value in inputs.items()
    }
    catalog = DataCatalog({**datasets, **{name: KeptDataset() for name in pipeline.all_outputs()}})
    SequentialRunner().run(pipeline, catalog)
    return {name: catalog.load(name) for name in pipeline.all_outputs()}
