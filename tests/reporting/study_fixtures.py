"""Small constructed per-variant tables, in the schemas the earlier stages save, with planted effects.

``planted=True``:
- FFT puts most attribution on one word; LoRA and QLoRA spread it (FFT more focused);
- numerical constraints and rule identifiers gain mass with size at the expense of "other" words;
- quality rises from xs to s and stays flat at m (a plateau at s);
- deleting the top-attributed words hurts far more than deleting random words.
- the LDS of the attributions is well above that of the same attributions permuted over the words.
``planted=False``: every strategy and size is drawn from the same distributions (no effect).

``sizes`` picks the ladder: the default three sizes (too few to test a trend or a plateau) or
:data:`FIVE_SIZES`, which reaches past the published ~7B plateau range.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

STRATEGIES = ("fft", "lora", "qlora")
SIZES = {"xs": 1_000_000, "s": 10_000_000, "m": 100_000_000}
FIVE_SIZES = {"xs": 1_000_000, "s": 10_000_000, "m": 100_000_000, "l": 1_000_000_000, "xl": 10_000_000_000}
QUALITY_LEVELS = {"xs": 0.40, "s": 0.60, "m": 0.80, "l": 0.80, "xl": 0.80}  # rises, then flat from m
WORDS = [
    ("R.1.2", "rule_identifier"),
    ("The", "other"),
    ("door", "domain_entity"),
    ("shall", "deontic"),
    ("be", "other"),
    ("at", "other"),
    ("least", "numerical_constraint"),
    ("900", "numerical_constraint"),
    ("mm", "numerical_constraint"),
    ("wide", "other"),
]
CLAUSE = " ".join(w for w, _ in WORDS) + "."
N_CLAUSES = 10


def clause_ids() -> list[str]:
    return [f"c{i:02d}" for i in range(N_CLAUSES)]


def study_clauses() -> pd.DataFrame:
    agency = ["NCC" if i % 2 else "IBC" for i in range(N_CLAUSES)]
    return pd.DataFrame(
        {
            "clause_id": clause_ids(),
            "clause": CLAUSE,
            "rule": "rule('R.1.2', door, require=width >= 900)",
            "agency": agency,
            "quantitative": True,
            "n_words": len(WORDS),
            "stratum": [f"agency={a} | quantitative=True" for a in agency],
        }
    )


def _scores(rng, strategy: str, size: str, planted: bool) -> np.ndarray:
    base = rng.uniform(0.5, 1.5, len(WORDS))
    if not planted:
        return base
    weights = 1.0 + 0.75 * list(FIVE_SIZES).index(size)  # linear in ln(parameters): 10x per size step
    categories = np.array([c for _, c in WORDS])
    base[np.isin(categories, ["numerical_constraint", "rule_identifier"])] *= weights
    base[categories == "other"] /= weights
    if strategy == "fft":
        base[7] *= 5.0  # one word ("900") carries most of the mass
    return base


def attributions(strategy: str, size: str, planted: bool = True, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng([seed, STRATEGIES.index(strategy), list(FIVE_SIZES).index(size)])
    rows = []
    for clause_id in clause_ids():
        scores = _scores(rng, strategy, size, planted)
        shares = np.abs(scores) / np.abs(scores).sum()
        start = 0
        for index, ((word, category), score, share) in enumerate(zip(WORDS, scores, shares)):
            rows.append(
                dict(
                    variant=f"{strategy}.{size}",
                    clause_id=clause_id,
                    word_index=index,
                    word=word,
                    char_start=start,
                    char_end=start + len(word),
                    category=category,
                    score=float(score),
                    share=float(share),
                    target_mode="reference",
                    operator="delete",
                    full_score=-20.0,
                    target_text="rule(...)",
                )
            )
            start += len(word) + 1
    return pd.DataFrame(rows)


def generated_rules(strategy: str, size: str, planted: bool = True, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng([seed, 7, len(strategy), list(FIVE_SIZES).index(size)])
    level = QUALITY_LEVELS[size] if planted else 0.6
    if strategy == "zero_shot":
        level -= 0.2
    similarity = np.clip(level + rng.normal(0, 0.02, N_CLAUSES), 0, 1)
    return pd.DataFrame(
        {
            "clause_id": clause_ids(),
            "clause": CLAUSE,
            "generated_rule": "rule(...)",
            "reference_rule": "rule(...)",
            "semantic_similarity": similarity,
            "chrf": similarity * 0.8,
            "rouge_l": similarity * 0.9,
            "exact_match": 0.0,
            "valid": rng.random(N_CLAUSES) < similarity,
            "generated_tokens": 20,
            "strategy": strategy,
            "model_size": size,
            **execution_columns(rng, similarity),
        }
    )


def execution_columns(rng, similarity: np.ndarray) -> dict:
    """Rule quality by execution, as the evaluation stage writes it: better-looking rules run right more often."""
    match = rng.random(similarity.size) < similarity - 0.3
    return {
        "exec_match": match,
        "exec_agreement": np.where(match, 1.0, rng.uniform(0, 0.9, similarity.size)),
        "equivalence": np.where(match, "proved_equivalent", "proved_different"),
        "counterexample": "",
        "diagnosis": np.where(match, "", "wrong constant"),
        "constants_right": (rng.random(similarity.size) < similarity).astype(float),
        "conditions_right": (rng.random(similarity.size) < 0.5).astype(float),
    }


def suite_summary() -> pd.DataFrame:
    """rule_suite_summary of the evaluation stage: every clause's suite tells apart 18 of 18 neighbours."""
    from rulelens.evaluation.execution import SUITE_SUMMARY_COLUMNS

    return pd.DataFrame([[c, 5, 20, 400, 18, 18, 1.0, ""] for c in clause_ids()], columns=SUITE_SUMMARY_COLUMNS)


def faithfulness_curves(strategy: str, size: str, planted: bool = True, seed: int = 0, max_k: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng([seed, 11, STRATEGIES.index(strategy), list(FIVE_SIZES).index(size)])
    rows = []
    for clause_id in clause_ids():
        for k in range(1, max_k + 1):
            attribution_drop = (3.0 if planted else 1.0) * k + rng.normal(0, 0.1)
            random_drop = 1.0 * k + rng.normal(0, 0.1)
            for order, comp, suff in (
                ("attribution", attribution_drop, 5 - attribution_drop / 2),
                ("random", random_drop, 5 - random_drop / 2),
            ):
                rows.append(
                    dict(
                        variant=f"{strategy}.{size}",
                        clause_id=clause_id,
                        n_words=len(WORDS),
                        max_k=max_k,
                        full_score=-20.0,
                        k=k,
                        order=order,
                        comprehensiveness=comp,
                        sufficiency=suff,
                        comprehensiveness_std=0.0,
                        sufficiency_std=0.0,
                    )
                )
    return pd.DataFrame(rows)


def lds_scores(strategy: str, size: str, planted: bool = True, seed: int = 0) -> pd.DataFrame:
    """Per-clause LDS in the attribution stage's schema.

    The permutation baseline is high (~0.7: the kept-count part of the LDS that any mostly positive
    attribution gets); planted attributions score ~0.2 above it, otherwise the same on average.
    """
    rng = np.random.default_rng([seed, 13, STRATEGIES.index(strategy), list(FIVE_SIZES).index(size)])
    permuted = 0.7 + rng.normal(0, 0.05, N_CLAUSES)
    lds = permuted + (0.2 if planted else 0.0) + rng.normal(0, 0.1, N_CLAUSES)
    return pd.DataFrame(
        {
            "variant": f"{strategy}.{size}",
            "clause_id": clause_ids(),
            "n_words": len(WORDS),
            "n_masks": 32,
            "keep_prob": 0.5,
            "lds": lds,
            "lds_permuted": permuted,
            "full_score": -20.0,
        }
    )


def training_metrics(strategy: str, size: str, sizes: dict = SIZES) -> dict:
    n = sizes[size]
    trainable = n if strategy == "fft" else n // 50
    return {
        "base_params": n,
        "total_params": n + (0 if strategy == "fft" else trainable),
        "trainable_params": trainable,
        "train_examples": 96,
        "global_step": 16,
        "epochs_trained": 1.0,
        "max_steps": 24,
        "stopped_by": "early_stopping",
        "best_step": 8,
        "best_val_loss": 1.1,
        "val_loss_last_vs_best": 0.02,
        "val_curve": "0:2.0000 4:1.4000 8:1.1000 12:1.1100 16:1.1220",
        "train_rows": 344,
        "dropped_train_examples": 17,
        "validation_rows": 43,
        "dropped_validation_examples": 2,
        "max_length": 215,
        "train_loss_last": 1.0,
        "val_loss_first": 2.0,
        "val_loss_last": 1.122,
        "strategy": strategy,
        "model_size": size,
    }


def capped_training_metrics(strategy: str, size: str, sizes: dict = SIZES) -> dict:
    """A variant the step cap stopped while its validation loss was still falling."""
    return {
        **training_metrics(strategy, size, sizes),
        "global_step": 24,
        "stopped_by": "step_cap",
        "best_step": 24,
        "best_val_loss": 1.3,
        "val_loss_last_vs_best": 0.0,
        "val_loss_last": 1.3,
        "val_curve": "0:2.0000 8:1.7000 16:1.5000 24:1.3000",
    }


def variant_names(sizes: dict = SIZES) -> list[str]:
    return [f"{s}.{z}" for s in STRATEGIES for z in sizes]


def cpu_ladder_training(sizes: dict = SIZES) -> dict:
    """Training parameters shaped like conf/base: SmolLM2 from its GGUF package, smaller rungs depth-pruned."""
    names = list(sizes)
    specs = {
        name: {"base_model": {"source": "gguf_package", "keep_layers": 8 * (i + 2), "layer_selection": "ends"}}
        for i, name in enumerate(names[:-1])
    }
    specs[names[-1]] = {"base_model": {"source": "gguf_package"}}
    return {"sizes": specs, "strategies": {s: {} for s in STRATEGIES}, "trainer": {}}


def gpu_family_training(sizes: dict = FIVE_SIZES) -> dict:
    """Training parameters shaped like conf/gpu: one model family from the hub, nothing pruned."""
    specs = {name: {"base_model": {"source": "hf", "name_or_path": f"Org/Family-{name}"}} for name in sizes}
    return {"sizes": specs, "strategies": {s: {} for s in STRATEGIES}, "trainer": {}}


SELECTION = {
    "selection": {
        "split": "test",
        "n_clauses": N_CLAUSES,
        "max_words": 32,
        "seed": 7,
        "strata": ["agency", "quantitative"],
    }
}


def study_inputs(planted: bool = True, seed: int = 0, sizes: dict = SIZES) -> dict:
    """Everything the reporting pipeline reads, keyed like the catalog (per-variant lists in name order)."""
    names = variant_names(sizes)
    split = [n.split(".") for n in names]
    return {
        "names": names,
        "training_metrics": [training_metrics(s, z, sizes) for s, z in split],
        "attributions": [attributions(s, z, planted, seed) for s, z in split],
        "generated_rules": [generated_rules(s, z, planted, seed) for s, z in split]
        + [generated_rules("zero_shot", z, planted, seed) for z in sizes],
        "faithfulness_curves": [faithfulness_curves(s, z, planted, seed) for s, z in split],
        "lds_scores": [lds_scores(s, z, planted, seed) for s, z in split],
        "study_clauses": study_clauses(),
        "rule_suite_summary": suite_summary(),
        "training": cpu_ladder_training(sizes),
        "data_processing": SELECTION,
    }
