"""What this run was, as facts the report's prose is generated from (docs/reporting.md).

A sentence in the report that describes the run (its caveats, why it departs from the published
findings) must be true for *this* run: the shipped corpus on the CPU ladder, the NZBC data, the
GPU profile or the tiny test profile. So the prose is never fixed text: :func:`run_facts` collects
the facts once (environment, dataset, base models and how they were made, training length,
selected clauses and their strata, the tests' power) into a plain dict that is saved with the
report (``run_facts.json``), and :func:`caveats` / :func:`departure_reasons` turn facts into words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from rulelens.reporting.settings import ReportingSettings

PUBLISHED_PLATEAU_N_PARAMS = 7e9  # the published study places the quality plateau above ~7B parameters
FEW_STEPS = 100  # without a convergence record, below this many optimizer steps a variant is called briefly trained
MIN_TREND_SIZES = 4


def describe_base_model(spec: Mapping[str, Any]) -> dict[str, Any]:
    """How one size's base model was made: its name, source kind, pruning and quantised origin."""
    source = str(spec.get("source", "gguf_package"))
    keep = spec.get("keep_layers")
    if source == "hf":
        name = str(spec.get("name_or_path"))
    elif source == "tiny":
        name = "tiny random-weight Llama"
    else:
        name = str(spec.get("file", "SmolLM2-135M-Instruct.Q4_1.gguf")).removesuffix(".gguf")
    quantised = source == "gguf_package" and any(
        tag in name.upper() for tag in (".Q2", ".Q3", ".Q4", ".Q5", ".Q6", ".Q8")
    )
    return {
        "base_model": name.split(".Q")[0] if quantised else name,
        "source": source,
        "pruned": bool(keep),
        "keep_layers": keep if keep else None,
        "quantised_source": name.rsplit(".", 1)[-1] if quantised else None,
        "random_weights": source == "tiny",
    }


def size_facts(training: Mapping[str, Any], variants: pd.DataFrame) -> list[dict[str, Any]]:
    """One fact record per size of this run, smallest first, with its real parameter count."""
    from rulelens.variant_grid import Variant, variant_settings

    counts = variants.groupby("model_size")["n_params"].first()
    records = []
    for size, n_params in counts.sort_values().items():
        strategy = str(variants.loc[variants["model_size"] == size, "strategy"].iloc[0])
        spec = variant_settings({"training": dict(training)}, Variant(strategy, str(size)))["base_model"]
        records.append({"size": str(size), "n_params": int(n_params), **describe_base_model(spec)})
    return records


def _range(values: Sequence[float]) -> list[float] | None:
    finite = [float(v) for v in values if v is not None and np.isfinite(float(v))]
    return [min(finite), max(finite)] if finite else None


def training_facts(variants: pd.DataFrame) -> dict[str, Any]:
    """Training length over the variants: examples, optimizer steps and epochs (min, max)."""

    def column(name: str) -> list[float]:
        return list(variants[name]) if name in variants else []

    stopped = (
        variants["stopped_by"].dropna().astype(str).value_counts().sort_index().to_dict()
        if "stopped_by" in variants
        else {}
    )
    return {
        "train_examples": _range(column("train_examples")),
        "steps": _range(column("global_step")),
        "epochs": _range(column("epochs_trained")),
        "stopped_by": {k: int(v) for k, v in stopped.items()},
        "max_steps": _first_number(column("max_steps")),
        "capped": capped_variants(variants),
        "left_out": left_out_rows(variants),
    }


def _first_number(values: list[Any]) -> int | None:
    finite = [int(v) for v in values if v is not None and v == v]
    return max(finite) if finite else None


def capped_variants(variants: pd.DataFrame, tolerance: float = 0.05) -> list[str]:
    """Variants the step cap stopped while the validation loss had not settled: the last evaluation
    more than ``tolerance`` above the best, or the best at the very last step (still falling)."""
    if "stopped_by" not in variants:
        return []
    names = []
    for _, row in variants[variants["stopped_by"] == "step_cap"].iterrows():
        gap, best, last = row.get("val_loss_last_vs_best"), row.get("best_step"), row.get("global_step")
        still_falling = best == best and last == last and int(best) == int(last)
        if still_falling or (gap == gap and gap is not None and float(gap) > tolerance):
            names.append(f"{row['strategy']}.{row['model_size']}")
    return names


def left_out_rows(variants: pd.DataFrame) -> dict[str, int] | None:
    """Rows left out for length (the largest count over variants: sizes may tokenise differently)."""
    needed = {"train_rows", "dropped_train_examples", "validation_rows", "dropped_validation_examples", "max_length"}
    if not needed <= set(variants) or variants["train_rows"].isna().all():
        return None
    row = variants.sort_values("dropped_train_examples", ascending=False).iloc[0]
    return {
        "train": int(row["dropped_train_examples"]),
        "train_rows": int(row["train_rows"]),
        "validation": int(row["dropped_validation_examples"]),
        "validation_rows": int(row["validation_rows"]),
        "max_length": int(row["max_length"]),
    }


def selection_facts(study_clauses: pd.DataFrame, selection: Mapping[str, Any]) -> dict[str, Any]:
    """The clauses every variant was evaluated and attributed on, with their strata."""
    strata = study_clauses["stratum"].value_counts().sort_index().to_dict() if "stratum" in study_clauses else {}
    return {
        "n_clauses": int(len(study_clauses)),
        "split": selection.get("split", "test"),
        "max_words": selection.get("max_words"),
        "strata_columns": stratified_by(strata),
        "strata": {str(k): int(v) for k, v in strata.items()},
        "seed": selection.get("seed"),
    }


def faithfulness_facts(aopc: pd.DataFrame | None, study_clauses: pd.DataFrame) -> dict[str, Any]:
    """The clauses that got deletion curves and LDS, by stratum (a seeded draw over the study's strata)."""
    if aopc is None or aopc.empty or "clause_id" not in aopc:
        return {"n_clauses": 0, "strata": {}}
    ids = set(aopc["clause_id"])
    chosen = study_clauses[study_clauses["clause_id"].isin(ids)]
    strata = chosen["stratum"].value_counts().sort_index().to_dict() if "stratum" in chosen else {}
    return {"n_clauses": len(ids), "strata": {str(k): int(v) for k, v in strata.items()}}


def seed_facts(training: Mapping[str, Any], variants: pd.DataFrame) -> dict[str, Any]:
    """Training runs per strategy x size cell (the fewest of any cell) and the trainer seeds they used."""
    trainer_seed = int((training.get("trainer") or {}).get("seed", 0))
    replicates = sorted(int(s) for s in variants["seed"].unique()) if "seed" in variants else [0]
    runs = int(variants.groupby(["strategy", "model_size"])["seed"].nunique().min()) if "seed" in variants else 1
    return {"seeds": [trainer_seed + k for k in replicates], "runs_per_cell": runs}


def stratified_by(strata: Mapping[str, int]) -> list[str]:
    """The columns the sample was really stratified by, read from its stratum labels ("agency=NCC | ...").

    Configured strata that were absent or constant in the data were skipped by the selection, so
    the labels, not the configuration, say what the report may claim.
    """
    columns: list[str] = []
    for label in strata:
        for part in str(label).split(" | "):
            name = part.split("=", 1)[0] if "=" in part else None
            if name and name not in columns:
                columns.append(name)
    return columns


def power_facts(comparisons: pd.DataFrame, family: str = "focus") -> dict[str, Any]:
    """Clauses per paired strategy comparison and the smallest effect those tests could detect."""
    if comparisons.empty or "mde" not in comparisons:
        return {"n": None, "mde": None, "mde_name": None}
    rows = comparisons[(comparisons["family"] == family) & comparisons["group_a"].fillna("").astype(bool)]
    if rows.empty:
        return {"n": None, "mde": None, "mde_name": None}
    names = [str(n) for n in rows["mde_name"].dropna().unique()]
    return {"n": _range(rows["n"]), "mde": _range(rows["mde"]), "mde_name": names[0] if names else None}


def run_facts(
    variants: pd.DataFrame,
    study_clauses: pd.DataFrame,
    comparisons: pd.DataFrame,
    training: Mapping[str, Any],
    selection: Mapping[str, Any],
    reporting: ReportingSettings,
    faithfulness_aopc: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Everything the report says about the run itself, as a JSON-ready dict."""
    sizes = size_facts(training, variants)
    return {
        "environment": reporting.environment or "base",
        "dataset": reporting.dataset,
        "strategies": sorted(str(s) for s in variants["strategy"].unique()),
        "sizes": sizes,
        "n_sizes": len(sizes),
        "largest_n_params": max((s["n_params"] for s in sizes), default=0),
        "published_plateau_n_params": float(reporting.plateau.min_n_params or PUBLISHED_PLATEAU_N_PARAMS),
        "training": training_facts(variants),
        "selection": selection_facts(study_clauses, selection),
        "power": power_facts(comparisons),
        "faithfulness": faithfulness_facts(faithfulness_aopc, study_clauses),
        "seeds": seed_facts(training, variants),
    }


# --------------------------------------------------------------------------------------- words
def _count(value: float) -> str:
    return f"{value / 1e9:.1f}B" if value >= 1e9 else f"{value / 1e6:.0f}M" if value >= 1e6 else f"{value:,.0f}"


def _span(values: Sequence[float] | None, fmt: str = "{:.0f}") -> str:
    if not values:
        return "an unknown number of"
    low, high = values
    return fmt.format(low) if low == high else f"{fmt.format(low)}-{fmt.format(high)}"


def _models_sentence(facts: Mapping[str, Any]) -> str | None:
    sizes = facts["sizes"]
    if not sizes:
        return None
    if all(s["random_weights"] for s in sizes):
        return (
            "The base models are tiny random-weight models (a test profile): these numbers exercise the "
            "pipeline and say nothing about real language models."
        )
    parts = [
        f"{s['size']}: {s['base_model']}"
        + (f" pruned to {s['keep_layers']} decoder layers" if s["pruned"] else "")
        + f" ({_count(s['n_params'])} parameters)"
        for s in sizes
    ]
    return "Base models by size: " + "; ".join(parts) + "."


def caveats(facts: Mapping[str, Any]) -> list[str]:
    """Caveats that hold for this run, each generated from its facts (none is fixed text)."""
    lines = []
    models = _models_sentence(facts)
    if models:
        lines.append(models)
    sizes = facts["sizes"]
    pruned = [s for s in sizes if s["pruned"]]
    if pruned and not all(s["random_weights"] for s in sizes):
        names = sorted({s["base_model"] for s in pruned})
        lines.append(
            f"Sizes {', '.join(s['size'] for s in pruned)} are depth-pruned copies of {', '.join(names)}, so "
            "model size is confounded with pruning damage: a smaller rung is a damaged larger model, not a "
            "smaller model of the same family."
        )
    quantised = sorted({(s["base_model"], s["quantised_source"]) for s in sizes if s["quantised_source"]})
    for name, level in quantised:
        lines.append(
            f"{name} comes from a {level}-quantised GGUF file, de-quantised before training: its weights carry "
            "the quantisation's rounding error, unlike the full-precision checkpoints of the published study."
        )
    largest, published = facts["largest_n_params"], facts["published_plateau_n_params"]
    if sizes and largest < published:
        lines.append(
            f"The largest base model has {_count(largest)} parameters, below the ~{_count(published)} range "
            "where the published study saw rule quality plateau, so the plateau cannot be tested here."
        )
    if 0 < facts["n_sizes"] < MIN_TREND_SIZES:
        lines.append(
            f"{facts['n_sizes']} model size(s): a scale trend is read for its direction only; testing it needs "
            f"at least {MIN_TREND_SIZES} sizes, because the size, not the clause, is the unit of replication."
        )
    training = facts["training"]
    if training["steps"]:
        brief = not training.get("stopped_by") and training["steps"][1] < FEW_STEPS  # no convergence record
        lines.append(
            f"Each variant was trained for {_span(training['steps'])} optimizer steps on "
            f"{_span(training['train_examples'])} training examples"
            + (" (brief training: the strategies may have moved the weights too little to differ)." if brief else ".")
        )
    if training.get("capped"):
        lines.append(
            f"{', '.join(training['capped'])} reached the step cap of {training['max_steps']} steps while "
            "the validation loss was still falling: these variants had not finished learning, and their "
            "attributions describe a model part-way through fine-tuning."
        )
    left_out = training.get("left_out")
    if left_out and left_out["train"]:
        lines.append(
            f"{100 * left_out['train'] / max(left_out['train_rows'], 1):.1f}% of the training rows were left "
            f"out as longer than {left_out['max_length']} tokens, so the models saw fewer long clauses."
        )
    selection = facts["selection"]
    if selection["n_clauses"]:
        strata = selection["strata"]
        by = (
            f", stratified by {' and '.join(selection['strata_columns'])} ({len(strata)} strata)"
            if strata and selection["strata_columns"]
            else ""
        )
        short = (
            f"; only clauses of at most {selection['max_words']} words were eligible, which leans the sample "
            "towards shorter clauses"
            if selection["max_words"]
            else ""
        )
        lines.append(
            f"{selection['n_clauses']} clauses of the {selection['split']} split, a seeded random sample{by}, "
            f"were evaluated and attributed under every variant{short}."
        )
    faithfulness = facts.get("faithfulness") or {}
    if faithfulness.get("n_clauses"):
        spread = faithfulness["strata"]
        over = (
            f", a seeded draw over the strata ({', '.join(f'{k}: {v}' for k, v in spread.items())})"
            if len(spread) > 1
            else ""
        )
        lines.append(
            f"The faithfulness checks (deletion curves and LDS) ran on {faithfulness['n_clauses']} of the study "
            f"clauses under every variant{over}; their verdicts speak for these clauses."
        )
    seeds = facts.get("seeds") or {}
    if seeds.get("runs_per_cell") == 1 and len(facts.get("strategies", [])) > 1:
        lines.append(
            f"Every strategy x size cell is one training run (seed {seeds['seeds'][0]}): the strategy comparisons "
            "test these particular checkpoints over clauses, and the variation between training runs, shared by "
            "all clauses of a checkpoint, is not measured. The strategy verdicts are conditional on these "
            "checkpoints; they do not generalise to the strategies."
        )
    elif seeds.get("runs_per_cell", 1) > 1:
        lines.append(
            f"Every strategy x size cell was trained {seeds['runs_per_cell']} times (trainer seeds "
            f"{', '.join(map(str, seeds['seeds']))}): the strategy comparisons take the training run as the unit "
            "(Welch t-tests over run means, docs/statistics.md), and the clause-level tables average the runs."
        )
    power = facts["power"]
    if power["n"] and power["mde"]:
        lines.append(
            f"Planning: with {_span(power['n'])} clauses per paired strategy comparison, an effect of "
            f"{power['mde_name'] or 'd'} = {_span(power['mde'], '{:.2f}')} is detected with power 0.8 (alpha 0.05, "
            "Holm family); smaller effects need more clauses. This is the design's sensitivity, not a reading "
            "of the observed effects."
        )
    return lines


def departure_reasons(key: str, facts: Mapping[str, Any]) -> list[str]:
    """Reasons, from this run's facts, why a published finding may not show here."""
    sizes = facts["sizes"]
    reasons = []
    if sizes and all(s["random_weights"] for s in sizes):
        return ["The models are tiny random-weight test models."]
    if key == "strategy_focus":
        steps, training = facts["training"]["steps"], facts["training"]
        if steps and steps[1] < FEW_STEPS and not training.get("stopped_by"):
            reasons.append(
                f"Variants were trained for only {_span(steps)} optimizer steps, which moves the weights "
                "little and alike for every strategy."
            )
        if training.get("capped"):
            reasons.append(f"{', '.join(training['capped'])} had not finished learning at the step cap.")
        power = facts["power"]
        if power["mde"]:
            reasons.append(
                f"The paired tests could only detect effects of {power['mde_name'] or 'd'} >= "
                f"{power['mde'][0]:.2f} at this number of clauses."
            )
    elif key == "scale_categories":
        if facts["n_sizes"] < MIN_TREND_SIZES:
            reasons.append(f"{facts['n_sizes']} sizes are too few to test a trend whose unit is the size.")
        if any(s["pruned"] for s in sizes):
            reasons.append("The sizes are pruned copies of one checkpoint, not a model family.")
    elif key == "quality_plateau":
        if facts["largest_n_params"] < facts["published_plateau_n_params"]:
            reasons.append(
                f"The ladder ends at {_count(facts['largest_n_params'])} parameters, below the published "
                f"~{_count(facts['published_plateau_n_params'])} plateau."
            )
        if facts["n_sizes"] < MIN_TREND_SIZES:
            reasons.append(f"{facts['n_sizes']} sizes are too few to locate a plateau.")
    return reasons
