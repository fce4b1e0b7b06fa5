"""The NZBC environment end to end on the tiny profile: 40 rows of the shared NZBC LRML file.

A throwaway project copy gets an environment ``nzbc_tiny``: conf/nzbc's settings (column
mapping, split values, LRML rule format, LRML generation settings, prompt, reporting metrics)
merged over conf/test's tiny models and selection, with ``raw_clauses`` pointing at a temporary
CSV of 40 rows of ``../shared/datasets/nzbc-lrml/clauses.csv`` (never copied into the
repository). ``kedro run --env nzbc_tiny`` then runs every pipeline: data processing, training,
evaluation, attribution and reporting. Skipped when the shared dataset is absent.
"""

from __future__ import annotations

import json
import math
import shutil

import pandas as pd
import pytest
import yaml

from rulelens.evaluation.metrics import LRML_METRICS, LRML_UNCONSTRAINED_METRICS
from tests.project_copy import NZBC_CSV, copy_project, kedro

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not NZBC_CSV.is_file(), reason="shared NZBC LRML dataset not available"),
]

ENV = "nzbc_tiny"
DATASET = "nzbc_tiny"


def merge(base: dict, override: dict) -> dict:
    """Deep merge (override wins), as Kedro's soft merge of an environment over base."""
    merged = dict(base)
    for key, value in override.items():
        merged[key] = (
            merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
        )
    return merged


def sample_rows(n_per_split: dict[int, int]) -> pd.DataFrame:
    """The shortest clauses of each split (cheap on the tiny models), in file order."""
    table = pd.read_csv(NZBC_CSV, dtype=str, keep_default_na=False)
    table["length"] = table["text"].str.len() + table["lrml"].str.len()
    picked = [table[table["random_split"] == str(split)].nsmallest(n, "length") for split, n in n_per_split.items()]
    return pd.concat(picked).sort_index().drop(columns="length")


def make_env(root, csv_path) -> None:
    """conf/nzbc_tiny = conf/test (tiny models) + conf/nzbc (NZBC data and LRML settings)."""
    conf = root / "conf"
    target = conf / ENV
    target.mkdir()
    names = {p.name for p in (conf / "test").glob("*.yml")} | {p.name for p in (conf / "nzbc").glob("*.yml")}
    for name in sorted(names):
        merged: dict = {}
        for env in ("test", "nzbc"):
            path = conf / env / name
            if path.is_file():
                merged = merge(merged, yaml.safe_load(path.read_text(encoding="utf-8")) or {})
        if name == "globals.yml":
            merged.update(dataset=DATASET, environment=ENV, raw_clauses={"filepath": str(csv_path)})
        if name == "parameters_data_processing.yml":  # the tiny profile's 3 clauses, not the NZBC study's 24
            test_selection = yaml.safe_load((conf / "test" / name).read_text(encoding="utf-8"))
            merged = merge(merged, test_selection)
        if name == "parameters_evaluation.yml":  # short outputs keep the tiny run fast
            merged["evaluation"]["generation"]["max_new_tokens"] = 40
        (target / name).write_text(yaml.safe_dump(merged, sort_keys=False), encoding="utf-8")
    # a smaller grid than conf/test (two strategies, two sizes) keeps the run short
    (target / "variants.yml").write_text("strategies: [fft, lora]\nsizes: [tiny, tiny2]\n", encoding="utf-8")


@pytest.fixture(scope="module")
def nzbc_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nzbc_env")
    root = copy_project(folder)
    csv_path = folder / "nzbc_40.csv"
    sample_rows({1: 28, 2: 4, 3: 8}).to_csv(csv_path, index=False)
    make_env(root, csv_path)
    uri = f"sqlite:///{root / 'mlflow_nzbc.db'}"
    result = kedro(root, "run", "--env", ENV, env={"MLFLOW_TRACKING_URI": uri})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    yield root, uri
    shutil.rmtree(folder, ignore_errors=True)


def test_the_merged_env_keeps_nzbc_settings(nzbc_run):
    root, _ = nzbc_run
    evaluation = yaml.safe_load((root / "conf" / ENV / "parameters_evaluation.yml").read_text())["evaluation"]
    assert evaluation["rule_format"] == "lrml" and evaluation["generation"]["balanced_call"] is None
    training = yaml.safe_load((root / "conf" / ENV / "parameters_training.yml").read_text())["training"]
    assert training["trainer"]["max_length_cap"] == 512 and "tiny" in training["sizes"]


def test_per_clause_lrml_columns_are_finite(nzbc_run):
    root, _ = nzbc_run
    out = root / "data" / "07_model_output" / DATASET
    for variant in ("fft/tiny", "lora/tiny", "fft/tiny2", "lora/tiny2", "zero_shot/tiny", "zero_shot/tiny2"):
        rules = pd.read_parquet(out / variant / "generated_rules.parquet")
        assert len(rules) == 3, variant
        for column in ("lrml_precision", "lrml_recall", "lrml_clause_f1", "lrml_published_clause_f1"):
            assert rules[column].between(0, 1).all(), (variant, column)
        assert rules["reference_rule"].str.startswith(("if(", "If(", "obligation(", "and(")).any()
        # conf/nzbc regenerates the rules the constraint changed: both are scored
        assert rules["unconstrained_rule"].notna().all(), variant
        unchanged = rules["constrained_steps"] == 0
        assert (rules.loc[unchanged, "unconstrained_rule"] == rules.loc[unchanged, "generated_rule"]).all()
        assert rules["lrml_published_clause_f1_unconstrained"].between(0, 1).all(), variant
        metrics = json.loads((out / variant / "evaluation_metrics.json").read_text())
        for name in (*LRML_METRICS, *LRML_UNCONSTRAINED_METRICS):
            assert math.isfinite(metrics[name]) and 0 <= metrics[name] <= 1, (variant, name)
            assert metrics[f"{name}_ci_low"] <= metrics[name] + 1e-9 <= metrics[f"{name}_ci_high"] + 2e-9


def test_quality_summary_report_and_mlflow_carry_the_lrml_score(nzbc_run):
    root, uri = nzbc_run
    reporting = root / "data" / "08_reporting" / DATASET
    quality = pd.read_csv(reporting / "quality_summary.csv")
    assert set(LRML_METRICS) <= set(quality["metric"])
    lrml = quality[quality["metric"].isin(LRML_METRICS)]
    assert lrml["mean"].map(math.isfinite).all() and (lrml["ci_low"] <= lrml["mean"] + 1e-9).all()
    report = (reporting / "study_report.html").read_text(encoding="utf-8")
    assert "lrml_f1_published" in report and "Published results on the NZBC benchmark" in report
    assert "lrml_f1_published_unconstrained" in report and set(LRML_UNCONSTRAINED_METRICS) <= set(quality["metric"])

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("rulelens")
    children = [
        r
        for r in client.search_runs([experiment.experiment_id], max_results=100)
        if r.data.tags.get("rulelens.level") == "variant"
    ]
    assert len(children) == 4
    for child in children:
        assert set(LRML_METRICS) <= set(child.data.metrics), child.info.run_name


def test_lrml_rules_are_run_where_the_reference_executes(nzbc_run):
    """The suites are built from the translatable references; the others are named, not dropped."""
    from rulelens.evaluation.lrml_exec import executable

    root, _ = nzbc_run
    summary = pd.read_csv(root / "data" / "08_reporting" / DATASET / "rule_suite_summary.csv")
    study = pd.read_parquet(root / "data" / "05_model_input" / DATASET / "study_clauses.parquet")
    runs = study["rule"].map(executable)
    assert list(summary["n_cases"] > 0) == list(runs)
    assert summary.loc[~runs.to_numpy(), "note"].fillna("").astype(str).str.contains("not executable").all()
    rules = pd.read_parquet(root / "data" / "07_model_output" / DATASET / "fft" / "tiny" / "generated_rules.parquet")
    assert {"exec_match", "equivalence", "diagnosis"} <= set(rules.columns)
    assert rules.loc[~runs.to_numpy(), "exec_match"].isna().all()
