"""Consistency checks between clauses and their rules in the project's rule format."""

from __future__ import annotations

import pandas as pd

from rulelens.data.rule_format import RuleSyntaxError, missing_numbers, parse_rule
from rulelens.words import RULE_IDENTIFIER, split_words


def leading_identifier(clause: str) -> str:
    """The clause's leading identifier text (agency code + number), as written."""
    words = split_words(clause)
    leading = []
    for word in words:
        if word.category != RULE_IDENTIFIER:
            break
        leading.append(word)
    if not leading:
        return ""
    return clause[leading[0].start : leading[-1].end]


def rule_problems(clause: str, rule: str) -> list[str]:
    """Why a (clause, rule) pair breaks the format's correspondence rules; empty if none."""
    try:
        parsed = parse_rule(rule)
    except RuleSyntaxError as error:
        return [f"rule does not parse: {error}"]
    problems = []
    identifier = leading_identifier(clause)
    if not identifier:
        problems.append("clause does not begin with a rule identifier")
    elif parsed.identifier != identifier:
        problems.append(f"rule identifier {parsed.identifier!r} != clause identifier {identifier!r}")
    missing = missing_numbers(clause, rule)
    if missing:
        problems.append(f"rule lacks clause number(s) {missing}")
    return problems


def corpus_problems(
    frame: pd.DataFrame, clause_column: str = "clause", rule_column: str = "rule"
) -> list[tuple[int, str]]:
    """(row number, message) for every problem in a clause/rule table (row 1 = first data row)."""
    found = []
    for row, (clause, rule) in enumerate(zip(frame[clause_column], frame[rule_column]), start=1):
        for message in rule_problems(clause, rule):
            found.append((row, message))
    return found
