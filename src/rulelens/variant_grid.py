"""The variant grid: which strategy x size variants run, and each variant's settings.

The grid is declared once in ``conf/<env>/variants.yml``; the strategies it may name are the
registry of :mod:`rulelens.modeling.strategies`. Kedro builds pipeline shapes before it loads
parameters, so the grid is read at registry time from that small YAML file. The environment is
Kedro's own: the project's config loader (:mod:`rulelens.config_loader`), which every Kedro session
builds before its first pipeline, records the run's environment and conf folder here; without a
session (a pipeline built by hand) ``KEDRO_ENV`` or base/local apply. An environment's
variants.yml replaces base's when present.

A variant's settings are resolved from the shared ``training`` parameters
(``parameters_training.yml``: sizes, strategies, shared trainer settings): the training node uses
them, and MLflow logs them without any namespace prefix so that ``trainer.learning_rate`` lines up
across all variants and runs (docs/configuration.md).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rulelens.modeling.strategies import STRATEGIES

ZERO_SHOT = "zero_shot"  # the untuned base of a size: a reference row in evaluation and reporting, not a strategy
SEED_MARK = "_seed"  # a seed replicate's namespace: <strategy>.<size>_seed<k> (replicate 0 keeps <strategy>.<size>)
_REPLICATE = re.compile(rf"^(?P<size>.+?){SEED_MARK}(?P<seed>[1-9][0-9]*)$")


@dataclass(frozen=True)
class Variant:
    """One fine-tuning strategy at one model size, trained as seed replicate ``seed``.

    Its Kedro namespace is ``<strategy>.<size>`` for replicate 0 (every run without a seed
    dimension) and ``<strategy>.<size>_seed<k>`` for replicate k, so every replicate is a branch
    of its own (checkpoint, fingerprint, MLflow child run) and replicate 0 keeps its names.
    """

    strategy: str
    size: str
    seed: int = 0

    @property
    def namespace(self) -> str:
        suffix = f"{SEED_MARK}{self.seed}" if self.seed else ""
        return f"{self.strategy}.{self.size}{suffix}"


def parse_namespace(name: str) -> Variant:
    """``"lora.m"`` -> Variant("lora", "m"); ``"lora.m_seed2"`` -> Variant("lora", "m", 2); a clear error otherwise."""
    strategy, dot, rest = str(name).partition(".")
    if not dot or not strategy or not rest or "." in rest:
        raise ValueError(f"variant name {name!r} is not '<strategy>.<size>' or '<strategy>.<size>{SEED_MARK}<k>'")
    replicate = _REPLICATE.match(rest)
    if replicate:
        return Variant(strategy, replicate["size"], int(replicate["seed"]))
    return Variant(strategy, rest)


def sizes_of(variants: list[Variant]) -> list[str]:
    """The grid's sizes, in grid order."""
    return list(dict.fromkeys(v.size for v in variants))


def seeds_of(variants: list[Variant]) -> list[int]:
    """The grid's seed replicates, in grid order ([0] without a seed dimension)."""
    return list(dict.fromkeys(v.seed for v in variants))


def evaluated_namespaces(variants: list[Variant]) -> list[str]:
    """Every namespace that writes rules: the variants, then the zero-shot base of each size."""
    return [v.namespace for v in variants] + [f"{ZERO_SHOT}.{size}" for size in sizes_of(variants)]


_RUN_ENVIRONMENT: dict[str, Any] = {}  # {"env": ..., "conf_source": ...} of the last config loader built


def record_run_environment(env: str | None, conf_source: str | Path | None) -> None:
    """Called by the project's config loader: the environment and conf folder of the run being set up."""
    _RUN_ENVIRONMENT.update(env=env, conf_source=None if conf_source is None else Path(conf_source))


def run_environment(environ: Mapping[str, str] | None = None) -> str | None:
    """The Kedro environment of this process's run: the config loader's, else ``KEDRO_ENV``, else None."""
    if _RUN_ENVIRONMENT.get("env"):
        return _RUN_ENVIRONMENT["env"]
    environ = os.environ if environ is None else environ
    return environ.get("KEDRO_ENV") or None


def grid_file(conf_root: Path, env: str | None) -> Path:
    """The variants.yml in force: the environment's own if it has one, else base's."""
    if env and (conf_root / env / "variants.yml").is_file():
        return conf_root / env / "variants.yml"
    local = conf_root / "local" / "variants.yml"
    if env is None and local.is_file():
        return local
    return conf_root / "base" / "variants.yml"


def parse_grid(content: dict, source: str) -> list[Variant]:
    """Variants from ``{strategies: [...], sizes: [...], seeds: [...]}``; names must be valid namespace parts.

    ``seeds`` (default ``[0]``): training replicates; replicate k trains with every configured seed
    plus k (trainer seed: data order, dropout; the strategy's init seed), see :func:`variant_settings`.
    """
    strategies = list(content.get("strategies") or [])
    sizes = [str(size) for size in content.get("sizes") or []]
    seeds = content.get("seeds", [0])
    if (
        not isinstance(seeds, list)
        or not seeds
        or any(isinstance(x, bool) or not isinstance(x, int) or x < 0 for x in seeds)
        or len(set(seeds)) != len(seeds)
    ):
        raise ValueError(f"{source}: seeds must be a list of distinct integers >= 0, got {seeds!r}")
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown or not strategies or not sizes:
        raise ValueError(f"{source}: need strategies from {tuple(STRATEGIES)} and at least one size; got {content}")
    bad = [s for s in sizes if not s.isidentifier() or _REPLICATE.match(s)]
    if bad:
        raise ValueError(
            f"{source}: size names must be identifiers (used in namespaces) not ending in {SEED_MARK}<k>, got {bad}"
        )
    return [Variant(strategy, size, seed) for seed in seeds for strategy in strategies for size in sizes]


def load_grid(conf_root: Path | None = None, env: str | None = None) -> list[Variant]:
    """The project's variants for the active environment."""
    conf_root = conf_root or project_conf_root()
    path = grid_file(conf_root, env if env is not None else run_environment())
    return parse_grid(yaml.safe_load(path.read_text()) or {}, str(path))


def project_conf_root() -> Path:
    """conf/ of the project being run: the config loader's, else the working directory's, else the checkout's."""
    recorded = _RUN_ENVIRONMENT.get("conf_source")
    if recorded is not None and (recorded / "base").is_dir():
        return recorded
    here = Path.cwd() / "conf"
    if (here / "base").is_dir():
        return here
    return Path(__file__).resolve().parents[2] / "conf"


# ---- one variant's settings ----


def _section(params: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    node: Any = params
    for key in keys:
        node = (node or {}).get(key) if isinstance(node, Mapping) else None
    return dict(node or {})


def variant_settings(params: Mapping[str, Any], variant: Variant) -> dict[str, Any]:
    """The settings of one variant: base model spec, strategy settings, trainer settings."""
    training = _section(params, "training")
    size = _section(training, "sizes", variant.size)
    if "base_model" not in size:
        raise KeyError(
            f"training.sizes.{variant.size}.base_model is not set; every size in variants.yml needs one "
            f"in parameters_training.yml"
        )
    strategy = _section(training, "strategies", variant.strategy)
    trainer = {**_section(training, "trainer"), **_section(strategy, "trainer")}
    strategy_params = _section(strategy, "settings")
    if variant.seed:  # replicate k: every configured seed + k (replicate 0 is the configuration as written)
        trainer["seed"] = int(trainer.get("seed", 0)) + variant.seed
        if "seed" in strategy_params:
            strategy_params["seed"] = int(strategy_params["seed"]) + variant.seed
    base_model = {**_section(training, "base_model_defaults"), **dict(size["base_model"])}
    return {
        "strategy": variant.strategy,
        "model_size": variant.size,
        "seed_replicate": variant.seed,
        "base_model": base_model,
        "base_model_name": base_model_name(base_model),
        "strategy_params": strategy_params,
        "trainer": trainer,
        "prompt": _section(params, "prompt"),
    }


def base_model_name(base_model: Mapping[str, Any]) -> str:
    """A readable name of a base model spec (for the MLflow ``base_model`` tag)."""
    source = base_model.get("source", "gguf_package")
    if source == "hf":
        name = str(base_model.get("name_or_path"))
    elif source == "tiny":
        name = "tiny-random-llama"
    else:
        name = str(base_model.get("file", "SmolLM2-135M-Instruct"))
    keep = base_model.get("keep_layers")
    if not keep:
        return name
    selection = base_model.get("layer_selection", "even")
    return f"{name} pruned to {keep} layers ({selection})"
