"""The reporting pipeline on a grid with seed replicates: the training run becomes the unit of the
strategy comparisons, and the clause-level analyses count each clause once per variant."""

from __future__ import annotations

import pandas as pd
import pytest

from rulelens.variant_grid import Variant
from tests.reporting import study_fixtures as fx
from tests.reporting.conftest import run_reporting

pytestmark = pytest.mark.slow  # see the marker in pyproject.toml

SEEDS = (0, 1, 2)


def replicated_inputs(planted: bool) -> dict:
    """study_inputs for every seed replicate: replicate k draws its tables from seed k + 10."""
    per_seed = {k: fx.study_inputs(planted=planted, seed=k + 10) for k in SEEDS}
    first = per_seed[0]
    names, out = [], {key: [] for key in ("training_metrics", "attributions", "faithfulness_curves", "lds_scores")}
    rules = []
    for k, inputs in per_seed.items():
        for i, name in enumerate(inputs["names"]):
            strategy, size = name.split(".")
            namespace = Variant(strategy, size, k).namespace
            names.append(namespace)
            out["training_metrics"].append(inputs["training_metrics"][i])
            for key in ("attributions", "faithfulness_curves", "lds_scores"):
                out[key].append(inputs[key][i].assign(variant=namespace))
            rules.append(inputs["generated_rules"][i].assign(seed=k))
    rules += first["generated_rules"][len(first["names"]) :]  # zero-shot: no training seed
    return {**first, **out, "names": names, "generated_rules": rules}


@pytest.fixture(scope="module")
def replicated_planted():
    return run_reporting(replicated_inputs(planted=True))


def focus_rows(study) -> pd.DataFrame:
    table = study["strategy_comparisons"]
    return table[(table["family"] == "focus") & (table["metric"] == "normalised_entropy")]


def test_strategies_are_compared_over_training_runs(replicated_planted):
    rows = focus_rows(replicated_planted)
    pairs = rows[rows["group_a"] != ""]
    assert set(pairs["test"]) == {"welch_t over training runs"}
    assert set(pairs["n"]) == {2 * len(SEEDS)}  # runs, not clauses x seeds
    fft = pairs[pairs["group_a"] == "fft"]
    assert (fft["p_adjusted"] < 0.05).all() and (fft["direction"] < 0).all()  # the planted FFT focus
    finding = replicated_planted["study_findings"].set_index("key").loc["strategy_focus"]
    assert finding["verdict"] == "reproduced" and "training runs" in finding["observed"]


def test_clause_level_analyses_count_each_clause_once(replicated_planted):
    lds = replicated_planted["lds_summary"]
    pooled = lds[lds["strategy"] == "all"].iloc[0]
    assert pooled["n_clauses"] == fx.N_CLAUSES
    quality = replicated_planted["quality_by_variant"]
    assert set(quality["n"]) == {fx.N_CLAUSES}
    attributions = replicated_planted["report_attributions"]
    assert sorted(attributions["seed"].unique()) == list(SEEDS)


def test_without_a_strategy_effect_the_runs_do_not_reproduce_it():
    study = run_reporting(replicated_inputs(planted=False))
    finding = study["study_findings"].set_index("key").loc["strategy_focus"]
    assert finding["verdict"] != "reproduced"


def test_the_report_says_how_many_training_runs_each_verdict_stands_on(replicated_planted, planted_study):
    assert "was trained 3 times" in str(replicated_planted["study_report"])
    assert "one training run (seed 0)" in str(planted_study["study_report"])
    assert replicated_planted["run_facts"]["seeds"] == {"seeds": [0, 1, 2], "runs_per_cell": 3}
