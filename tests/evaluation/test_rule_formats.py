"""Rule formats declared in conf: grammar + validator, one object for generation and scoring."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from rulelens.data.rule_formats import SHIPPED, RuleFormat, rule_format
from rulelens.data.rule_grammar import grammar_tokenizer, rule_matcher
from rulelens.evaluation import evaluate_model
from rulelens.evaluation.metrics import score_pairs, validity
from tests.conf_settings import conf_generation, conf_metrics
from tests.project_copy import PROJECT

YES_NO_GRAMMAR = 'root ::= ("yes" | "no") [ \\t]*\n'


def is_yes_or_no(text: str) -> bool:
    """The toy format's validator (imported by its path, as a user's would be)."""
    return text.strip() in ("yes", "no")


@pytest.fixture
def yes_no(tmp_path):
    grammar = tmp_path / "yes_no.gbnf"
    grammar.write_text(YES_NO_GRAMMAR, encoding="utf-8")
    declared = {"yes_no": {"grammar": str(grammar), "validator": f"{__name__}:is_yes_or_no"}}
    return rule_format({"rule_format": "yes_no", "rule_formats": declared})


def shipped_evaluation() -> dict:
    return yaml.safe_load((PROJECT / "conf" / "base" / "parameters_evaluation.yml").read_text())["evaluation"]


@pytest.mark.parametrize("name", ["rulelens", "lrml"])
def test_the_shipped_formats_are_declared_with_a_grammar_llguidance_compiles(name, smol_tokenizer):
    evaluation = dict(shipped_evaluation(), rule_format=name)
    declared = rule_format(evaluation)
    assert declared == SHIPPED[name]  # conf declares what library callers get by name
    matcher = rule_matcher(grammar_tokenizer(smol_tokenizer), declared.name, declared.grammar_text)
    assert not matcher.is_error()
    assert validity("if(a),then(obligation(b))", declared) == (name == "lrml")


def test_a_brought_format_constrains_generation_and_decides_validity(yes_no, tiny_llama, smol_tokenizer):
    model = tiny_llama(seed=3)  # random weights: its own greedy text is never "yes" or "no"
    frame = pd.DataFrame({"clause": ["A.1 one.", "B.2 two.", "C.3 three."], "rule": ["yes", "no", "maybe"]})
    generation = conf_generation(constrain=True, max_new_tokens=6, batch_size=3, balanced_call=None)
    scoring = conf_metrics(embedding_model=None, n_resamples=50)
    per_clause, metrics, _ = evaluate_model(
        model,
        smol_tokenizer,
        frame,
        generation_params=generation,
        metric_params=scoring,
        rule_format=yes_no,
    )
    assert set(per_clause["generated_rule"].str.strip()) <= {"yes", "no"}
    assert per_clause["valid"].all()
    assert (per_clause["constrained_steps"] > 0).all() and not per_clause["valid_unconstrained"].any()
    unconstrained, _, _ = evaluate_model(
        model,
        smol_tokenizer,
        frame,
        generation_params=dict(generation, constrain=False),
        metric_params=scoring,
        rule_format=yes_no,
    )
    assert not unconstrained["valid"].any()  # the same model without the grammar writes neither
    scores = score_pairs(["yes", " no ", "rule('x')"], ["a", "b", "c"], yes_no, scoring)
    assert scores["valid"].tolist() == [True, True, False]


def test_declaration_errors_name_the_format_and_what_is_wrong(tmp_path):
    grammar = tmp_path / "g.gbnf"
    grammar.write_text(YES_NO_GRAMMAR, encoding="utf-8")
    with pytest.raises(ValueError, match="'mine' is not declared in evaluation.rule_formats"):
        rule_format({"rule_format": "mine", "rule_formats": {"other": {}}})
    with pytest.raises(ValueError, match=r"missing key\(s\) evaluation.rule_formats.mine.validator"):
        rule_format({"rule_format": "mine", "rule_formats": {"mine": {"grammar": str(grammar)}}})
    with pytest.raises(ValueError, match="cannot import validator 'nowhere.at_all:check'"):
        _ = RuleFormat("mine", str(grammar), "nowhere.at_all:check").is_valid
    with pytest.raises(ValueError, match="must be 'package.module:function'"):
        _ = RuleFormat("mine", str(grammar), "just_a_name").is_valid
    with pytest.raises(ValueError, match="neither a shipped grammar"):
        _ = RuleFormat("mine", str(tmp_path / "missing.gbnf"), f"{__name__}:is_yes_or_no").grammar_text
