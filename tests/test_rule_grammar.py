"""The declared grammar of the rule format never excludes a valid rule, and says no to broken ones.

Each check walks a rule token by token through llguidance's masks with SmolLM2's tokenizer (the
unit is one rule): every token must be allowed at its step and the whole must be accepted.
"""

from __future__ import annotations

import ast
import random
import re

import pandas as pd
import pytest

from rulelens.data.rule_format import ENTITIES, HELPERS, is_valid_rule
from rulelens.data.rule_grammar import accepts_tokens, grammar_text, grammar_tokenizer, rule_matcher
from tests.test_rule_prefix import SHIPPED_RULES, mutations, random_rule


@pytest.fixture(scope="module")
def check(smol_tokenizer):
    lltok = grammar_tokenizer(smol_tokenizer)

    def accepted(rule: str) -> bool:
        ids = smol_tokenizer(rule, add_special_tokens=False)["input_ids"]
        return accepts_tokens(rule_matcher(lltok), ids)

    return accepted


def _alternatives(rule_name: str) -> set[str]:
    line = next(line for line in grammar_text().splitlines() if line.startswith(f"{rule_name} ::="))
    return set(re.findall(r'"([a-z_]+)"', line))


def test_the_grammar_names_exactly_the_vocabulary():
    assert _alternatives("entity") == set(ENTITIES)
    assert _alternatives("helper") == set(HELPERS)


def test_every_shipped_rule_is_accepted_token_by_token(check):
    rules = pd.read_csv(SHIPPED_RULES)["rule"].tolist()
    rejected = [rule for rule in rules if not check(rule)]
    assert not rejected, rejected[:3]


def documented_form(rule: str) -> bool:
    """Valid, and within the documented format: when= before require=, plain string literals.

    parse_rule, being Python's parser, also takes require= before when=, prefixed strings (r'..')
    and implicit concatenation ("a" "b"); the grammar leaves those out (docs/rule_format.md).
    """
    if not is_valid_rule(rule):
        return False
    call = ast.parse(rule.strip(), mode="eval").body
    if [kw.arg for kw in call.keywords][-1] != "require":
        return False
    strings = [n for n in ast.walk(call) if isinstance(n, ast.Constant) and isinstance(n.value, (str, bytes))]
    quoted = re.findall(r"""(?<![\w])([rRbBuU]{0,2})(["'])""", rule)
    return not any(prefix for prefix, _ in quoted) and not re.search(r"""["']\s*["']\S""", rule) and bool(strings)


def test_random_valid_rules_and_valid_edits_are_accepted(check):
    rng = random.Random(7)
    valid = [rule for rule in (random_rule(rng) for _ in range(600)) if documented_form(rule)]
    shipped = pd.read_csv(SHIPPED_RULES)["rule"].tolist()
    edits = [e for rule in rng.sample(shipped, 80) for e in mutations(rule, rng, 10) if documented_form(e)]
    assert len(valid) > 100 and len(edits) > 20  # the property is exercised
    rejected = [rule for rule in valid + edits if not check(rule)]
    assert not rejected, rejected[:3]


@pytest.mark.parametrize(
    "text",
    [
        'rule("X.1", roomz, require=room.a_m >= 1)',  # not an entity
        'rule("X.1", room, require=room.a.b >= 1)',  # attribute of an attribute
        'rule("X.1", room, require=print(room.a))',  # not a helper
        'rule("X.1", room, require=room.a_m >= 1; x)',  # not Python of the format
        'rule("X.1", room, limit=room.a_m >= 1)',  # only when= and require=
        "rule('X.1', room)",  # no requirement
    ],
)
def test_broken_rules_are_refused(check, text):
    assert not is_valid_rule(text)
    assert not check(text)


def test_the_rule_format_page_shows_the_grammar_file():
    from tests.project_copy import PROJECT

    page = (PROJECT / "docs" / "rule_format.md").read_text(encoding="utf-8")
    grammar = grammar_text()
    rules = grammar[grammar.index("root ::=") : grammar.index("# ---- the vocabulary")].rstrip()
    assert f"```\n{rules}\n```" in page, "copy src/rulelens/data/grammars/rulelens.gbnf into docs/rule_format.md"
