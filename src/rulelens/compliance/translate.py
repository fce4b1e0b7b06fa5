"""The variant's rules for the checked clauses and the attributions that explain them.

Both reuse the study's outputs where they describe the same thing: a study rule is reused when
the clause id and the clause text match (the study generated it with the same decoding settings
from conf), a study attribution when, in addition, it explains the very rule the variant wrote
(its target text). Everything else is computed with the variant, constrained decoding on.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd

logger = logging.getLogger(__name__)

RULE_COLUMNS = ["clause_id", "clause", "reference_rule", "generated_rule", "valid", "stop_reason", "reused"]
EXPLANATION_COLUMNS = ["clause_id", "word_index", "word", "score", "target_text", "reused"]  # at least these
EXPLAINED_TARGET = "variant rule"  # the heatmap's target: the rule the variant wrote, teacher-forced


def read_back(rules: pd.DataFrame) -> pd.DataFrame:
    """The rule table as saved (CSV): empty texts come back as NaN; make them "" again, ids text."""
    text = ["clause_id", "clause", "reference_rule", "generated_rule", "stop_reason"]
    return rules.assign(**{c: rules[c].fillna("").astype(str) for c in text if c in rules})


def study_rules_by_clause(study_rules: pd.DataFrame | None) -> dict[tuple[str, str], str]:
    """(clause id, clause text) -> the rule the study generated for it."""
    if study_rules is None or study_rules.empty:
        return {}
    return {
        (str(cid), str(clause)): str(rule)
        for cid, clause, rule in zip(study_rules["clause_id"], study_rules["clause"], study_rules["generated_rule"])
    }


def write_rules(
    checkpoint: Any,
    clauses: pd.DataFrame,
    study_rules: pd.DataFrame | None,
    evaluation: Mapping[str, Any],
    prompt: Mapping[str, Any],
    reuse: bool = True,
) -> pd.DataFrame:
    """One rule per clause (columns ``RULE_COLUMNS``): the study's where it matches, else generated now."""
    from rulelens.data.rule_formats import rule_format
    from rulelens.evaluation.generation import GenerationParams, generate_rules
    from rulelens.prompts import PromptStyle

    fmt = rule_format(evaluation)
    # the study's decoding settings (every key of evaluation.generation, from conf), read before the model loads
    params = GenerationParams.from_params(evaluation["generation"])
    style = PromptStyle.from_params(prompt)
    known = study_rules_by_clause(study_rules) if reuse else {}
    keys = [(str(c), str(t)) for c, t in zip(clauses["clause_id"], clauses["clause"])]
    todo = [i for i, key in enumerate(keys) if key not in known]
    generated: dict[int, tuple[str, str]] = {}
    if todo:
        result = generate_rules(
            checkpoint.model,
            checkpoint.tokenizer,
            [keys[i][1] for i in todo],
            style=style,
            params=params,
            rule_format=fmt,
        )
        generated = {i: (item.text, item.stop_reason) for i, item in zip(todo, result.items)}
    rows = []
    for i, (key, reference) in enumerate(zip(keys, clauses["rule"])):
        text, reason = generated.get(i, (known.get(key, ""), "reused from the study"))
        rows.append(
            {
                "clause_id": key[0],
                "clause": key[1],
                "reference_rule": "" if pd.isna(reference) else str(reference),
                "generated_rule": text,
                "valid": bool(fmt.is_valid(text)),
                "stop_reason": reason,
                "reused": i not in generated,
            }
        )
    logger.info("compliance: %d rules reused from the study, %d generated", len(rows) - len(todo), len(todo))
    return pd.DataFrame(rows, columns=RULE_COLUMNS)


def study_attribution_for(study_attributions: pd.DataFrame | None, clause_id: str, clause: str, rule: str):
    """The study's attribution rows of this clause when they explain exactly ``rule`` (else None)."""
    if study_attributions is None or study_attributions.empty or "target_text" not in study_attributions:
        return None
    rows = study_attributions[study_attributions["clause_id"].astype(str) == clause_id]
    if rows.empty or str(rows["target_text"].iloc[0]) != rule:
        return None
    spans_match = all(
        clause[int(start) : int(end)] == str(word)
        for start, end, word in zip(rows["char_start"], rows["char_end"], rows["word"])
    )
    return rows if spans_match else None  # the same id on another clause's text is not the same clause


def explain_rules(
    checkpoint: Any,
    rules: pd.DataFrame,
    study_attributions: pd.DataFrame | None,
    attribution: Mapping[str, Any],
    prompt: Mapping[str, Any],
    reuse: bool = True,
) -> pd.DataFrame:
    """Word attributions of every clause for the rule the variant wrote (the attribution table's columns)."""
    from rulelens.attribution import attribute_clauses
    from rulelens.attribution.result import saved_attributions_frame
    from rulelens.attribution.settings import AttributionSettings
    from rulelens.prompts import PromptStyle

    tables, todo = [], []
    for row in rules.itertuples(index=False):
        if not row.generated_rule.strip():
            continue  # nothing to explain
        reused = study_attribution_for(study_attributions, row.clause_id, row.clause, row.generated_rule)
        if reuse and reused is not None:
            tables.append(reused.assign(reused=True))
        else:
            todo.append(row)
    if todo:
        settings = AttributionSettings.from_params(attribution)
        options = {**settings.engine_options(), "target_mode": "reference"}  # teacher-forced on the given rule
        results = attribute_clauses(
            checkpoint.model,
            checkpoint.tokenizer,
            [r.clause for r in todo],
            [r.generated_rule for r in todo],
            clause_ids=[r.clause_id for r in todo],
            style=PromptStyle.from_params(prompt),
            **{k: v for k, v in options.items() if k != "progress"},
            progress=settings.progress,
        )
        results = [dataclasses.replace(r, target_mode=EXPLAINED_TARGET) for r in results]
        tables.append(saved_attributions_frame(results).assign(reused=False))
    logger.info("compliance: %d explanations reused from the study, %d computed", len(tables) - bool(todo), len(todo))
    if not tables:
        return pd.DataFrame(columns=EXPLANATION_COLUMNS)
    frame = pd.concat(tables, ignore_index=True)
    frame["clause_id"] = frame["clause_id"].astype(str)
    return frame
