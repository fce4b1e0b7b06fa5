"""Every settings class reads one conf block strictly, and conf declares exactly what it reads.

A settings class is any dataclass in ``src/rulelens`` with a ``from_params`` classmethod, found by
scanning the package (so a new one is covered without editing this file, and fails here until it is
mapped to its block in :data:`BLOCKS`). For each one:

(a) no field has a default in code: the defaults live in ``conf/base/parameters*.yml`` only
    (the documented exceptions are :data:`DEFAULTS_ALLOWED`);
(b) its field names are the keys its block declares in conf/base: no key read that conf does not
    declare, no declared key that nothing reads.

And the pipeline nodes read parameters strictly: no ``.get(key)`` / ``.get(key, default)`` on a
parameters block in ``src/rulelens/pipelines/**/nodes.py`` (exceptions: :data:`LENIENT_READS_ALLOWED`).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.project_copy import PROJECT

PACKAGE = PROJECT / "src" / "rulelens"
CONF_BASE = PROJECT / "conf" / "base"

# settings class -> the dotted parameters block it reads (conf/base/parameters*.yml)
BLOCKS = {
    "rulelens.attribution.settings.AttributionSettings": "attribution",
    "rulelens.attribution.settings.FaithfulnessSettings": "attribution.faithfulness",
    "rulelens.attribution.settings.LDSSettings": "attribution.faithfulness.lds",
    "rulelens.compliance.ifc_mapping.IfcMapping": "ifc_mapping",
    "rulelens.compliance.settings.ComplianceSettings": "compliance",
    "rulelens.data.selection.SelectionSettings": "data_processing.selection",
    "rulelens.data.validation.ValidationSettings": "data_processing",
    "rulelens.evaluation.metrics.MetricParams": "evaluation.metrics",
    "rulelens.evaluation.stopping.GenerationParams": "evaluation.generation",
    "rulelens.modeling.memory_plan.MemoryPlanSettings": "training.memory_plan",
    "rulelens.modeling.trainer_settings.TrainerSettings": "training.trainer",
    "rulelens.prompts.PromptStyle": "prompt",
    "rulelens.reporting.settings.PlateauSettings": "reporting.plateau",
    "rulelens.reporting.settings.ReportingSettings": "reporting",
}
# settings classes that read no single block: why, and where their keys are declared
NOT_ONE_BLOCK = {
    "rulelens.modeling.base_models.BaseModelSpec": (
        "a size's base model: training.base_model_defaults under training.sizes.<size>.base_model; which "
        "keys apply depends on the spec's source (gguf_package, hf, tiny), so a size gives only its own"
    ),
}
# classes whose fields keep defaults in code, and why (a stale entry fails too)
DEFAULTS_ALLOWED = {
    "rulelens.prompts.PromptStyle": (
        "PromptStyle() is the library default for callers outside a run; "
        "tests/test_param_blocks.py keeps it equal to conf/base's prompt block"
    ),
    "rulelens.modeling.base_models.BaseModelSpec": "see NOT_ONE_BLOCK: keys its source does not use keep the library's",
}
# keys of a block read by code other than its settings class: block -> {key: reader}
READ_ELSEWHERE = {
    "data_processing": {
        "split_fractions": "pipelines/data_processing/nodes.py prepare_clauses",
        "seed": "pipelines/data_processing/nodes.py prepare_clauses (and the training fingerprint)",
    },
}
# fields a class reads from another block: class -> {field: the block(s) that declare it}
FIELDS_FROM_ELSEWHERE = {
    "rulelens.modeling.trainer_settings.TrainerSettings": {"learning_rate": "training.strategies.*.trainer"},
}
# (nodes file relative to src/rulelens, the call's source text) -> why it may stay lenient
LENIENT_READS_ALLOWED: dict[tuple[str, str], str] = {}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_dataclass_decorator(node: ast.expr) -> bool:
    return "dataclass" in ast.unparse(node.func if isinstance(node, ast.Call) else node)


@cache
def settings_classes() -> dict[str, type]:
    """Every dataclass with a ``from_params`` classmethod defined in the package, by dotted name."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = [
            node.name
            for node in tree.body
            if isinstance(node, ast.ClassDef) and any(_is_dataclass_decorator(d) for d in node.decorator_list)
        ]
        if not names:
            continue
        module = importlib.import_module(_module_name(path))
        for name in names:
            cls = getattr(module, name)
            reader = inspect.getattr_static(cls, "from_params", None)  # inherited too
            if dataclasses.is_dataclass(cls) and isinstance(reader, classmethod):
                found[f"{module.__name__}.{name}"] = cls
    return found


@cache
def base_parameters() -> dict[str, Any]:
    """conf/base/parameters*.yml merged (keys only matter here: ${...} stays text)."""
    merged: dict[str, Any] = {}
    for path in sorted(CONF_BASE.glob("parameters*.yml")):
        merged.update(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    return merged


def declared(block: str) -> dict[str, Any]:
    value: Any = base_parameters()
    for key in block.split("."):
        assert isinstance(value, dict) and key in value, f"{block} is not declared in conf/base/parameters*.yml"
        value = value[key]
    assert isinstance(value, dict), f"{block} in conf/base is not a block of keys"
    return value


def field_names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def test_the_scan_finds_the_settings_classes():
    found = set(settings_classes())
    assert {"rulelens.evaluation.stopping.GenerationParams", "rulelens.prompts.PromptStyle"} <= found


def test_every_settings_class_is_mapped_to_its_block():
    """A new settings dataclass with from_params fails here until BLOCKS (or NOT_ONE_BLOCK) names its block."""
    found = set(settings_classes())
    mapped = set(BLOCKS) | set(NOT_ONE_BLOCK)
    assert not found - mapped, f"settings classes without a conf block in BLOCKS: {sorted(found - mapped)}"
    assert not mapped - found, f"BLOCKS names classes that are gone (or lost from_params): {sorted(mapped - found)}"


def test_no_settings_field_has_a_default_in_code():
    with_defaults = {}
    for name, cls in settings_classes().items():
        fields = [
            f.name
            for f in dataclasses.fields(cls)
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        ]
        if fields:
            with_defaults[name] = fields
    unexplained = {name: fields for name, fields in with_defaults.items() if name not in DEFAULTS_ALLOWED}
    assert not unexplained, f"defaults belong in conf/base/parameters*.yml, not in the code: {unexplained}"
    stale = sorted(set(DEFAULTS_ALLOWED) - set(with_defaults))
    assert not stale, f"DEFAULTS_ALLOWED lists classes without defaults (remove them): {stale}"


@pytest.mark.parametrize("block", sorted(set(BLOCKS.values())))
def test_each_block_declares_exactly_the_keys_its_settings_read(block):
    classes = {name: settings_classes()[name] for name, mapped in BLOCKS.items() if mapped == block}
    keys = set(declared(block))
    readers: dict[str, str] = {}
    for name, cls in classes.items():
        elsewhere = FIELDS_FROM_ELSEWHERE.get(name, {})
        undeclared = sorted(field_names(cls) - keys - set(elsewhere))
        assert not undeclared, f"{name} reads {block}.{{{', '.join(undeclared)}}}, which conf/base does not declare"
        readers.update({key: name for key in field_names(cls) - set(elsewhere)})
    readers.update(READ_ELSEWHERE.get(block, {}))
    children = {sub[len(block) + 1 :] for sub in BLOCKS.values() if sub.startswith(block + ".")}
    readers.update({child: "its settings class" for child in children if "." not in child})
    unread = sorted(keys - set(readers))
    assert not unread, f"conf/base declares {block}.{{{', '.join(unread)}}}, which no settings class reads"


def test_fields_read_from_another_block_are_declared_there():
    training = base_parameters()["training"]
    for strategy, spec in training["strategies"].items():  # training.strategies.*.trainer
        assert "learning_rate" in (spec.get("trainer") or {}), f"training.strategies.{strategy}.trainer.learning_rate"


def test_every_base_model_key_in_conf_is_a_spec_field():
    from rulelens.modeling.base_models import BaseModelSpec

    fields = field_names(BaseModelSpec)
    for path in sorted((PROJECT / "conf").glob("*/parameters_training.yml")):
        training = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("training") or {}
        specs = [training.get("base_model_defaults") or {}]
        specs += [size.get("base_model") or {} for size in (training.get("sizes") or {}).values()]
        for spec in specs:
            unknown = sorted(set(spec) - fields)
            assert not unknown, f"{path}: base model keys {unknown} are not BaseModelSpec fields"


# --------------------------------------------------------------------------- strict reads in the nodes


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def lenient_parameter_reads(source: str) -> list[str]:
    """``x.get(key)`` / ``x.get(key, default)`` calls on a parameters block: a name containing
    ``param`` or named like a top-level parameters block (``training``, ``evaluation``, ...)."""
    blocks = set(base_parameters())
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"):
            continue
        if not 1 <= len(node.args) + len(node.keywords) <= 2:
            continue
        root = _root_name(node.func.value)
        if root is not None and ("param" in root.lower() or root in blocks):
            found.append(ast.unparse(node))
    return found


def test_the_lenient_read_scan_finds_what_it_should():
    source = (
        "def node(training, params, evaluation, metrics):\n"
        "    a = training.get('retrain', False)\n"
        "    b = params['x'].get('y')\n"
        "    c = evaluation['generation'].get('batch_size', 8)\n"
        "    d = metrics.get('valid', 0.0)\n"  # a node's data, not parameters
        "    e = training['retrain']\n"
    )
    assert lenient_parameter_reads(source) == [
        "training.get('retrain', False)",
        "params['x'].get('y')",
        "evaluation['generation'].get('batch_size', 8)",
    ]


def test_pipeline_nodes_read_parameters_strictly():
    """A parameter the nodes read is declared in conf: ``block[key]``, never ``.get`` with a code default."""
    found = []
    for path in sorted((PACKAGE / "pipelines").rglob("nodes.py")):
        relative = str(path.relative_to(PACKAGE))
        for call in lenient_parameter_reads(path.read_text(encoding="utf-8")):
            if (relative, call) not in LENIENT_READS_ALLOWED:
                found.append(f"{relative}: {call}")
    assert not found, f"lenient parameter reads (declare the key in conf/base and read it with [key]): {found}"
    stale = [
        (file, call)
        for file, call in LENIENT_READS_ALLOWED
        if call not in lenient_parameter_reads((PACKAGE / file).read_text(encoding="utf-8"))
    ]
    assert not stale, f"LENIENT_READS_ALLOWED entries that no longer occur: {stale}"
