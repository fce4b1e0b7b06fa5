"""The whole default pipeline on the tiny test profile, tracked in a throwaway MLflow store.

One module-scoped run of ``kedro run --env test`` (tiny random models, every strategy at two
sizes) feeds the checks: tables and checkpoints per variant, the MLflow parent/child runs, a
second run that skips completed variants, and a single-namespace run.
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from rulelens.attribution.result import FRAME_COLUMNS
from rulelens.reporting import FIGURES
from tests.project_copy import PROJECT, copy_project, kedro

pytestmark = pytest.mark.slow  # real processes: the fast lane (-m "not slow") leaves it out

VARIANTS = [f"{s}.{z}" for s in ("fft", "lora", "qlora") for z in ("tiny", "tiny2")]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = copy_project(tmp_path_factory.mktemp("e2e"))
    uri = f"sqlite:///{root / 'mlflow_test.db'}"
    first = kedro(root, "run", "--env", "test", env={"MLFLOW_TRACKING_URI": uri})
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    return root, uri, first


def client(uri):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def runs(uri):
    experiment = client(uri).get_experiment_by_name("rulelens")
    return client(uri).search_runs([experiment.experiment_id], max_results=1000)


def test_every_variant_has_checkpoint_tables_and_metrics(project):
    root, _, _ = project
    out = root / "data"
    for variant in VARIANTS:
        strategy, size = variant.split(".")
        assert (out / "06_models/test_profile" / strategy / size / "_COMPLETE").is_file(), variant
        metrics = json.loads(
            (out / "07_model_output/test_profile" / strategy / size / "training_metrics.json").read_text()
        )
        assert metrics["trainable_params"] > 0
        if strategy == "fft":
            assert metrics["trainable_params"] == metrics["total_params"]
        else:
            assert metrics["trainable_params"] < metrics["total_params"] / 2
        table = pd.read_parquet(out / "07_model_output/test_profile" / strategy / size / "attributions.parquet")
        assert set(FRAME_COLUMNS) <= set(table.columns)
        assert table["clause_id"].nunique() == 3
        rules = pd.read_parquet(out / "07_model_output/test_profile" / strategy / size / "generated_rules.parquet")
        assert len(rules) == 3 and {"generated_rule", "semantic_similarity", "chrf", "valid"} <= set(rules.columns)
    quality = pd.read_csv(out / "08_reporting/test_profile/quality_summary.csv")
    assert set(quality["strategy"]) == {"fft", "lora", "qlora", "zero_shot"}
    assert {"semantic_similarity", "chrf", "rouge_l", "exact_match", "valid"} <= set(quality["metric"])
    assert (quality["ci_low"] <= quality["mean"] + 1e-9).all() and (quality["mean"] <= quality["ci_high"] + 1e-9).all()
    pages = list((out / "08_reporting/test_profile/attribution_heatmaps").glob("*.html"))
    assert len(pages) == 3
    assert all(v in pages[0].read_text() for v in VARIANTS)


def test_reporting_answers_the_study_questions_for_the_run(project):
    root, _, _ = project
    out = root / "data/08_reporting/test_profile"
    tables = out / "tables"
    focus = pd.read_parquet(tables / "clause_focus.parquet")
    assert len(focus) == len(VARIANTS) * 3 and focus["normalised_entropy"].between(0, 1).all()
    comparisons = pd.read_csv(tables / "strategy_comparisons.csv")
    assert {"focus", "category", "quality"} == set(comparisons["family"])
    assert {"friedman", "wilcoxon"} <= set(comparisons["test"]) and comparisons["n"].gt(0).all()
    trends = pd.read_csv(tables / "scale_trends.csv")
    assert set(trends.loc[trends["family"] == "category", "category"]) == {
        "rule_identifier",
        "numerical_constraint",
        "deontic",
        "domain_entity",
        "other",
    }
    faithfulness = pd.read_csv(tables / "faithfulness_summary.csv")
    assert set(faithfulness["strategy"]) == {"fft", "lora", "qlora", "all"}
    curves = pd.read_parquet(tables / "faithfulness_curves.parquet")
    # the first point of the attribution curve is the top word's own attribution, recomputed
    attributions = pd.read_parquet(tables / "attributions.parquet")
    first = curves[(curves["order"] == "attribution") & (curves["k"] == 1)].set_index(["variant", "clause_id"])
    top = attributions.groupby(["variant", "clause_id"])["score"].max()
    joined = first.join(top.rename("top_score"))
    assert len(joined) == len(VARIANTS) * 2  # attribution.faithfulness.n_clauses of the test profile
    assert (joined["comprehensiveness"] - joined["top_score"]).abs().max() < 1e-3
    lds = pd.read_parquet(tables / "lds_scores.parquet")
    assert len(lds) == len(VARIANTS) * 2 and (lds["n_masks"] == 16).all() and lds["lds"].between(-1, 1).all()
    lds_summary = pd.read_csv(tables / "lds_summary.csv")
    assert lds_summary.set_index("strategy").loc["all", "n_clauses"] == 2  # clauses, not variant x clause rows
    facts = json.loads((out / "run_facts.json").read_text())
    assert facts["environment"] == "test" and all(s["random_weights"] for s in facts["sizes"])
    assert facts["selection"]["n_clauses"] == 3 and sum(facts["selection"]["strata"].values()) == 3
    findings = pd.read_csv(out / "study_findings.csv")
    assert list(findings["key"]) == ["strategy_focus", "scale_categories", "quality_plateau", "faithfulness"]
    # two sizes cannot show a plateau: the report says so instead of guessing
    assert findings.set_index("key").loc["quality_plateau", "verdict"] == "not testable"
    page = (out / "study_report.html").read_text(encoding="utf-8")
    assert page.count("<svg") >= 5 and "fft.tiny2" in page
    assert {p.name for p in (out / "figures").iterdir()} == {f"{name}.png" for name in FIGURES}
    # rule quality by execution: every model's rules were run on the shared suites
    quality = pd.read_csv(out / "quality_summary.csv")
    executed = quality[quality["metric"] == "exec_match"]
    assert len(executed) == len(VARIANTS) + 2 and executed["mean"].between(0, 1).all()  # + the zero-shot bases
    suites = pd.read_csv(out / "rule_suite_summary.csv")
    assert len(suites) == 3 and (suites["n_cases"] > 0).all()
    assert "Rule quality by execution" in page


def test_mlflow_has_one_parent_and_a_child_per_variant(project):
    _, uri, _ = project
    all_runs = runs(uri)
    parents = [r for r in all_runs if r.data.tags.get("rulelens.level") == "parent"]
    children = [r for r in all_runs if r.data.tags.get("rulelens.level") == "variant"]
    assert len(parents) == 1
    parent_files = {a.path for a in client(uri).list_artifacts(parents[0].info.run_id)}
    assert {
        "quality_summary.csv",
        "corpus_summary.csv",
        "attribution_heatmaps",
        "study_report.html",
        "study_findings.csv",
        "strategy_comparisons.csv",
        "focus.png",
        "faithfulness.png",
        "run_facts.json",
        "lds_summary.csv",
    } <= parent_files
    assert sorted(r.info.run_name for r in children) == sorted(VARIANTS)
    for child in children:
        tags, params, metrics = child.data.tags, child.data.params, child.data.metrics
        assert tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert child.info.run_name == f"{tags['strategy']}.{tags['model_size']}"
        assert int(tags["n_params"]) > 0 and tags["base_model"] and len(tags["fingerprint"]) == 64
        assert "trainer.learning_rate" in params and "strategy" in params
        assert not any(key.startswith(("fft.", "lora.", "qlora.")) for key in params)
        assert {
            "trainable_params",
            "wall_time_s",
            "peak_rss_mb",
            "attribution_normalised_entropy",
            "semantic_similarity",
            "semantic_similarity_ci_low",
            "generation_rules_per_s",
        } <= set(metrics)
        assert tags["checkpoint_path"].endswith(child.info.run_name.replace(".", "/"))
        artifacts = {a.path for a in client(uri).list_artifacts(child.info.run_id)}
        assert {
            "attributions.parquet",
            "generated_rules.parquet",
            "loss_history.csv",
            "faithfulness_curves.parquet",
            "lds_scores.parquet",
        } <= artifacts
        assert math.isfinite(metrics["faithfulness_attribution_comprehensiveness"])
        assert math.isfinite(metrics["faithfulness_lds"]) and math.isfinite(metrics["faithfulness_lds_permuted"])
        history = client(uri).get_metric_history(child.info.run_id, "train_loss")
        assert len(history) >= 2 and len({h.step for h in history}) == len(history)
        # the child spans its own nodes: opened when the first starts, ended after the last, each node timed
        assert child.info.status == "FINISHED"
        assert parents[0].info.start_time <= child.info.start_time < child.info.end_time <= parents[0].info.end_time
        stages = {"seconds_prepare_base_model", "seconds_train_variant", "seconds_evaluate_variant"}
        assert stages | {"seconds_attribute_variant"} <= set(metrics)
        assert all(metrics[name] >= 0 for name in stages)
        stage_sum = sum(v for k, v in metrics.items() if k.startswith("seconds_"))
        assert stage_sum <= (child.info.end_time - child.info.start_time) / 1000 + 1
    ends = sorted(child.info.end_time for child in children)
    assert ends[0] < parents[0].info.end_time  # a variant finished before the whole run did


# ---- resume inside a stage (docs/configuration.md, "What a rerun recomputes") ----

NO_TRACKING = ("--params", "tracking.enabled=false")  # keeps the MLflow counts of the tests below
TABLES = ("attributions", "faithfulness_curves", "lds_scores")
N_CLAUSES = 3  # conf/test: data_processing.selection.n_clauses


def _partial_attribution_stores(root) -> list[tuple[str, int]]:
    """(variant, finished clauses) of attribution stores with some, not all, clauses done and no outputs."""
    from rulelens.stage_store import OUTPUTS, UNITS, _unit_file, finished_units

    found = []
    for units in root.glob("data/07_model_output/test_profile/*/*/progress/attribution/" + UNITS):
        done = len(finished_units(units))  # a write caught half done is not a finished unit
        if not (units / _unit_file(OUTPUTS)).exists() and 0 < done < N_CLAUSES:
            found.append((f"{units.parents[3].name}.{units.parents[2].name}", done))
    return found


def _kill_mid_attribution(process, root, seconds: float = 300) -> list[tuple[str, int]]:
    """Freeze the run (SIGSTOP) the moment a variant's attribution is part done, confirm, SIGKILL it."""
    import signal
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before it was caught mid-attribution"
        if _partial_attribution_stores(root):
            process.send_signal(signal.SIGSTOP)  # what we see now is what the kill leaves
            caught = _partial_attribution_stores(root)
            if caught:
                process.send_signal(signal.SIGKILL)
                process.wait()
                return caught
            process.send_signal(signal.SIGCONT)
        time.sleep(0.002)
    raise AssertionError("no attribution was caught part done")


def _tables(root) -> dict[tuple[str, str], pd.DataFrame]:
    out = root / "data/07_model_output/test_profile"
    return {
        (variant, name): pd.read_parquet(out / variant.replace(".", "/") / f"{name}.parquet")
        for variant in VARIANTS
        for name in TABLES
    }


def test_a_run_killed_mid_attribution_resumes_at_its_first_unfinished_clause(project):
    """A real ``kedro run`` SIGKILLed inside a variant's attribution; the rerun reads the finished
    clauses back, computes only the rest, skips every stage whose inputs did not change, and ends
    with tables equal to the bit to those of the uninterrupted first run."""
    import re

    root, _, _ = project
    uninterrupted = _tables(root)
    command = [str(Path(sys.executable).with_name("kedro")), "run", "--env", "test", "--pipelines", "attribution"]
    env = dict(os.environ, KEDRO_DISABLE_TELEMETRY="true", MLFLOW_DISABLE_TELEMETRY="true", HF_HUB_OFFLINE="1")
    killed = subprocess.Popen(
        [*command, "--params", "tracking.enabled=false,attribution.recompute=true"],  # recompute: start from zero
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        (variant, kept), *_ = _kill_mid_attribution(killed, root)
    finally:
        if killed.poll() is None:
            killed.kill()
            killed.wait()

    rerun = kedro(root, "run", "--env", "test", "--pipelines", "evaluation,attribution", *NO_TRACKING)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    log = " ".join((rerun.stdout + rerun.stderr).split())
    assert f"{variant} attribution: resuming with {kept} finished units kept" in log, log[-3000:]
    # the clauses left, plus the two faithfulness clauses of conf/test; nothing done twice
    assert f"{variant} attribution: {kept} finished units read back, {N_CLAUSES - kept + 2} computed in this run" in log
    skipped_generation = re.findall(r"(\S+) generation: outputs match", log)
    assert len(skipped_generation) == len(VARIANTS) + 2  # and the two zero-shot bases
    skipped_attribution = re.findall(r"(\S+) attribution: outputs match", log)
    assert sorted(skipped_attribution) == sorted(v for v in VARIANTS if v != variant)
    resumed = _tables(root)
    for key, table in uninterrupted.items():
        pd.testing.assert_frame_equal(resumed[key], table, check_exact=True, obj=str(key))


def test_second_run_skips_completed_variants_and_opens_new_runs(project):
    root, uri, _ = project
    before = {p: p.stat().st_mtime_ns for p in (root / "data/06_models/test_profile").rglob("model.safetensors")}
    second = kedro(root, "run", "--env", "test", "--pipelines", "training", env={"MLFLOW_TRACKING_URI": uri})
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert (second.stdout + second.stderr).count("not retraining") == len(VARIANTS)
    after = {p: p.stat().st_mtime_ns for p in (root / "data/06_models/test_profile").rglob("model.safetensors")}
    assert before == after  # completed checkpoints untouched
    one = kedro(
        root,
        "run",
        "--env",
        "test",
        "--pipelines",
        "training",
        "--namespaces",
        "lora.tiny",
        env={"MLFLOW_TRACKING_URI": uri},
    )
    assert one.returncode == 0, one.stdout[-3000:] + one.stderr[-3000:]
    all_runs = runs(uri)
    parents = [r for r in all_runs if r.data.tags.get("rulelens.level") == "parent"]
    assert len(parents) == 3
    newest = max(parents, key=lambda r: r.info.start_time)
    kids = [r for r in all_runs if r.data.tags.get("mlflow.parentRunId") == newest.info.run_id]
    assert [r.info.run_name for r in kids] == ["lora.tiny"]


def test_retrain_replaces_one_completed_variant_on_request(project):
    root, uri, _ = project
    weights = root / "data/06_models/test_profile/fft/tiny/model.safetensors"
    before = weights.stat().st_mtime_ns
    result = kedro(
        root,
        "run",
        "--env",
        "test",
        "--pipelines",
        "training",
        "--namespaces",
        "fft.tiny",
        "--params",
        "training.retrain=true",
        env={"MLFLOW_TRACKING_URI": uri},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Replacing completed checkpoint" in result.stdout + result.stderr
    assert weights.stat().st_mtime_ns != before


def test_unreachable_store_stops_before_training(tmp_path):
    root = copy_project(tmp_path)
    result = kedro(
        root, "run", "--env", "test", "--pipelines", "training", env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}
    )
    assert result.returncode != 0
    assert "http://127.0.0.1:9" in result.stdout + result.stderr
    assert not (root / "data/06_models").exists() or not any((root / "data/06_models").rglob("_COMPLETE"))


def test_tracking_off_runs_without_a_store(tmp_path):
    root = copy_project(tmp_path)
    result = kedro(
        root,
        "run",
        "--env",
        "test",
        "--pipelines",
        "data_processing",
        "--params",
        "tracking.enabled=false",
        env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "MLflow tracking is off" in result.stdout + result.stderr


def test_one_variant_of_a_later_stage_runs_on_its_own(project):
    root, uri, _ = project
    result = kedro(
        root,
        "run",
        "--env",
        "test",
        "--pipelines",
        "evaluation,attribution",
        "--namespaces",
        "lora.tiny2",
        "--params",
        "attribution.recompute=true",
        env={"MLFLOW_TRACKING_URI": uri},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    log = " ".join((result.stdout + result.stderr).split())
    assert "lora.tiny2: 3 clauses attributed" in log  # forced
    assert "lora.tiny2 generation: outputs match" in log  # unchanged: skipped


def test_notebook_loads_the_catalog_and_redraws_a_figure(project):
    root, uri, _ = project
    notebook = json.loads((PROJECT / "notebooks" / "explore_run.ipynb").read_text(encoding="utf-8"))
    code = "\n\n".join("".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code")
    folder = root / "notebooks"
    folder.mkdir(exist_ok=True)
    (folder / "explore_run.py").write_text(
        "import matplotlib\nmatplotlib.use('Agg')\n"
        + code
        + "\nfig.savefig('redrawn.png')\nprint(findings.to_csv())\n",
        encoding="utf-8",
    )
    env = dict(
        os.environ,
        KEDRO_ENV="test",
        MLFLOW_TRACKING_URI=uri,
        KEDRO_DISABLE_TELEMETRY="true",
        MLFLOW_DISABLE_TELEMETRY="true",
    )
    result = subprocess.run(
        [sys.executable, "explore_run.py"], cwd=folder, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "strategy_focus" in result.stdout
    assert (folder / "redrawn.png").stat().st_size > 10_000


def test_compliance_checks_an_ifc_model_with_a_trained_variant(project):
    """kedro run --pipelines compliance (the study's clauses: rules reused) and rulelens check (a clause CSV:
    rules generated and explained); the reference rules' verdicts find the planted violations."""
    import hashlib

    from tests.compliance.ifc_builders import PLANTED, build_small_house

    root, uri, _ = project
    house = build_small_house(root / "models")
    study = kedro(
        root,
        "run",
        "--env",
        "test",
        "--pipelines",
        "compliance",
        "--params",
        f"compliance.ifc_file={house},compliance.variant=lora.tiny",
        env={"MLFLOW_TRACKING_URI": uri},
    )
    assert study.returncode == 0, study.stdout[-3000:] + study.stderr[-3000:]
    out = root / "data/08_reporting/test_profile/compliance" / house.stem / "lora.tiny"
    rules = pd.read_csv(out / "rules.csv")
    assert len(rules) == 3 and rules["reused"].all()  # the study generated them: nothing regenerated
    assert (out / "compliance.html").is_file() and (out / "element_checks.csv").is_file()
    parent = [r for r in runs(uri) if r.data.tags.get("kedro.pipeline") == "compliance"]
    assert len(parent) == 1
    tags = parent[0].data.tags
    assert tags["compliance.variant"] == "lora.tiny" and tags["compliance.ifc_file"] == house.name
    assert tags["compliance.ifc_sha256"] == hashlib.sha256(house.read_bytes()).hexdigest()
    assert "compliance_fail" in parent[0].data.metrics

    planted = root / "planted.csv"
    pd.DataFrame(
        {
            "clause_id": ["door-width", "riser", "headroom", "handrail", "blank"],
            "clause": [
                "Every door shall have a width of at least 760 mm.",
                "The riser height of a stair flight shall not exceed 190 mm.",
                "Rooms shall have a ceiling height of at least 2.3 m.",
                "Handrails shall be at least 1000 mm high.",
                "",
            ],
            "rule": [
                'rule("door-width", door, require=door.width_mm >= 760)',
                'rule("riser", flight, require=flight.riser_height_mm <= 190)',
                'rule("headroom", room, require=room.ceiling_height_m >= 2.3)',
                'rule("handrail", handrail, require=handrail.height_mm >= 1000)',
                'rule("blank", door, require=door.width_mm >= 1)',
            ],
        }
    ).to_csv(planted, index=False)
    env = dict(os.environ, KEDRO_DISABLE_TELEMETRY="true", MLFLOW_DISABLE_TELEMETRY="true", MLFLOW_TRACKING_URI=uri)
    check = subprocess.run(
        [
            sys.executable,
            "-m",
            "rulelens",
            "check",
            str(house),
            "--env",
            "test",
            "--variant",
            "lora.tiny",
            "--clauses",
            str(planted),
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr[-3000:]
    assert "page:" in check.stdout and "element table:" in check.stdout
    rejected = pd.read_csv(out / "rejected_clauses.csv")
    assert rejected[["source_row", "field"]].to_dict(orient="records") == [{"source_row": 5, "field": "clause"}]
    rules = pd.read_csv(out / "rules.csv", keep_default_na=False)
    assert list(rules["clause_id"]) == ["door-width", "riser", "headroom", "handrail"] and not rules["reused"].any()
    explained = pd.read_parquet(out / "attributions.parquet")
    written = dict(zip(rules["clause_id"], rules["generated_rule"]))
    for clause_id, rows in explained.groupby("clause_id"):
        assert set(rows["target_text"]) == {written[clause_id]}  # each heatmap explains the rule the variant wrote
    checks = pd.read_csv(out / "element_checks.csv", keep_default_na=False)
    reference = checks[checks["rule_source"] == "reference"]
    assert set(reference.loc[reference["verdict"] == "fail", "name"]) == set(PLANTED) - {"RF2"}
    page = (out / "compliance.html").read_text(encoding="utf-8")
    assert all(f"Clause {cid}" in page for cid in written) and "Reference rule" in page

    not_ifc = root / "export.ifc"
    not_ifc.write_text("clause_id,clause\n1,text\n", encoding="utf-8")
    refused = subprocess.run(
        [sys.executable, "-m", "rulelens", "check", str(not_ifc), "--env", "test", "--variant", "lora.tiny"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert f"{not_ifc}: not an IFC model in STEP format" in refused.stderr
    assert not (root / "data/08_reporting/test_profile/compliance/export").exists()  # nothing written as if done
