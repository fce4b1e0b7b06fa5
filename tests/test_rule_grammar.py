"""The declared grammar of the rule format and the validator agree: every valid rule is a sentence
of the grammar, so the token masks never exclude one, and broken rules are refused by both.

Each check walks a rule token by token through llguidance's masks with SmolLM2's tokenizer (the
unit is one rule): every token must be allowed at its step and the whole must be accepted.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pandas as pd
import pytest

from rulelens.data.rule_format import ENTITIES, HELPERS, is_valid_rule, parse_rule
from rulelens.data.rule_grammar import accepts_tokens, grammar_text, grammar_tokenizer, rule_matcher

SHIPPED_RULES = Path(__file__).resolve().parents[1] / "data" / "01_raw" / "building_code_rules.csv"


def random_expression(rng: random.Random, depth: int = 0) -> str:
    """Expressions the format accepts, including forms the models never write."""
    entity = rng.choice(sorted(ENTITIES))
    leaves = [
        f"{entity}.{rng.choice(['a', 'is_b', 'width_mm', 'x2'])}",
        entity,
        str(rng.choice([0, 1, 12, 2.4, 0.05, 1_000])),
        repr(rng.choice(["text", "a(b)", "it's", 'say "x"'])),
        rng.choice(["True", "False", "None", "..."]),
        rng.choice(sorted(HELPERS)),
    ]
    if depth >= 3 or rng.random() < 0.35:
        return rng.choice(leaves)
    a, b = random_expression(rng, depth + 1), random_expression(rng, depth + 1)
    forms = [
        f"{a} and {b}",
        f"{a} or {b}",
        f"not {a}",
        f"-{a}",
        f"{a} >= {b}",
        f"{a} != {b} < {a}",
        f"{a} * {b} / {a} - {b} + {a}",
        f"{a} not in [{b}, {a}]",
        f"{a} in ({b},)",
        f"({a})",
        "()",
        "[]",
        f"{rng.choice(sorted(HELPERS))}({a}, {b})",
        f"{rng.choice(sorted(HELPERS))}({a}, key={b},)",
        f"{rng.choice(sorted(HELPERS))}()",
        f"{a}  if_not_a_keyword" if False else f"{a}",
    ]
    return rng.choice(forms)


def random_rule(rng: random.Random) -> str:
    """Rules in every form the format documents, and now and then a Python form it refuses."""
    identifiers = ['"X.1"', "'D1/AS1 2.3(b)'", '("C 4")', "'E\\\\5'", '"it\'s"']
    refused = ['"a" "b"', "r'E\\\\5'", '"""F 6"""']
    identifier = rng.choice(refused if rng.random() < 0.1 else identifiers)
    subject = rng.choice(sorted(ENTITIES))
    subject = f"({subject})" if rng.random() < 0.1 else subject
    keywords = [f"require={random_expression(rng)}"]
    if rng.random() < 0.6:
        keywords.insert(1 if rng.random() < 0.1 else 0, f"when={random_expression(rng)}")  # after: refused
    spacing = rng.choice([", ", ",", " ,  ", ",\t"])
    trailing = "," if rng.random() < 0.1 else ""
    return f"rule({identifier}{spacing}{subject}{spacing}{spacing.join(keywords)}{trailing})"


def mutations(rule: str, rng: random.Random, n: int) -> list[str]:
    """Character edits of a rule: most are invalid, the valid ones are what a model might stumble into."""
    alphabet = list("abcdefgimnoqrstuwy_. ,()[]=<>!+-*/%:'\"0123456789\t") + [
        " and ",
        " or ",
        " not ",
        " in ",
        "room",
        "when=",
        "require=",
        ", require=room.a",
        "any_of(",
        "...",
    ]
    edits = []
    for _ in range(n):
        text = rule
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(text) + 1)
            kind = rng.random()
            if kind < 0.4:
                text = text[:at] + rng.choice(alphabet) + text[at:]
            elif kind < 0.7:
                text = text[:at] + text[at + rng.randint(1, 4) :]
            else:
                text = text[:at] + rng.choice(alphabet) + text[at + 1 :]
        edits.append(text)
    return edits


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


@pytest.mark.slow
def test_every_shipped_rule_is_accepted_token_by_token(check):
    rules = pd.read_csv(SHIPPED_RULES)["rule"].tolist()
    rejected = [rule for rule in rules if not check(rule)]
    assert not rejected, rejected[:3]


@pytest.mark.slow
def test_random_valid_rules_and_valid_edits_are_accepted(check):
    """The agreement the constrained decoder's exactness rests on: valid (parse_rule) => grammar."""
    rng = random.Random(7)
    drawn = [random_rule(rng) for _ in range(800)]
    valid = [rule for rule in drawn if is_valid_rule(rule)]
    shipped = pd.read_csv(SHIPPED_RULES)["rule"].tolist()
    edits = [e for rule in rng.sample(shipped, 120) for e in mutations(rule, rng, 10) if is_valid_rule(e)]
    assert len(valid) > 300 and len(edits) > 40  # the property is exercised
    rejected = [rule for rule in valid + edits if not check(rule)]
    assert not rejected, rejected[:3]


@pytest.mark.slow
def test_decoded_token_prefixes_of_shipped_rules_are_allowed_with_any_leading_whitespace(check, smol_tokenizer):
    """Generation strips what comes before the rule (str.strip: newlines and Unicode spaces too)."""
    rules = pd.read_csv(SHIPPED_RULES)["rule"].tolist()[:20] + ['rule("A 1 – é", room, require=room.a >= 1)']
    for lead in ("", " ", "\n\t", "\u3000\xa0"):
        rejected = [rule for rule in rules if not check(lead + rule)]
        assert not rejected, (lead, rejected[:2])


@pytest.mark.parametrize(
    "text",
    [
        "rule('X', room, require=room.a > 1, when=room.b)",  # require= before when=
        "rule(r'X', room, require=room.a > 1)",  # a string prefix
        "rule('X' 'Y', room, require=room.a > 1)",  # implicit concatenation
        'rule("""X""", room, require=room.a > 1)',  # triple quotes
        "rule('X', room, require=count(room, **room) > 1)",  # ** arguments
        "rule('X',\x0croom, require=room.a > 1)",  # a form feed between tokens
        "rule('X',\rroom, require=room.a > 1)",  # a carriage return (a line break to Python)
    ],
)
def test_what_python_takes_beyond_the_documented_format_is_refused_by_both(check, text):
    with pytest.raises(ValueError):
        parse_rule(text)
    assert not check(text)


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


def test_the_generators_write_rules_in_every_documented_form():
    """random_rule covers the forms the grammar must take (so the agreement test exercises them)."""
    rng = random.Random(7)
    valid = [rule for rule in (random_rule(rng) for _ in range(800)) if is_valid_rule(rule)]
    for form in ("when=", "(", "[", "not ", " in ", "...", "None", ",)", "\\"):
        assert any(form in rule for rule in valid), form
    assert any(re.search(r"\b(" + "|".join(HELPERS) + r")\(", rule) for rule in valid)
