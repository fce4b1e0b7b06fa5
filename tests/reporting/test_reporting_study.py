"""The reporting stage on constructed inputs: planted effects are found, absent ones are not."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from rulelens.reporting import FIGURES
from tests.reporting.conftest import PARAMS, run_reporting
from tests.reporting.study_fixtures import FIVE_SIZES, N_CLAUSES, SIZES, gpu_family_training, study_inputs

pytestmark = pytest.mark.slow  # real processes: the fast lane (-m "not slow") leaves it out


def verdicts(study) -> dict[str, str]:
    return dict(zip(study["study_findings"]["key"], study["study_findings"]["verdict"]))


def test_stacked_tables_carry_strategy_size_and_base_parameters(planted_study):
    attributions = planted_study["report_attributions"]
    assert set(attributions["strategy"]) == {"fft", "lora", "qlora"}
    assert dict(attributions.drop_duplicates("model_size")[["model_size", "n_params"]].values) == SIZES
    quality = planted_study["report_quality"]
    assert set(quality["strategy"]) == {"fft", "lora", "qlora", "zero_shot"}
    assert quality["valid"].dtype == float
    # zero-shot rows get their size's base parameter count
    zero = quality[quality["strategy"] == "zero_shot"].drop_duplicates("model_size")
    assert dict(zero[["model_size", "n_params"]].values) == SIZES


def test_planted_focus_difference_is_detected_per_size(planted_study):
    table = planted_study["strategy_comparisons"]
    focus = table[(table["family"] == "focus") & (table["metric"] == "normalised_entropy")]
    omnibus = focus[focus["test"] == "friedman"]
    assert len(omnibus) == len(SIZES) and (omnibus["p_value"] < 0.01).all()
    assert (omnibus["effect_size_name"] == "kendalls_w").all()
    fft_pairs = focus[(focus["group_a"] == "fft")]
    assert (fft_pairs["p_adjusted"] < 0.05).all() and (fft_pairs["mean_difference"] < 0).all()
    assert (fft_pairs["ci_high"] < 0).all()
    assert {"n", "test", "p_value", "effect_size"} <= set(table.columns)
    assert verdicts(planted_study)["strategy_focus"] == "reproduced"


def test_identical_strategies_show_no_focus_difference(null_study):
    table = null_study["strategy_comparisons"]
    omnibus = table[(table["family"] == "focus") & (table["test"] == "friedman")]
    # with no planted effect, a significant result at every size and metric would be a broken test
    assert (omnibus["p_value"] > 0.01).mean() > 0.8
    assert verdicts(null_study)["strategy_focus"] != "reproduced"
    # the departure is explained from the run's facts: the variants converged, so the power is the reason
    assert "The paired tests could only detect effects of" in null_study["study_report"]
    assert "trained for only" not in null_study["study_report"]


def _pooled_category_trends(study):
    trends = study["scale_trends"]
    pooled = trends[
        (trends["family"] == "category") & (trends["metric"] == "mass_share") & (trends["strategy"] == "all")
    ]
    return pooled.set_index("category")


def test_three_sizes_give_a_direction_but_no_significance(planted_study):
    by_category = _pooled_category_trends(planted_study)
    for category in ("numerical_constraint", "rule_identifier"):
        row = by_category.loc[category]
        assert row["n_sizes"] == 3 and row["n_clauses"] == N_CLAUSES  # sizes counted once, not strategy x size
        assert row["slope"] > 0 and not row["testable"] and not row["significant"] and np.isnan(row["p_value"])
    assert verdicts(planted_study)["scale_categories"] == "same direction, not testable for significance"


@pytest.fixture(scope="module")
def five_size_studies():
    return {planted: run_reporting(study_inputs(planted=planted, sizes=FIVE_SIZES)) for planted in (True, False)}


def test_category_shift_with_scale_is_found_over_five_sizes(five_size_studies):
    planted = five_size_studies[True]
    by_category = _pooled_category_trends(planted)
    for category in ("numerical_constraint", "rule_identifier"):
        row = by_category.loc[category]
        assert row["n_sizes"] == 5 and row["testable"] and row["significant"] and row["slope_ci_low"] > 0
    assert by_category.loc["other", "slope"] < 0
    assert verdicts(planted)["scale_categories"] == "reproduced"
    assert verdicts(five_size_studies[False])["scale_categories"] != "reproduced"


def test_quality_plateau_needs_five_sizes_and_the_published_range(planted_study, five_size_studies):
    def pooled(study):
        plateaus = study["quality_plateaus"]
        return plateaus[(plateaus["strategy"] == "all") & (plateaus["model"] == "hinge")].iloc[0]

    assert pooled(planted_study)["status"].startswith("not testable")  # three sizes
    assert verdicts(planted_study)["quality_plateau"] == "not testable"
    row = pooled(five_size_studies[True])
    assert row["status"] == "plateau" and row["plateau_size"] == "m" and row["hinge_vs_line_p"] < 0.05
    assert verdicts(five_size_studies[True])["quality_plateau"] == "reproduced"
    assert set(five_size_studies[True]["quality_plateaus"]["strategy"]) == {"fft", "lora", "qlora", "all", "zero_shot"}
    # the same five sizes scaled below the published ~7B range cannot test it
    below = run_reporting(study_inputs(sizes={k: v // 100 for k, v in FIVE_SIZES.items()}))
    assert pooled(below)["status"] == "not testable on this ladder"
    assert verdicts(below)["quality_plateau"] == "not testable"


def test_faithfulness_counts_clauses_not_variant_rows(planted_study, null_study):
    pooled = planted_study["faithfulness_summary"].query("strategy == 'all'").set_index("measure")
    assert pooled.loc["comprehensiveness", "difference"] == pytest.approx(
        2.0 * 2.5, abs=0.2
    )  # (3k - k) averaged over k=1..4
    assert pooled.loc["comprehensiveness", "n"] == N_CLAUSES  # the same 10 clauses under 9 variants are 10 units
    assert pooled.loc["comprehensiveness", "p_value"] < 0.01
    per_variant = planted_study["faithfulness_summary"].query("strategy != 'all'")
    assert len(per_variant) == 2 * 9 and (per_variant["n"] == N_CLAUSES).all()
    lds = planted_study["lds_summary"].set_index(["strategy", "model_size"])
    assert lds.loc[("all", "all"), "n_clauses"] == N_CLAUSES and lds.loc[("all", "all"), "p_value"] < 0.01
    assert verdicts(planted_study)["faithfulness"] == "faithful"
    assert verdicts(null_study)["faithfulness"] != "faithful"
    aopc = planted_study["faithfulness_aopc"]
    assert len(aopc) == 90 and np.isfinite(aopc[["comprehensiveness", "random_comprehensiveness"]]).all().all()


def test_agreement_matrix_is_symmetric_with_unit_diagonal(planted_study):
    matrix = planted_study["agreement_matrix"].set_index("variant")
    values = matrix.to_numpy(dtype=float)
    assert values.shape == (9, 9)
    np.testing.assert_allclose(values, values.T)
    np.testing.assert_allclose(np.diag(values), 1.0)


def test_report_is_self_contained_and_holds_every_figure(planted_study):
    page = planted_study["study_report"]
    assert page.startswith("<!DOCTYPE html>")
    for name in FIGURES:
        assert f'<figure id="fig-{name}"><svg' in page
    assert page.count('<div class="heatmap">') == 2  # heatmap_examples
    assert "<iframe" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # nothing fetched from the network
    assert "<script" not in page
    for question in planted_study["study_findings"]["question"]:
        assert question in page
    assert "reproduced" in page and "Caveats" in page
    assert "agency=NCC | quantitative=True" in page  # the clauses per stratum


def test_figures_are_drawn_for_every_question(planted_study):
    figures = planted_study["figures"]
    assert len(figures) == len(FIGURES)
    for figure in figures:
        assert figure.axes and any(ax.has_data() for ax in figure.axes)


def test_report_without_deletion_curves_still_renders():
    from tests.reporting.conftest import run_reporting

    inputs = study_inputs()
    inputs["faithfulness_curves"] = [frame.iloc[0:0] for frame in inputs["faithfulness_curves"]]
    inputs["lds_scores"] = [frame.iloc[0:0] for frame in inputs["lds_scores"]]
    study = run_reporting(inputs)
    assert study["faithfulness_summary"].empty and study["lds_summary"].empty
    assert (
        dict(zip(study["study_findings"]["key"], study["study_findings"]["verdict"]))["faithfulness"] == "not testable"
    )
    assert "no deletion curves or LDS" in study["study_report"]


def test_missing_training_metrics_for_a_size_is_a_clear_error():
    from rulelens.pipelines.reporting import nodes

    inputs = study_inputs()
    variants = nodes.collect_variants(*zip(inputs["names"][:3], inputs["training_metrics"][:3]))  # fft only
    extra = pd.concat(inputs["attributions"][3:4]).assign(variant="lora.xl")
    with pytest.raises(ValueError, match=r"no training metrics for sizes \['xl'\]"):
        nodes.stack_attributions(variants, extra)


def test_the_configured_quality_metric_drives_plateau_figure_and_finding():
    params = {
        **PARAMS,
        "quality_metrics": ["semantic_similarity"],
        "plateau": {**PARAMS["plateau"], "metric": "rouge_l"},
    }
    study = run_reporting(study_inputs(sizes=FIVE_SIZES), params)
    assert set(study["quality_plateaus"]["metric"]) == {"rouge_l"}
    assert "rouge_l" in set(study["quality_by_variant"]["metric"])
    finding = study["study_findings"].set_index("key").loc["quality_plateau"]
    assert "rouge l" in finding["question"] and finding["verdict"] == "reproduced"
    quality_axes = study["figure_quality"].axes[0]
    assert quality_axes.get_ylabel() == "rouge l" and quality_axes.has_data()


def _caveats(page: str) -> str:
    return page[page.index("<h2>Where this run departs") :]


def test_report_text_comes_from_the_run_facts_of_the_cpu_ladder(planted_study):
    facts = planted_study["run_facts"]
    assert facts["environment"] == "base" and facts["n_sizes"] == 3
    assert [s["pruned"] for s in facts["sizes"]] == [True, True, False]
    text = _caveats(planted_study["study_report"])
    assert "depth-pruned copies of SmolLM2-135M-Instruct" in text
    assert "Q4_1-quantised GGUF" in text
    assert "below the ~7.0B range" in text
    assert "3 model size(s)" in text and "16 optimizer steps on 96 training examples" in text
    assert "4.9% of the training rows were left out as longer than 215 tokens" in text
    assert "step cap" not in text and "brief training" not in text  # every variant converged
    assert (
        f"{N_CLAUSES} clauses of the test split, a seeded random sample, stratified by agency and quantitative" in text
    )
    # the MDE is planning information, never an excuse for a non-significant result
    assert "is detected with power 0.8" in text and "could not have been seen" not in text
    # one training run per cell: the strategy verdicts say they rest on these checkpoints
    assert "one training run (seed 0)" in text and "conditional on these checkpoints" in text
    # which clauses the faithfulness checks saw, by stratum
    assert "The faithfulness checks (deletion curves and LDS) ran on" in text and "agency=IBC" in text


def test_report_on_another_dataset_and_a_gpu_family_says_nothing_false():
    """A GPU-profile-like run (one hub family, 5 sizes up to 10B) on another dataset and environment."""
    inputs = study_inputs(sizes=FIVE_SIZES)
    inputs["training"] = gpu_family_training(FIVE_SIZES)
    inputs["training_metrics"] = [{**m, "global_step": 400, "train_examples": 646} for m in inputs["training_metrics"]]
    params = {**PARAMS, "dataset": "nzbc_lrml", "environment": "nzbc"}
    study = run_reporting(inputs, params)
    page = study["study_report"]
    assert "environment: <b>nzbc</b>" in page and "dataset: <b>nzbc_lrml</b>" in page
    text = _caveats(page)
    for false_here in (
        "pruned",
        "GGUF",
        "SmolLM2",
        "below the ~",
        "shipped corpus",
        "CPU",
        "random-weight",
        "brief training",
        "too few to",
    ):
        assert false_here not in text, false_here
    assert "Org/Family-xl (10.0B parameters)" in text
    assert "400 optimizer steps on 646 training examples" in text


def test_report_of_the_tiny_test_profile_says_so():
    from tests.reporting.study_fixtures import SIZES

    inputs = study_inputs()
    inputs["training"] = {"sizes": {name: {"base_model": {"source": "tiny"}} for name in SIZES}}
    study = run_reporting(inputs, {**PARAMS, "environment": "test"})
    text = _caveats(study["study_report"])
    assert "tiny random-weight models" in text and "SmolLM2" not in text and "pruned" not in text


def test_an_lrml_run_shows_the_published_results_beside_its_own():
    inputs = study_inputs()
    for frame in inputs["generated_rules"]:
        frame["lrml_precision"], frame["lrml_recall"] = 0.8, 0.6
        frame["lrml_published_precision"], frame["lrml_published_recall"] = 0.5, 0.4
    scores = ["lrml_precision", "lrml_recall", "lrml_published_precision", "lrml_published_recall"]
    params = {**PARAMS, "quality_metrics": ["semantic_similarity", *scores]}
    page = run_reporting(inputs, params)["study_report"]
    assert "Rule quality against the published NZBC results" in page
    assert "T5" in page and "77.4" in page and "68.57" in page  # 2 * 80 * 60 / 140 = 68.57
    assert "lrml_f1_published" in page and "44.44" in page  # 2 * 50 * 40 / 90, the score compared
    assert "Rule quality against the published" not in run_reporting(study_inputs())["study_report"]


def test_markup_in_a_clause_is_text_in_the_report():
    inputs = study_inputs()
    markup = "<script>alert(1)</script> <b>bold</b>"
    inputs["study_clauses"]["clause"] = inputs["study_clauses"]["clause"] + " " + markup
    page = run_reporting(inputs)["study_report"]
    assert "<script" not in page and "<b>bold" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_variant_stopped_by_the_step_cap_is_named_with_its_curve():
    from tests.reporting.study_fixtures import capped_training_metrics, variant_names

    inputs = study_inputs()
    names = variant_names()
    capped = names.index("fft.xs")
    inputs["training_metrics"][capped] = capped_training_metrics("fft", "xs")
    study = run_reporting(inputs)
    page, facts = study["study_report"], study["run_facts"]
    assert facts["training"]["capped"] == ["fft.xs"] and facts["training"]["stopped_by"] == {
        "early_stopping": len(names) - 1,
        "step_cap": 1,
    }
    assert "fft.xs reached the step cap of 24 steps while the validation loss was still falling" in _caveats(page)
    assert "Training stopped by early stopping for 8 variant(s), step cap for 1 variant(s)." in page
    assert "17 of 344 training rows (4.9%)" in page
    variants = study["report_variants"].set_index(["strategy", "model_size"])
    assert variants.loc[("fft", "xs"), "stopped_by"] == "step_cap" and variants.loc[("lora", "xs"), "best_step"] == 8
    axes = study["figure_training"].axes
    assert len(axes) == 3 and all(len(ax.lines) >= 3 for ax in axes)  # a curve per strategy in every size panel


def test_the_quality_section_gives_validity_with_and_without_the_decoding_constraint():
    inputs = study_inputs()
    for frame in inputs["generated_rules"]:
        frame["valid"] = True
        frame["valid_unconstrained"] = frame.index % 2 == 0  # the constraint made every other rule valid
    params = {**PARAMS, "quality_metrics": ["semantic_similarity", "valid", "valid_unconstrained"]}
    study = run_reporting(inputs, params)
    quality = study["quality_by_variant"].set_index(["strategy", "model_size", "metric"])["mean"]
    assert quality[("lora", "m", "valid_unconstrained")] == pytest.approx(0.5)
    assert "100% of the rules are valid with it and 50% without it" in study["study_report"]
    assert "rule-format constraint" not in run_reporting(study_inputs())["study_report"]  # not measured: not said
