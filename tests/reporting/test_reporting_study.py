"""The reporting stage on constructed inputs: planted effects are found, absent ones are not."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from rulelens.pipelines.reporting.nodes import FIGURES
from tests.reporting.study_fixtures import SIZES, study_inputs


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
    assert "Short CPU fine-tuning" in null_study["study_report"]  # the departure is explained


def test_category_shift_with_scale_is_found(planted_study, null_study):
    trends = planted_study["scale_trends"]
    pooled = trends[(trends["family"] == "category") & (trends["metric"] == "mass_share") & (trends["strategy"] == "all")]
    by_category = pooled.set_index("category")
    for category in ("numerical_constraint", "rule_identifier"):
        assert by_category.loc[category, "rho"] > 0.7 and by_category.loc[category, "p_value"] < 0.05
        assert by_category.loc[category, "n"] == 9 and by_category.loc[category, "n_sizes"] == 3
    assert by_category.loc["other", "rho"] < 0
    assert verdicts(planted_study)["scale_categories"] == "reproduced"
    assert verdicts(null_study)["scale_categories"] != "reproduced"


def test_quality_plateau_at_the_planted_size(planted_study):
    plateaus = planted_study["quality_plateaus"]
    pooled = plateaus[(plateaus["strategy"] == "all") & (plateaus["model"] == "hinge")].iloc[0]
    assert pooled["status"] == "plateau" and pooled["plateau_size"] == "s"
    assert set(plateaus["strategy"]) == {"fft", "lora", "qlora", "all", "zero_shot"}
    assert verdicts(planted_study)["quality_plateau"] == "reproduced"


def test_faithfulness_beats_random_only_when_planted(planted_study, null_study):
    pooled = planted_study["faithfulness_summary"].query("strategy == 'all'").set_index("measure")
    assert pooled.loc["comprehensiveness", "difference"] == pytest.approx(2.0 * 2.5, abs=0.2)  # (3k - k) averaged over k=1..4
    assert pooled.loc["comprehensiveness", "p_value"] < 0.001 and pooled.loc["comprehensiveness", "n"] == 90
    assert verdicts(planted_study)["faithfulness"] == "faithful"
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
    assert "Every published finding tested here is reproduced by this run." in page


def test_figures_are_drawn_for_every_question(planted_study):
    figures = planted_study["figures"]
    assert len(figures) == len(FIGURES)
    for figure in figures:
        assert figure.axes and any(ax.has_data() for ax in figure.axes)


def test_report_without_deletion_curves_still_renders():
    from tests.reporting.conftest import run_reporting

    inputs = study_inputs()
    inputs["faithfulness_curves"] = [frame.iloc[0:0] for frame in inputs["faithfulness_curves"]]
    study = run_reporting(inputs)
    assert study["faithfulness_summary"].empty
    assert dict(zip(study["study_findings"]["key"], study["study_findings"]["verdict"]))["faithfulness"] == "not testable"
    assert "no deletion curves" in study["study_report"]


def test_missing_training_metrics_for_a_size_is_a_clear_error():
    from rulelens.pipelines.reporting import nodes

    inputs = study_inputs()
    variants = nodes.collect_variants(*inputs["training_metrics"][:3], names=inputs["names"][:3])  # fft only
    extra = pd.concat(inputs["attributions"][3:4]).assign(variant="lora.xl")
    with pytest.raises(ValueError, match=r"no training metrics for sizes \['xl'\]"):
        nodes.stack_attributions(variants, extra)


def test_the_configured_quality_metric_drives_plateau_figure_and_finding():
    from tests.reporting.conftest import PARAMS, run_reporting

    params = {**PARAMS, "quality_metrics": ["semantic_similarity"], "plateau": {**PARAMS["plateau"], "metric": "rouge_l"}}
    study = run_reporting(study_inputs(), params)
    assert set(study["quality_plateaus"]["metric"]) == {"rouge_l"}
    assert "rouge_l" in set(study["quality_by_variant"]["metric"])
    finding = study["study_findings"].set_index("key").loc["quality_plateau"]
    assert "rouge l" in finding["question"] and finding["verdict"] == "reproduced"
    quality_axes = study["figures"][2].axes[0]
    assert quality_axes.get_ylabel() == "rouge l" and quality_axes.has_data()
